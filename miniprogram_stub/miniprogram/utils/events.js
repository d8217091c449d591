// A tiny event emitter: the socket tells pages about pushed notifications.
function createEmitter() {
  const handlers = {}
  return {
    on(type, fn) {
      ;(handlers[type] = handlers[type] || []).push(fn)
      return () => this.off(type, fn)
    },
    off(type, fn) {
      handlers[type] = (handlers[type] || []).filter((f) => f !== fn)
    },
    emit(type, arg) {
      for (const fn of (handlers[type] || []).slice()) {
        try {
          fn(arg)
        } catch (err) {
          console.error(err)
        }
      }
    },
  }
}

module.exports = { createEmitter }
