// The browser simulator of the 省事 mini-program.
//
// It loads the mini-program's own files from /stub/mp/ (app.json, app.js, each page's
// .js/.wxml/.wxss/.json) and runs them unchanged: a CommonJS loader for require(), App()
// and Page() as WeChat defines them, a page stack and tab bar, WXML rendered by wxml.js,
// and a thin ``wx`` over fetch and WebSocket. wx.login asks the fake WeChat platform
// (mounted at /__fakewx in development) for a code, as WeChat would hand one out.
(function () {
  'use strict';

  const MP = '/stub/mp/';
  const SCREEN_WIDTH = 375;
  const STORAGE_PREFIX = 'mp:';
  const params = new URLSearchParams(location.search);

  // -- the simulated WeChat user and the simulator's own controls ------------------------

  function wechatUser() {
    const asked = (params.get('user') || '').trim();
    let user = localStorage.getItem('sim.user');
    if (asked && asked !== user) {
      // Another WeChat account on this "phone": the mini-program starts with empty storage.
      clearMiniProgramStorage();
      user = asked;
    }
    if (!user) user = 'guest' + Math.random().toString(16).slice(2, 8);
    localStorage.setItem('sim.user', user);
    return user;
  }

  function clearMiniProgramStorage() {
    for (const key of Object.keys(localStorage)) if (key.startsWith(STORAGE_PREFIX)) localStorage.removeItem(key);
  }

  const sim = (window.__sim = {
    user: wechatUser(),
    offline: false,
    sockets: new Set(),
    networkListeners: [],
    ready: false,
    errors: [],
    // Cut every open WebSocket, as a network drop would; the mini-program must reconnect.
    dropSockets() {
      for (const task of Array.from(sim.sockets)) task._drop();
    },
    goOffline() {
      sim.offline = true;
      sim.dropSockets();
      sim.networkListeners.forEach((fn) => fn({ isConnected: false, networkType: 'none' }));
      updatePanel();
    },
    goOnline() {
      sim.offline = false;
      sim.networkListeners.forEach((fn) => fn({ isConnected: true, networkType: 'wifi' }));
      updatePanel();
    },
  });

  function updatePanel() {
    const status = document.getElementById('sim-network');
    if (status) status.textContent = sim.offline ? '已断网' : '在线';
    const sockets = document.getElementById('sim-sockets');
    if (sockets) sockets.textContent = String(sim.sockets.size);
    const user = document.getElementById('sim-user');
    if (user && document.activeElement !== user) user.value = sim.user;
  }

  // -- small helpers ------------------------------------------------------------------------

  function call(fn, arg) {
    if (typeof fn === 'function') {
      try {
        fn(arg);
      } catch (err) {
        reportError(err);
      }
    }
  }

  function reportError(err) {
    sim.errors.push(String((err && err.stack) || err));
    console.error(err);
  }

  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  function parseUrl(url) {
    const [path, query = ''] = String(url).split('?');
    const route = path.replace(/^\//, '');
    const options = {};
    for (const [k, v] of new URLSearchParams(query)) options[k] = v;
    return { route, options };
  }

  // -- the phone's overlays: toast, loading, modal, subscribe dialog --------------------------

  const overlay = () => document.getElementById('overlay');
  let toastTimer = null;

  function showToast(o) {
    const toast = document.getElementById('toast');
    toast.textContent = (o && o.title) || '';
    toast.className = 'toast show' + (o && o.icon === 'none' ? ' plain' : '');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => (toast.className = 'toast'), (o && o.duration) || 1500);
    call(o && o.success, { errMsg: 'showToast:ok' });
  }

  function dialog({ title, content, buttons, extraClass }) {
    return new Promise((resolve) => {
      const box = document.createElement('div');
      box.className = 'dialog ' + (extraClass || '');
      box.setAttribute('role', 'dialog');
      const heading = document.createElement('div');
      heading.className = 'dialog-title';
      heading.textContent = title || '';
      box.appendChild(heading);
      if (content) {
        const body = document.createElement('div');
        body.className = 'dialog-content';
        if (content instanceof Node) body.appendChild(content);
        else body.textContent = content;
        box.appendChild(body);
      }
      const row = document.createElement('div');
      row.className = 'dialog-buttons';
      for (const b of buttons) {
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = b.text;
        button.className = 'dialog-button ' + (b.primary ? 'primary' : '');
        button.addEventListener('click', () => {
          box.remove();
          if (!overlay().children.length) overlay().classList.remove('show');
          resolve(b.value);
        });
        row.appendChild(button);
      }
      box.appendChild(row);
      overlay().appendChild(box);
      overlay().classList.add('show');
    });
  }

  let templateTitles = {};
  fetch('/api/v1/subscriptions/templates')
    .then((r) => r.json())
    .then((body) => {
      for (const t of body.templates || []) templateTitles[t.template_id] = t.title;
    })
    .catch(() => {});

  // -- WebSocket as a SocketTask ----------------------------------------------------------------

  class SocketTask {
    constructor(url) {
      this.handlers = { open: [], message: [], close: [], error: [] };
      this.closed = false;
      if (sim.offline) {
        setTimeout(() => {
          this._emit('error', { errMsg: 'connectSocket:fail network is down' });
          this._finish(1006, 'network is down');
        }, 50);
        return;
      }
      this.ws = new WebSocket(url);
      sim.sockets.add(this);
      updatePanel();
      this.ws.onopen = () => this._emit('open', { header: {} });
      this.ws.onmessage = (e) => this._emit('message', { data: e.data });
      this.ws.onerror = () => this._emit('error', { errMsg: 'WebSocket error' });
      this.ws.onclose = (e) => this._finish(this.dropped ? 1006 : e.code, this.dropped ? 'connection lost' : e.reason);
    }
    _emit(kind, arg) {
      for (const fn of this.handlers[kind]) call(fn, arg);
    }
    _finish(code, reason) {
      if (this.closed) return;
      this.closed = true;
      sim.sockets.delete(this);
      updatePanel();
      this._emit('close', { code, reason });
    }
    _drop() {
      this.dropped = true;
      if (this.ws) this.ws.close(4000, 'dropped by the simulator');
    }
    onOpen(fn) { this.handlers.open.push(fn); }
    onMessage(fn) { this.handlers.message.push(fn); }
    onClose(fn) { this.handlers.close.push(fn); }
    onError(fn) { this.handlers.error.push(fn); }
    send(o) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        call(o.fail, { errMsg: 'sendSocketMessage:fail socket is not open' });
        return;
      }
      this.ws.send(o.data);
      call(o.success, { errMsg: 'sendSocketMessage:ok' });
    }
    close(o) {
      o = o || {};
      if (this.ws) this.ws.close(o.code || 1000, o.reason || '');
      call(o.success, { errMsg: 'closeSocket:ok' });
    }
  }

  // -- wx -----------------------------------------------------------------------------------------

  const wx = {
    request(o) {
      const controller = new AbortController();
      const method = (o.method || 'GET').toUpperCase();
      const headers = Object.assign({}, o.header || {});
      let url = o.url;
      let body;
      if (method === 'GET' && o.data && typeof o.data === 'object') {
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(o.data)) if (v !== undefined && v !== null) qs.append(k, v);
        const text = qs.toString();
        if (text) url += (url.includes('?') ? '&' : '?') + text;
      } else if (o.data !== undefined && method !== 'GET') {
        body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
        if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
      }
      const finish = () => call(o.complete, {});
      if (sim.offline) {
        setTimeout(() => {
          call(o.fail, { errMsg: 'request:fail network is down' });
          finish();
        }, 30);
        return { abort() {} };
      }
      fetch(url, { method, headers, body, signal: controller.signal })
        .then(async (response) => {
          const text = await response.text();
          let data = text;
          try {
            data = JSON.parse(text);
          } catch (err) {
            // Not JSON: the text as it came, like WeChat.
          }
          const header = {};
          response.headers.forEach((v, k) => (header[k] = v));
          call(o.success, { statusCode: response.status, data, header, errMsg: 'request:ok' });
        })
        .catch((err) => call(o.fail, { errMsg: 'request:fail ' + err.message }))
        .finally(finish);
      return { abort: () => controller.abort() };
    },

    login(o) {
      if (sim.offline) {
        setTimeout(() => call(o.fail, { errMsg: 'login:fail network is down' }), 30);
        return;
      }
      fetch('/__fakewx/_login_code', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: sim.user }),
      })
        .then(async (r) => {
          if (!r.ok) throw new Error('the fake WeChat platform is not mounted (set no WECHAT_API_BASE in development)');
          const { code } = await r.json();
          call(o.success, { code, errMsg: 'login:ok' });
        })
        .catch((err) => call(o.fail, { errMsg: 'login:fail ' + err.message }))
        .finally(() => call(o.complete, {}));
    },

    connectSocket(o) {
      return new SocketTask(o.url);
    },

    requestSubscribeMessage(o) {
      const list = document.createElement('div');
      for (const id of o.tmplIds || []) {
        const line = document.createElement('div');
        line.className = 'subscribe-line';
        line.textContent = '✓ ' + (templateTitles[id] || id);
        list.appendChild(line);
      }
      dialog({
        title: '「省事」申请向你发送以下消息',
        content: list,
        extraClass: 'subscribe',
        buttons: [
          { text: '取消', value: 'reject' },
          { text: '允许', value: 'accept', primary: true },
        ],
      }).then((answer) => {
        const result = { errMsg: 'requestSubscribeMessage:ok' };
        for (const id of o.tmplIds || []) result[id] = answer;
        call(o.success, result);
        call(o.complete, result);
      });
    },

    showModal(o) {
      const buttons = [];
      if (o.showCancel !== false) buttons.push({ text: o.cancelText || '取消', value: 'cancel' });
      buttons.push({ text: o.confirmText || '确定', value: 'confirm', primary: true });
      dialog({ title: o.title, content: o.content, buttons }).then((v) => {
        const result = { confirm: v === 'confirm', cancel: v === 'cancel', errMsg: 'showModal:ok' };
        call(o.success, result);
        call(o.complete, result);
      });
    },

    showToast,
    hideToast() {
      document.getElementById('toast').className = 'toast';
    },
    showLoading(o) {
      showToast({ title: (o && o.title) || '加载中', icon: 'loading', duration: 60000 });
    },
    hideLoading() {
      document.getElementById('toast').className = 'toast';
    },

    makePhoneCall(o) {
      showToast({ title: '正在呼叫 ' + o.phoneNumber + '（模拟）', icon: 'none', duration: 2000 });
      call(o.success, { errMsg: 'makePhoneCall:ok' });
    },

    chooseMessageFile(o) {
      // The simulator has no file picker: it hands back one synthetic photo, as if picked in a chat.
      const stamp = Date.now().toString(36);
      call(o.success, {
        tempFiles: [{ name: '照片_' + stamp + '.jpg', path: 'wxfile://tmp_' + stamp + '.jpg', size: 204800, type: 'image', time: Date.now() }],
        errMsg: 'chooseMessageFile:ok',
      });
    },

    getStorageSync(key) {
      const raw = localStorage.getItem(STORAGE_PREFIX + key);
      if (raw === null) return '';
      try {
        return JSON.parse(raw);
      } catch (err) {
        return '';
      }
    },
    setStorageSync(key, value) {
      localStorage.setItem(STORAGE_PREFIX + key, JSON.stringify(value));
    },
    removeStorageSync(key) {
      localStorage.removeItem(STORAGE_PREFIX + key);
    },
    clearStorageSync() {
      clearMiniProgramStorage();
    },

    getSystemInfoSync() {
      return { windowWidth: SCREEN_WIDTH, windowHeight: 640, pixelRatio: 2, platform: 'devtools', SDKVersion: '3.4.0', fontSizeSetting: 16 };
    },
    getAccountInfoSync() {
      return { miniProgram: { appId: 'wxdevmini00000000', envVersion: 'develop', version: '' } };
    },
    onNetworkStatusChange(fn) {
      sim.networkListeners.push(fn);
    },
    getNetworkType(o) {
      call(o.success, { networkType: sim.offline ? 'none' : 'wifi' });
    },
    nextTick(fn) {
      setTimeout(fn, 0);
    },
    stopPullDownRefresh() {},
    vibrateShort() {},

    setNavigationBarTitle(o) {
      const top = stack[stack.length - 1];
      if (top) top.title = o.title;
      renderChrome();
    },
    setTabBarBadge(o) {
      badges[o.index] = o.text;
      renderChrome();
    },
    removeTabBarBadge(o) {
      delete badges[o.index];
      renderChrome();
    },
    pageScrollTo(o) {
      const top = stack[stack.length - 1];
      if (top) requestAnimationFrame(() => top.container.scrollTo({ top: o.scrollTop || 0 }));
    },

    navigateTo(o) {
      navigate('navigateTo', o);
    },
    redirectTo(o) {
      navigate('redirectTo', o);
    },
    switchTab(o) {
      navigate('switchTab', o);
    },
    reLaunch(o) {
      navigate('reLaunch', o);
    },
    navigateBack(o) {
      navigate('navigateBack', o || {});
    },
  };
  window.wx = wx;

  // -- modules: require(), App(), Page() ---------------------------------------------------------

  const sources = new Map();
  const modules = new Map();
  const pageDefs = new Map();
  let appConfig = null;
  let appInstance = null;
  let capturedPage = null;

  function resolvePath(from, request) {
    const parts = request.startsWith('/') ? [] : from.split('/').slice(0, -1);
    for (const segment of request.split('/')) {
      if (segment === '..') parts.pop();
      else if (segment && segment !== '.') parts.push(segment);
    }
    let path = parts.join('/');
    if (!path.endsWith('.js')) path += '.js';
    return path;
  }

  async function fetchText(path) {
    const response = await fetch(MP + path);
    if (!response.ok) throw new Error('cannot load ' + path + ': ' + response.status);
    return response.text();
  }

  async function preload(path) {
    if (sources.has(path)) return;
    sources.set(path, null);
    const source = await fetchText(path);
    sources.set(path, source);
    const wanted = Array.from(source.matchAll(/require\(\s*['"]([^'"]+)['"]\s*\)/g), (m) => resolvePath(path, m[1]));
    await Promise.all(wanted.map(preload));
  }

  function requireModule(path) {
    const cached = modules.get(path);
    if (cached) return cached.exports;
    const module = { exports: {} };
    modules.set(path, module);
    // eslint-disable-next-line no-new-func
    const run = new Function(
      'require', 'module', 'exports', 'wx', 'App', 'Page', 'getApp', 'getCurrentPages',
      sources.get(path) + '\n//# sourceURL=' + location.origin + MP + path,
    );
    run((request) => requireModule(resolvePath(path, request)), module, module.exports, wx, App, Page, getApp, getCurrentPages);
    return module.exports;
  }

  function App(definition) {
    appInstance = definition;
  }
  function Page(definition) {
    capturedPage = definition;
  }
  function getApp() {
    return appInstance;
  }
  function getCurrentPages() {
    return stack.map((entry) => entry.instance);
  }

  async function loadPage(route) {
    if (pageDefs.has(route)) return pageDefs.get(route);
    await preload(route + '.js');
    const [wxml, wxss, json] = await Promise.all([
      fetchText(route + '.wxml'),
      fetchText(route + '.wxss').catch(() => ''),
      fetchText(route + '.json').catch(() => '{}'),
    ]);
    capturedPage = null;
    requireModule(route + '.js');
    if (!capturedPage) throw new Error(route + '.js did not call Page()');
    addStyle(wxss, route);
    const def = { definition: capturedPage, template: WXML.parse(wxml), config: JSON.parse(json || '{}') };
    pageDefs.set(route, def);
    return def;
  }

  function addStyle(wxss, name) {
    if (!wxss.trim()) return;
    const style = document.createElement('style');
    style.dataset.source = name;
    style.textContent = WXML.wxssToCss(wxss, SCREEN_WIDTH);
    document.head.appendChild(style);
  }

  // -- pages -----------------------------------------------------------------------------------

  const stack = [];
  const tabPages = new Map();
  const badges = {};

  function setPath(target, path, value) {
    const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
    let node = target;
    for (let i = 0; i < keys.length - 1; i++) {
      if (node[keys[i]] === undefined || node[keys[i]] === null) node[keys[i]] = /^\d+$/.test(keys[i + 1]) ? [] : {};
      node = node[keys[i]];
    }
    node[keys[keys.length - 1]] = value;
  }

  function createInstance(route, def, options) {
    // The frame is the containing block of position:fixed elements (input bars), the
    // container inside it scrolls: fixed bars stay put, as on a phone.
    const frame = document.createElement('div');
    frame.className = 'page-frame';
    frame.dataset.route = route;
    const container = document.createElement('div');
    container.className = 'wx-page page-container';
    frame.appendChild(container);
    document.getElementById('pages').appendChild(frame);
    const instance = {};
    for (const [key, value] of Object.entries(def.definition)) {
      instance[key] = typeof value === 'function' ? value : key === 'data' ? undefined : clone(value);
    }
    instance.data = clone(def.definition.data || {});
    instance.route = route;
    instance.options = options;
    let pending = null;
    instance.setData = function (patch, callback) {
      for (const [path, value] of Object.entries(patch || {})) setPath(instance.data, path, clone(value));
      if (!pending) {
        pending = [];
        Promise.resolve().then(() => {
          const callbacks = pending;
          pending = null;
          renderPage(entry);
          callbacks.forEach((fn) => call(fn));
        });
      }
      if (callback) pending.push(callback.bind(instance));
    };
    const entry = { route, instance, container, frame, def, title: def.config.navigationBarTitleText || appConfig.window.navigationBarTitleText };
    container.__entry = entry;
    renderPage(entry);
    return entry;
  }

  function renderPage(entry) {
    try {
      WXML.render(entry.def.template, entry.instance.data, entry.container);
    } catch (err) {
      reportError(err);
    }
  }

  function lifecycle(entry, hook, arg) {
    const fn = entry && entry.instance[hook];
    if (typeof fn === 'function') {
      try {
        const result = fn.call(entry.instance, arg);
        if (result && typeof result.catch === 'function') result.catch(reportError);
      } catch (err) {
        reportError(err);
      }
    }
  }

  function isTab(route) {
    return (appConfig.tabBar ? appConfig.tabBar.list : []).some((t) => t.pagePath === route);
  }

  let navigating = Promise.resolve();

  function navigate(kind, o) {
    navigating = navigating.then(() => doNavigate(kind, o)).then(
      () => call(o.success, { errMsg: kind + ':ok' }),
      (err) => {
        reportError(err);
        call(o.fail, { errMsg: kind + ':fail ' + err.message });
      },
    );
  }

  async function doNavigate(kind, o) {
    const current = stack[stack.length - 1];
    if (kind === 'navigateBack') {
      const delta = Math.max(1, o.delta || 1);
      if (stack.length <= 1) return;
      lifecycle(current, 'onHide');
      for (let i = 0; i < delta && stack.length > 1; i++) unload(stack.pop());
      show(stack[stack.length - 1]);
      return;
    }
    const { route, options } = parseUrl(o.url);
    const def = await loadPage(route);
    if (kind === 'switchTab') {
      if (!isTab(route)) throw new Error(route + ' is not a tab page');
      if (current) lifecycle(current, 'onHide');
      while (stack.length) {
        const entry = stack.pop();
        if (!isTab(entry.route)) unload(entry);
      }
      let entry = tabPages.get(route);
      const fresh = !entry;
      if (fresh) {
        entry = createInstance(route, def, {});
        tabPages.set(route, entry);
      }
      stack.push(entry);
      if (fresh) lifecycle(entry, 'onLoad', {});
      show(entry);
      return;
    }
    if (kind === 'reLaunch') {
      while (stack.length) unload(stack.pop());
      for (const entry of tabPages.values()) unload(entry);
      tabPages.clear();
    } else if (current) {
      lifecycle(current, 'onHide');
      if (kind === 'redirectTo') unload(stack.pop());
    }
    const entry = createInstance(route, def, options);
    if (isTab(route)) tabPages.set(route, entry);
    stack.push(entry);
    lifecycle(entry, 'onLoad', options);
    show(entry);
  }

  function unload(entry) {
    if (isTab(entry.route) && tabPages.get(entry.route) === entry) {
      entry.frame.hidden = true;
      return;
    }
    lifecycle(entry, 'onUnload');
    entry.frame.remove();
  }

  function show(entry) {
    for (const el of document.querySelectorAll('.page-frame')) el.hidden = el !== entry.frame;
    renderChrome();
    lifecycle(entry, 'onShow');
  }

  function renderChrome() {
    const top = stack[stack.length - 1];
    document.getElementById('nav-title').textContent = top ? top.title || '' : '';
    document.getElementById('nav-back').hidden = stack.length <= 1;
    const bar = document.getElementById('tabbar');
    const tabs = appConfig && appConfig.tabBar ? appConfig.tabBar.list : [];
    bar.hidden = !top || !isTab(top.route);
    bar.innerHTML = '';
    tabs.forEach((tab, index) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'tab' + (top && top.route === tab.pagePath ? ' selected' : '');
      button.dataset.path = tab.pagePath;
      button.textContent = tab.text;
      if (badges[index]) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = badges[index];
        button.appendChild(badge);
      }
      button.addEventListener('click', () => wx.switchTab({ url: '/' + tab.pagePath }));
      bar.appendChild(button);
    });
    const elder = !!(appInstance && appInstance.globalData && appInstance.globalData.elder);
    document.getElementById('phone').classList.toggle('elder', elder);
    updatePanel();
  }

  // -- events: bindtap, bindinput, bindconfirm, bindblur -----------------------------------------

  function dispatch(event, type) {
    const container = event.target.closest && event.target.closest('.page-container');
    if (!container || !container.__entry) return;
    const instance = container.__entry.instance;
    let el = event.target.nodeType === Node.ELEMENT_NODE ? event.target : event.target.parentElement;
    const targetMeta = (el && el.__wx) || { dataset: {} };
    while (el && el !== container) {
      const meta = el.__wx;
      const binding = meta && meta.events[type];
      if (binding) {
        if (el.hasAttribute('disabled')) return;
        const handler = instance[binding.handler];
        const wxEvent = {
          type,
          timeStamp: event.timeStamp,
          currentTarget: { id: el.id, dataset: meta.dataset },
          target: { id: event.target.id, dataset: targetMeta.dataset },
          detail: type === 'tap' ? { x: event.clientX, y: event.clientY } : { value: el.value },
        };
        if (typeof handler === 'function') {
          try {
            const result = handler.call(instance, wxEvent);
            if (result && typeof result.catch === 'function') result.catch(reportError);
          } catch (err) {
            reportError(err);
          }
        } else {
          console.warn('no handler ' + binding.handler + ' on ' + container.__entry.route);
        }
        if (binding.catch) return;
      }
      el = el.parentElement;
    }
  }

  function bindEvents() {
    const pages = document.getElementById('pages');
    pages.addEventListener('click', (e) => dispatch(e, 'tap'));
    pages.addEventListener('input', (e) => dispatch(e, 'input'));
    pages.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && e.target.tagName === 'INPUT' && !e.isComposing) dispatch(e, 'confirm');
    });
    pages.addEventListener('focusout', (e) => dispatch(e, 'blur'));
    document.getElementById('nav-back').addEventListener('click', () => wx.navigateBack({}));
    const user = document.getElementById('sim-user');
    user.addEventListener('change', () => {
      const next = user.value.trim();
      if (next && next !== sim.user) location.search = '?user=' + encodeURIComponent(next);
    });
    document.getElementById('sim-drop').addEventListener('click', () => sim.dropSockets());
    document.getElementById('sim-offline').addEventListener('click', () => (sim.offline ? sim.goOnline() : sim.goOffline()));
    document.getElementById('sim-restart').addEventListener('click', () => location.reload());
    setInterval(updatePanel, 1000);
  }

  // -- start -------------------------------------------------------------------------------------

  async function start() {
    bindEvents();
    appConfig = JSON.parse(await fetchText('app.json'));
    appConfig.window = appConfig.window || {};
    addStyle(await fetchText('app.wxss').catch(() => ''), 'app');
    await preload('app.js');
    requireModule('app.js');
    if (!appInstance) throw new Error('app.js did not call App()');
    const launch = { path: appConfig.pages[0], query: {}, scene: 1001 };
    if (typeof appInstance.onLaunch === 'function') appInstance.onLaunch(launch);
    const first = params.get('page') || appConfig.pages[0];
    await doNavigate(isTab(first) ? 'switchTab' : 'reLaunch', { url: '/' + first });
    if (typeof appInstance.onShow === 'function') appInstance.onShow(launch);
    sim.ready = true;
    document.body.dataset.ready = 'true';
  }

  window.addEventListener('error', (e) => reportError(e.error || e.message));
  window.addEventListener('unhandledrejection', (e) => reportError(e.reason));
  start().catch((err) => {
    reportError(err);
    document.getElementById('pages').textContent = '模拟器启动失败：' + err.message;
  });
})();
