// Where the backend is.
//
// In WeChat DevTools: a backend on this machine (`make run`); tick 「不校验合法域名、web-view（业务域名）、
// TLS 版本以及 HTTPS 证书」 under 详情 → 本地设置. A release build needs the HTTPS domain set in the
// mini-program console instead.
// In the browser simulator (/stub/) these very files are served by the backend: its own origin.
const DEVTOOLS_BACKEND = 'http://127.0.0.1:8000'

function backend() {
  if (typeof location !== 'undefined' && location.origin && String(location.pathname).indexOf('/stub') === 0) {
    return location.origin
  }
  return DEVTOOLS_BACKEND
}

module.exports = { backend, HOTLINE: '12345' }
