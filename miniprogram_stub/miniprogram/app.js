// 省事: the citizens' mini-program. Login state, 长辈模式, the chosen region, unread count and the notification socket.
const api = require('./utils/api')
const session = require('./utils/session')
const { createSocket } = require('./utils/socket')

const MESSAGES_TAB = 3

App({
  globalData: { user: null, elder: false, region: '', unread: 0 },

  onLaunch() {
    this.socket = createSocket()
    this.socket.on('notification', (note) => {
      if (!note.caughtUp) wx.showToast({ title: note.title, icon: 'none', duration: 2000 })
      if (!note.read && !note.caughtUp) this.setUnread(this.globalData.unread + 1)
    })
    this.socket.on('unread', (count) => this.setUnread(count))
    this.globalData.elder = !!wx.getStorageSync('elder')
    this.globalData.region = wx.getStorageSync('region') || ''
    const saved = session.get()
    if (saved) {
      this.globalData.user = saved.user
      this.afterLogin()
    }
  },

  afterLogin() {
    this.socket.start()
    api.get('/me').then((body) => this.setUser(body.user)).catch(() => {})
    api
      .get('/me/preferences')
      .then((prefs) => {
        this.applyElder(prefs.elder_mode)
        // The account's region wins; a region picked before logging in is kept on the account.
        if (prefs.region) this.applyRegion(prefs.region)
        else if (this.globalData.region) api.put('/me/preferences', { region: this.globalData.region }).catch(() => {})
      })
      .catch(() => {})
  },

  // wx.login → our tokens; the WeChat account keeps its verified real name across logins.
  async login() {
    const saved = await api.loginWithWeChat()
    this.setUser(saved.user)
    this.afterLogin()
    return saved.user
  },

  async logout() {
    try {
      await api.post('/auth/logout')
    } catch (err) {
      // Logged out here whatever the server says.
    }
    this.socket.stop()
    session.clear()
    wx.removeStorageSync('lastNotificationId')
    this.globalData.user = null
    this.setUnread(0)
  },

  setUser(user) {
    this.globalData.user = user
    session.setUser(user)
  },

  isLoggedIn() {
    return api.loggedIn()
  },

  isVerified() {
    const user = this.globalData.user
    return !!user && user.level === 'L2'
  },

  applyElder(on) {
    this.globalData.elder = !!on
    wx.setStorageSync('elder', !!on)
  },

  // 长辈模式 is kept on the account: the assistant answers shorter, every client shows larger text.
  async setElder(on) {
    this.applyElder(on)
    if (this.isLoggedIn()) await api.put('/me/preferences', { elder_mode: !!on })
  },

  applyRegion(code) {
    this.globalData.region = code || ''
    wx.setStorageSync('region', code || '')
  },

  // The region the assistant answers for (remembered here, and on the account when logged in).
  async setRegion(code) {
    this.applyRegion(code)
    if (this.isLoggedIn()) await api.put('/me/preferences', { region: code || null })
  },

  setUnread(count) {
    this.globalData.unread = Math.max(0, count)
    const done = () => {}
    if (this.globalData.unread > 0) {
      wx.setTabBarBadge({ index: MESSAGES_TAB, text: String(this.globalData.unread), fail: done })
    } else {
      wx.removeTabBarBadge({ index: MESSAGES_TAB, fail: done })
    }
  },
})
