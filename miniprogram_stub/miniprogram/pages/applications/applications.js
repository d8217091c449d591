// 我的办件: every application with its status, updated live as notifications arrive.
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: { elder: false, loggedIn: false, items: [], loading: false },

  onLoad() {
    this.unsubscribe = getApp().socket.on('notification', () => this.refresh())
  },

  onUnload() {
    if (this.unsubscribe) this.unsubscribe()
  },

  onShow() {
    const app = getApp()
    this.setData({ elder: app.globalData.elder, loggedIn: app.isLoggedIn() })
    this.refresh()
  },

  async refresh() {
    if (!getApp().isLoggedIn()) return this.setData({ items: [] })
    this.setData({ loading: true })
    try {
      const body = await api.get('/applications')
      this.setData({ items: body.items.map((a) => Object.assign({}, a, { when: format.dateTime(a.updated_at) })) })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    } finally {
      this.setData({ loading: false })
    }
  },

  onOpen(e) {
    wx.navigateTo({ url: '/pages/application/application?id=' + e.currentTarget.dataset.id })
  },

  onLogin() {
    wx.navigateTo({ url: '/pages/login/login' })
  },
})
