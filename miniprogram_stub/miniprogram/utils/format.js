// Display helpers shared by the pages.
const STEPS = ['submitted', 'accepted', 'reviewing', 'approved', 'completed']

function dateTime(iso) {
  if (!iso) return ''
  const d = new Date(iso)
  const pad = (n) => (n < 10 ? '0' + n : '' + n)
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes())
}

function timeLimit(days) {
  if (days === 0) return '即办'
  if (days === undefined || days === null) return ''
  return days + '个工作日'
}

function visits(n) {
  return n === 0 ? '全程网办，不用跑' : '最多跑' + n + '次'
}

// A material the backend attaches from the verified identity (电子证照) instead of an upload.
function isLicence(material) {
  return !!material.electronic_licence && (material.name === '居民身份证' || material.name === '户口簿')
}

// A short stable reference to a chosen file.
function fileRef(path) {
  let hash = 0
  for (let i = 0; i < path.length; i++) hash = (hash * 31 + path.charCodeAt(i)) >>> 0
  return 'wxfile-' + hash.toString(16) + '-' + path.length
}

module.exports = { STEPS, dateTime, timeLimit, visits, isLicence, fileRef }
