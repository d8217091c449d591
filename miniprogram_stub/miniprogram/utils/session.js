// Our own tokens (never WeChat's session_key, which stays on the server), kept in storage.
const KEY = 'session'

function get() {
  return wx.getStorageSync(KEY) || null
}

function save(pair) {
  const session = {
    access: pair.access_token,
    refresh: pair.refresh_token,
    // Refresh a little before the server would refuse the token.
    expiresAt: Date.now() + Math.max(0, (pair.expires_in || 0) - 30) * 1000,
    user: pair.user || null,
  }
  wx.setStorageSync(KEY, session)
  return session
}

function setUser(user) {
  const session = get()
  if (session) {
    session.user = user
    wx.setStorageSync(KEY, session)
  }
}

function clear() {
  wx.removeStorageSync(KEY)
}

module.exports = { get, save, setUser, clear }
