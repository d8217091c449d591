// 登录与实名: WeChat login (wx.login), then name and resident ID number, checked by the
// identity authority. Names and numbers are only ever shown masked.
const api = require('../../utils/api')

Page({
  data: { elder: false, step: 'login', name: '', idNumber: '', busy: false, error: '', user: null, redirect: '' },

  onLoad(options) {
    this.setData({ redirect: options.redirect ? decodeURIComponent(options.redirect) : '' })
  },

  onShow() {
    const app = getApp()
    const user = app.globalData.user
    this.setData({
      elder: app.globalData.elder,
      user,
      step: !app.isLoggedIn() ? 'login' : app.isVerified() ? 'done' : 'verify',
    })
  },

  async onLogin() {
    this.setData({ busy: true, error: '' })
    try {
      const user = await getApp().login()
      this.setData({ user, step: user.level === 'L2' ? 'done' : 'verify' })
      if (user.level === 'L2') this.finish()
    } catch (err) {
      this.setData({ error: err.message })
    } finally {
      this.setData({ busy: false })
    }
  },

  onName(e) {
    this.setData({ name: e.detail.value })
  },

  onIdNumber(e) {
    this.setData({ idNumber: e.detail.value })
  },

  async onVerify() {
    const name = this.data.name.trim()
    const idNumber = this.data.idNumber.trim().toUpperCase()
    if (!name || idNumber.length !== 18) {
      this.setData({ error: '请填写姓名和18位居民身份证号码' })
      return
    }
    this.setData({ busy: true, error: '' })
    try {
      const body = await api.post('/auth/real-name', { name, id_number: idNumber })
      getApp().setUser(body.user)
      // Our access token carries the level: a fresh one says L2.
      await api.refresh()
      this.setData({ user: body.user, step: 'done', idNumber: '', name: '' })
      wx.showToast({ title: '实名认证成功', icon: 'success' })
      this.finish()
    } catch (err) {
      const messages = {
        identity_mismatch: '姓名与身份证号码不一致，请核对',
        id_number_bound: '这个身份证号码已绑定其他微信账号',
        identity_unavailable: '身份核验暂时不可用，请稍后再试',
        invalid_id_number: '身份证号码格式不正确',
      }
      this.setData({ error: messages[err.code] || err.message })
    } finally {
      this.setData({ busy: false })
    }
  },

  finish() {
    if (this.data.redirect) wx.redirectTo({ url: this.data.redirect })
  },

  onBack() {
    wx.navigateBack({})
  },
})
