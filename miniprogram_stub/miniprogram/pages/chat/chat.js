// 小助手: ask in plain words; answers come with service cards (办理 opens the application),
// quick replies, and the 12345 hotline when a question is not a government service.
const api = require('../../utils/api')
const config = require('../../utils/config')
const format = require('../../utils/format')

let nextId = 1

function botMessage(body) {
  return {
    id: 'm' + nextId++,
    from: 'bot',
    text: body.reply,
    action: body.action,
    quickReplies: body.quick_replies || [],
    cards: (body.cards || []).map((card) =>
      Object.assign({}, card, {
        limit: format.timeLimit(card.promised_time_limit_days),
        visitsText: card.max_visits === undefined ? '' : format.visits(card.max_visits),
        requiredMaterials: (card.materials || []).filter((m) => m.required).map((m) => m.name).join('、'),
      }),
    ),
  }
}

Page({
  data: {
    elder: false,
    messages: [],
    input: '',
    sending: false,
    sessionId: null,
    lastCode: '',
    bottom: '',
  },

  onLoad() {
    this.setData({
      messages: [
        {
          id: 'm' + nextId++,
          from: 'bot',
          text: '您好，我是省事小助手。用一句话告诉我您想办什么事，我帮您找到对应的事项和办事指南。',
          quickReplies: ['孩子刚出生，户口怎么上', '下个月去香港，通行证要续签', '社保怎么转到广州'],
          cards: [],
        },
      ],
    })
  },

  onShow() {
    this.setData({ elder: getApp().globalData.elder })
  },

  onInput(e) {
    this.setData({ input: e.detail.value })
  },

  onSend() {
    this.send(this.data.input)
  },

  async send(raw) {
    const text = (raw || '').trim()
    if (!text || this.data.sending) return
    const messages = this.data.messages.concat([{ id: 'm' + nextId++, from: 'user', text, quickReplies: [], cards: [] }])
    this.setData({ messages, input: '', sending: true })
    this.scrollToEnd()
    try {
      const region = getApp().globalData.region || undefined
      const body = await api.post('/chat', { text, session_id: this.data.sessionId || undefined, region })
      const reply = botMessage(body)
      const service = reply.cards.find((c) => c.type === 'service')
      this.setData({
        messages: this.data.messages.concat([reply]),
        sessionId: body.session_id,
        lastCode: service ? service.code : this.data.lastCode,
      })
    } catch (err) {
      const text = err.code === 'rate_limited' ? '问得太快了，请稍等再试。' : '暂时连不上服务，请稍后再试，或拨打' + config.HOTLINE + '。'
      this.setData({ messages: this.data.messages.concat([{ id: 'm' + nextId++, from: 'bot', text, quickReplies: [], cards: [] }]) })
    } finally {
      this.setData({ sending: false })
      this.scrollToEnd()
    }
  },

  scrollToEnd() {
    const last = this.data.messages[this.data.messages.length - 1]
    this.setData({ bottom: last ? last.id : '' })
    wx.pageScrollTo({ scrollTop: 1000000, duration: 0 })
  },

  onQuickReply(e) {
    const text = e.currentTarget.dataset.text
    if (text === '办理' && this.data.lastCode) return this.apply(this.data.lastCode)
    if (text.indexOf('拨打') === 0) return wx.makePhoneCall({ phoneNumber: config.HOTLINE })
    if (text === '按分类浏览') return wx.switchTab({ url: '/pages/home/home' })
    if (text === '换一个问题') return this.setData({ input: '' })
    if (text === '切换地区') return wx.switchTab({ url: '/pages/mine/mine' })
    return this.send(text)
  },

  onApply(e) {
    this.apply(e.currentTarget.dataset.code)
  },

  apply(code) {
    wx.navigateTo({ url: '/pages/apply/apply?code=' + code })
  },

  onOpenItem(e) {
    wx.navigateTo({ url: '/pages/item/item?code=' + e.currentTarget.dataset.code })
  },

  onOpenApplication(e) {
    wx.navigateTo({ url: '/pages/application/application?id=' + e.currentTarget.dataset.id })
  },
})
