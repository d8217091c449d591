// 办件详情: status and timeline, refreshed the moment a notification about it arrives (pushed,
// or caught up after a reconnect); after 办结 the citizen rates the service (好差评).
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: {
    elder: false,
    id: 0,
    app: null,
    steps: [],
    rating: null,
    reasons: [],
    score: 0,
    chosen: {},
    comment: '',
    rating_busy: false,
    connected: true,
    error: '',
  },

  onLoad(options) {
    this.setData({ id: Number(options.id) })
    const socket = getApp().socket
    this.offNote = socket.on('notification', (note) => {
      if (note.application_id === this.data.id) this.load()
    })
    this.offStatus = socket.on('status', (s) => this.setData({ connected: s.connected }))
    this.setData({ connected: socket.isConnected() })
    this.load()
  },

  onUnload() {
    if (this.offNote) this.offNote()
    if (this.offStatus) this.offStatus()
  },

  onShow() {
    this.setData({ elder: getApp().globalData.elder })
  },

  async load() {
    try {
      const app = await api.get('/applications/' + this.data.id)
      const reached = {}
      for (const e of app.timeline) reached[e.to] = true
      const steps = format.STEPS.map((s) => ({ status: s, done: !!reached[s] }))
      const timeline = app.timeline
        .slice()
        .reverse()
        .map((e) => Object.assign({}, e, { when: format.dateTime(e.at) }))
      this.setData({ app: Object.assign({}, app, { timeline }), steps, error: '' })
      if (app.status === 'completed') this.loadRating()
    } catch (err) {
      this.setData({ error: err.status === 404 ? '没有这个办件' : err.message })
    }
  },

  async loadRating() {
    const [mine, reasons] = await Promise.all([
      api.get('/applications/' + this.data.id + '/rating'),
      this.data.reasons.length ? Promise.resolve({ reasons: this.data.reasons }) : api.get('/ratings/reasons'),
    ])
    this.setData({ rating: mine.rating, reasons: reasons.reasons })
  },

  onScore(e) {
    this.setData({ score: Number(e.currentTarget.dataset.score) })
  },

  onReason(e) {
    const code = e.currentTarget.dataset.code
    this.setData({ ['chosen.' + code]: !this.data.chosen[code] })
  },

  onComment(e) {
    this.setData({ comment: e.detail.value })
  },

  async onRate() {
    if (!this.data.score) {
      wx.showToast({ title: '请先选择星级', icon: 'none' })
      return
    }
    this.setData({ rating_busy: true })
    try {
      const reasons = this.data.reasons.filter((r) => this.data.chosen[r.code]).map((r) => r.code)
      const rating = await api.post('/applications/' + this.data.id + '/rating', {
        score: this.data.score,
        reasons,
        comment: this.data.comment,
      })
      this.setData({ rating })
      wx.showToast({ title: '感谢您的评价', icon: 'success' })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    } finally {
      this.setData({ rating_busy: false })
    }
  },
})
