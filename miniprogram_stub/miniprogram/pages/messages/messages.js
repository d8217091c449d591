// 消息: in-app notifications, newest first; new ones appear as they are pushed.
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: { elder: false, loggedIn: false, items: [], unread: 0 },

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
    try {
      const body = await api.get('/notifications')
      this.setData({ items: body.items.map((n) => Object.assign({}, n, { when: format.dateTime(n.created_at) })), unread: body.unread })
      getApp().setUnread(body.unread)
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    }
  },

  async onOpen(e) {
    const { id, app } = e.currentTarget.dataset
    api.post('/notifications/' + id + '/read').then(() => this.refresh()).catch(() => {})
    if (app) wx.navigateTo({ url: '/pages/application/application?id=' + app })
  },

  async onReadAll() {
    await api.post('/notifications/read-all')
    this.refresh()
  },

  onLogin() {
    wx.navigateTo({ url: '/pages/login/login' })
  },
})
