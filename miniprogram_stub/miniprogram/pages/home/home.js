// 首页: search the catalog, browse by category and life event, and the way to the assistant.
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: {
    elder: false,
    query: '',
    categories: [],
    lifeEvents: [],
    results: [],
    resultTitle: '',
    total: 0,
    loading: false,
    error: '',
  },

  onLoad() {
    this.loadFacets()
  },

  onShow() {
    this.setData({ elder: getApp().globalData.elder })
  },

  async loadFacets() {
    try {
      const [categories, events] = await Promise.all([api.get('/services/categories'), api.get('/services/life-events')])
      this.setData({
        categories: categories.categories.filter((c) => c.count > 0),
        lifeEvents: events.life_events.filter((e) => e.count > 0),
        error: '',
      })
    } catch (err) {
      this.setData({ error: err.message })
    }
  },

  onQueryInput(e) {
    this.setData({ query: e.detail.value })
  },

  onSearch() {
    const q = this.data.query.trim()
    if (!q) return
    this.list({ q }, '搜索「' + q + '」')
  },

  onCategory(e) {
    this.list({ category: e.currentTarget.dataset.name }, e.currentTarget.dataset.name)
  },

  onLifeEvent(e) {
    this.list({ life_event: e.currentTarget.dataset.name }, '人生大事：' + e.currentTarget.dataset.name)
  },

  async list(params, title) {
    this.setData({ loading: true, resultTitle: title, results: [] })
    try {
      const body = await api.get('/services', Object.assign({ page_size: 50 }, params))
      this.setData({
        results: body.items.map((i) => Object.assign({}, i, { limit: format.timeLimit(i.promised_time_limit_days), visits: format.visits(i.max_visits) })),
        total: body.total,
      })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    } finally {
      this.setData({ loading: false })
    }
  },

  onClear() {
    this.setData({ results: [], resultTitle: '', query: '' })
  },

  onOpenItem(e) {
    wx.navigateTo({ url: '/pages/item/item?code=' + e.currentTarget.dataset.code })
  },

  onAsk() {
    wx.switchTab({ url: '/pages/chat/chat' })
  },
})
