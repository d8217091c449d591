// 在线办理: the item's materials at once (licences attached, earlier uploads reused), then the
// subscribe-message request (on the tap, as WeChat requires) and the application itself.
const api = require('../../utils/api')
const format = require('../../utils/format')

Page({
  data: { elder: false, code: '', item: null, materials: [], templates: [], submitting: false, error: '' },

  onLoad(options) {
    this.setData({ code: options.code })
    if (!getApp().isVerified()) {
      wx.redirectTo({ url: '/pages/login/login?redirect=' + encodeURIComponent('/pages/apply/apply?code=' + options.code) })
      return
    }
    this.load(options.code)
  },

  onShow() {
    this.setData({ elder: getApp().globalData.elder })
  },

  async load(code) {
    try {
      const [item, reusable, templates] = await Promise.all([
        api.get('/services/' + code),
        api.get('/applications/reusable-materials'),
        api.get('/subscriptions/templates'),
      ])
      const earlier = {}
      for (const m of reusable.materials) earlier[m.name] = m
      const materials = item.materials.map((m) => ({
        name: m.name,
        required: m.required,
        note: m.note || '',
        licence: format.isLicence(m),
        reusable: !!earlier[m.name],
        reuse: !!earlier[m.name],
        fileName: '',
        fileId: '',
      }))
      this.setData({ item, materials, templates: templates.templates })
      wx.setNavigationBarTitle({ title: '办理：' + item.name })
    } catch (err) {
      this.setData({ error: err.message })
    }
  },

  onChoose(e) {
    const index = e.currentTarget.dataset.index
    wx.chooseMessageFile({
      count: 1,
      type: 'all',
      success: (res) => {
        const file = res.tempFiles[0]
        // File storage is not part of this backend yet: the application carries a reference to the file.
        this.setData({
          ['materials[' + index + '].fileName']: file.name,
          ['materials[' + index + '].fileId']: format.fileRef(file.path),
          ['materials[' + index + '].reuse']: false,
        })
      },
    })
  },

  onToggleReuse(e) {
    const index = e.currentTarget.dataset.index
    this.setData({ ['materials[' + index + '].reuse']: !this.data.materials[index].reuse })
  },

  onSubmit() {
    if (this.data.submitting || !this.data.item) return
    const missing = this.data.materials.filter((m) => m.required && !m.licence && !m.reuse && !m.fileId).map((m) => m.name)
    if (missing.length) {
      wx.showModal({ title: '还缺这些材料', content: missing.join('、'), showCancel: false })
      return
    }
    this.setData({ submitting: true })
    const tmplIds = this.data.templates.map((t) => t.template_id)
    if (!tmplIds.length) return this.submit([])
    // Asked on the tap itself: WeChat shows the dialog only in answer to a user's tap.
    wx.requestSubscribeMessage({
      tmplIds,
      success: (res) => this.submit(tmplIds.filter((id) => res[id] === 'accept')),
      fail: () => this.submit([]),
    })
  },

  async submit(granted) {
    try {
      if (granted.length) await api.post('/subscriptions', { granted })
      const materials = this.data.materials
        .filter((m) => !m.licence && (m.reuse || m.fileId))
        .map((m) => (m.fileId ? { name: m.name, file_id: m.fileId } : { name: m.name, reuse: true }))
      const app = await api.post('/applications', { service_code: this.data.code, form: {}, materials })
      wx.showToast({ title: '已提交', icon: 'success' })
      wx.redirectTo({ url: '/pages/application/application?id=' + app.id })
    } catch (err) {
      const missing = err.details && err.details.missing
      wx.showModal({ title: '提交未成功', content: missing ? '还缺：' + missing.join('、') : err.message, showCancel: false })
      this.setData({ submitting: false })
    }
  },
})
