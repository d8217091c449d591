// One WebSocket to the backend for pushed notifications: authenticated with our access token,
// kept alive with pings, reconnected with backoff (at once when the network comes back), and
// on every (re)connect it catches up on the notifications that arrived while it was away.
const config = require('./config')
const api = require('./api')
const { createEmitter } = require('./events')

const LAST_SEEN = 'lastNotificationId'
const PING_MS = 25000
const MAX_BACKOFF_MS = 30000

function lastSeen() {
  return Number(wx.getStorageSync(LAST_SEEN) || 0)
}

function markSeen(id) {
  if (id > lastSeen()) wx.setStorageSync(LAST_SEEN, id)
}

function createSocket() {
  const emitter = createEmitter()
  let task = null
  let wanted = false
  let attempts = 0
  let retryTimer = null
  let pingTimer = null
  let connected = false

  function setConnected(value) {
    if (connected !== value) {
      connected = value
      emitter.emit('status', { connected })
    }
  }

  async function open() {
    if (task || !wanted) return
    let token
    try {
      token = await api.accessToken()
    } catch (err) {
      schedule()
      return
    }
    if (!token || task || !wanted) return
    const current = wx.connectSocket({ url: config.backend().replace(/^http/, 'ws') + '/api/v1/ws' })
    task = current
    current.onOpen(() => current.send({ data: JSON.stringify({ type: 'auth', token }) }))
    current.onMessage((res) => {
      let message
      try {
        message = JSON.parse(res.data)
      } catch (err) {
        return
      }
      if (message.type === 'auth' && message.ok) {
        attempts = 0
        setConnected(true)
        startPing(current)
        catchUp()
      } else if (message.type === 'notification') {
        deliver([message.notification], false)
      } else if (message.type === 'error' && !connected) {
        // The token expired on the way: refresh it, then this socket closes and reconnects.
        api.refresh().catch(() => {}).then(() => current.close({ code: 1000, reason: 'reauth' }))
      }
    })
    current.onClose(() => {
      if (task !== current) return
      task = null
      stopPing()
      setConnected(false)
      schedule()
    })
    current.onError(() => {})
  }

  function schedule() {
    if (!wanted || retryTimer) return
    const base = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempts++))
    retryTimer = setTimeout(() => {
      retryTimer = null
      open()
    }, base + Math.random() * base * 0.2)
  }

  function reconnectNow() {
    attempts = 0
    if (retryTimer) {
      clearTimeout(retryTimer)
      retryTimer = null
    }
    open()
  }

  function startPing(current) {
    stopPing()
    pingTimer = setInterval(() => current.send({ data: JSON.stringify({ type: 'ping' }) }), PING_MS)
  }

  function stopPing() {
    if (pingTimer) clearInterval(pingTimer)
    pingTimer = null
  }

  // Everything newer than the last notification this phone saw, oldest first.
  async function catchUp() {
    const seen = lastSeen()
    const fresh = []
    let before = null
    try {
      for (let page = 0; page < 10; page++) {
        const body = await api.get('/notifications', before ? { before_id: before } : undefined)
        if (page === 0) emitter.emit('unread', body.unread)
        const newer = body.items.filter((n) => n.id > seen)
        fresh.push(...newer)
        if (newer.length < body.items.length || body.items.length < 50) break
        before = body.items[body.items.length - 1].id
      }
    } catch (err) {
      return
    }
    fresh.sort((a, b) => a.id - b.id)
    if (fresh.length) deliver(fresh, true)
  }

  function deliver(list, caughtUp) {
    for (const note of list) {
      markSeen(note.id)
      emitter.emit('notification', Object.assign({ caughtUp }, note))
    }
  }

  wx.onNetworkStatusChange((res) => {
    if (res.isConnected && wanted && !task) reconnectNow()
  })

  return {
    on: (type, fn) => emitter.on(type, fn),
    off: (type, fn) => emitter.off(type, fn),
    start() {
      wanted = true
      open()
    },
    stop() {
      wanted = false
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = null
      const current = task
      task = null
      stopPing()
      setConnected(false)
      if (current) current.close({ code: 1000, reason: 'logout' })
    },
    reconnectNow,
    isConnected: () => connected,
  }
}

module.exports = { createSocket }
