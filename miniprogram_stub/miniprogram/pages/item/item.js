// 办事指南: one item's conditions, materials, steps and time limit (一次告知), 收藏 and 办理.
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: { elder: false, code: '', item: null, favourite: false, loggedIn: false, error: '' },

  onLoad(options) {
    this.setData({ code: options.code })
    this.load(options.code)
  },

  onShow() {
    this.setData({ elder: getApp().globalData.elder, loggedIn: getApp().isLoggedIn() })
  },

  async load(code) {
    try {
      const item = await api.get('/services/' + code)
      item.limit = format.timeLimit(item.promised_time_limit_days)
      item.legalLimit = format.timeLimit(item.legal_time_limit_days)
      item.visitsText = format.visits(item.max_visits)
      item.materials = item.materials.map((m) => Object.assign({}, m, { licence: format.isLicence(m) }))
      this.setData({ item })
      wx.setNavigationBarTitle({ title: item.name })
    } catch (err) {
      this.setData({ error: err.status === 404 ? '没有这个事项' : err.message })
      return
    }
    if (getApp().isLoggedIn()) {
      api.post('/me/recent', { service_code: code }).catch(() => {})
      api.get('/me/favourites')
        .then((body) => this.setData({ favourite: body.items.some((i) => i.code === code) }))
        .catch(() => {})
    }
  },

  async onFavourite() {
    if (!getApp().isLoggedIn()) {
      wx.navigateTo({ url: '/pages/login/login' })
      return
    }
    const on = !this.data.favourite
    try {
      if (on) await api.put('/me/favourites/' + this.data.code)
      else await api.del('/me/favourites/' + this.data.code)
      this.setData({ favourite: on })
      wx.showToast({ title: on ? '已收藏' : '已取消收藏', icon: 'none' })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    }
  },

  onApply() {
    wx.navigateTo({ url: '/pages/apply/apply?code=' + this.data.code })
  },
})
