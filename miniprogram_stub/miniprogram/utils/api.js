// The backend's HTTP API over wx.request: our access token on every call, refreshed when it
// expires (one refresh at a time: a refresh token works once, and a reused one ends the login),
// and a fresh wx.login when the session has ended.
const config = require('./config')
const session = require('./session')

class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {}
    super(error.message || 'HTTP ' + status)
    this.status = status
    this.code = error.code || 'http_' + status
    this.details = error.details || {}
  }
}

function raw(method, path, data, token) {
  return new Promise((resolve, reject) => {
    const header = {}
    if (token) header.Authorization = 'Bearer ' + token
    wx.request({
      url: config.backend() + '/api/v1' + path,
      method,
      data,
      header,
      timeout: 15000,
      success: resolve,
      fail: (err) => {
        const error = new Error('网络不可用，请稍后再试')
        error.code = 'network'
        error.errMsg = err && err.errMsg
        reject(error)
      },
    })
  })
}

function wxLoginCode() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => resolve(res.code),
      fail: (err) => {
        const error = new Error('微信登录失败')
        error.code = 'wx_login'
        error.errMsg = err && err.errMsg
        reject(error)
      },
    })
  })
}

async function loginWithWeChat() {
  const code = await wxLoginCode()
  const res = await raw('POST', '/auth/wx-login', { code })
  if (res.statusCode !== 200) throw new ApiError(res.statusCode, res.data)
  return session.save(res.data)
}

let refreshing = null

function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const current = session.get()
      if (current && current.refresh) {
        const res = await raw('POST', '/auth/refresh', { refresh_token: current.refresh })
        if (res.statusCode === 200) return session.save(res.data)
        if (res.statusCode !== 401) throw new ApiError(res.statusCode, res.data)
      }
      // The login ended (expired, logged out elsewhere, or a reused token): log in again with
      // WeChat. The account, and its verified real name, belong to the WeChat user.
      session.clear()
      return loginWithWeChat()
    })().finally(() => {
      refreshing = null
    })
  }
  return refreshing
}

async function accessToken() {
  let current = session.get()
  if (!current) return null
  if (Date.now() >= current.expiresAt) current = await refresh()
  return current.access
}

async function request(method, path, data, options) {
  options = options || {}
  const token = options.auth === false ? null : await accessToken()
  const res = await raw(method, path, data, token)
  if (res.statusCode === 401 && token && !options.retried) {
    await refresh()
    return request(method, path, data, Object.assign({}, options, { retried: true }))
  }
  if (res.statusCode >= 400) throw new ApiError(res.statusCode, res.data)
  return res.data
}

module.exports = {
  ApiError,
  request,
  get: (path, data, options) => request('GET', path, data, options),
  post: (path, data, options) => request('POST', path, data === undefined ? {} : data, options),
  put: (path, data, options) => request('PUT', path, data === undefined ? {} : data, options),
  del: (path, options) => request('DELETE', path, undefined, options),
  loginWithWeChat,
  refresh,
  accessToken,
  loggedIn: () => !!session.get(),
}
