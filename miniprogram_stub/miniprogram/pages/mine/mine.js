// 我的: login and real name, 长辈模式, the region (所在地区), favourites and recently viewed items.
const api = require('../../utils/api')

Page({
  data: { elder: false, loggedIn: false, user: null, favourites: [], recent: [], region: '', regionName: '', regions: [], picking: false },

  onShow() {
    const app = getApp()
    this.setData({ elder: app.globalData.elder, loggedIn: app.isLoggedIn(), user: app.globalData.user })
    if (app.isLoggedIn()) this.refresh()
    this.loadRegions()
  },

  async loadRegions() {
    try {
      const body = await api.get('/services/regions')
      const region = getApp().globalData.region
      const chosen = body.regions.find((r) => r.code === region)
      const fallback = body.regions.find((r) => r.code === body.default)
      this.setData({
        regions: body.regions.filter((r) => r.code !== '000000'),
        region,
        regionName: chosen ? chosen.name : (fallback ? fallback.name : body.default) + '（默认）',
      })
    } catch (err) {
      // The list comes back on the next visit.
    }
  },

  onPickRegion() {
    this.setData({ picking: !this.data.picking })
  },

  async onChooseRegion(e) {
    const { code, name } = e.currentTarget.dataset
    this.setData({ region: code, regionName: name, picking: false })
    try {
      await getApp().setRegion(code)
      wx.showToast({ title: '已切换到' + name, icon: 'none' })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    }
  },

  async refresh() {
    try {
      const [me, favourites, recent] = await Promise.all([api.get('/me'), api.get('/me/favourites'), api.get('/me/recent', { limit: 10 })])
      getApp().setUser(me.user)
      this.setData({ user: me.user, favourites: favourites.items, recent: recent.items })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    }
  },

  onLogin() {
    wx.navigateTo({ url: '/pages/login/login' })
  },

  async onElder() {
    const on = !this.data.elder
    this.setData({ elder: on })
    try {
      await getApp().setElder(on)
      wx.showToast({ title: on ? '已开启长辈模式' : '已关闭长辈模式', icon: 'none' })
    } catch (err) {
      wx.showToast({ title: err.message, icon: 'none' })
    }
  },

  onOpenItem(e) {
    wx.navigateTo({ url: '/pages/item/item?code=' + e.currentTarget.dataset.code })
  },

  async onClearRecent() {
    await api.del('/me/recent')
    this.refresh()
  },

  async onLogout() {
    await getApp().logout()
    this.setData({ loggedIn: false, user: null, favourites: [], recent: [] })
  },
})
