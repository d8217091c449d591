// A small WXML renderer: the mini-program's own templates, rendered to DOM in a browser.
//
// It covers the subset the 省事 mini-program uses: view, text, button, input, textarea,
// image, scroll-view and block; {{expressions}} in text and attributes; wx:if / wx:elif /
// wx:else; wx:for with wx:for-item / wx:for-index; bindtap / catchtap, bindinput,
// bindconfirm and data-* attributes. Re-rendering patches the DOM in place ("morph"),
// so a focused input keeps its focus and caret while the page calls setData.
(function () {
  'use strict';

  const TAGS = {
    view: 'div', text: 'span', button: 'button', input: 'input', textarea: 'textarea',
    image: 'img', 'scroll-view': 'div', label: 'label', icon: 'i',
  };
  const EVENT_ATTRS = /^(bind|catch):?(tap|input|confirm|blur|focus|change|longpress)$/;
  const MUSTACHE = /\{\{([\s\S]+?)\}\}/g;
  // One {{expression}} and nothing else: the value itself, not its text.
  const ONLY_MUSTACHE = /^\s*\{\{((?:(?!\{\{|\}\})[\s\S])+)\}\}\s*$/;
  const exprCache = new Map();

  function compileExpr(src) {
    let fn = exprCache.get(src);
    if (!fn) {
      // WXML expressions are JavaScript expressions over the page's data.
      // eslint-disable-next-line no-new-func
      fn = new Function('__scope', 'with (__scope) { return (' + src + '); }');
      exprCache.set(src, fn);
    }
    return fn;
  }

  function evaluate(src, scope) {
    try {
      return compileExpr(src)(scope);
    } catch (err) {
      // A missing field renders as empty, as in WeChat.
      return undefined;
    }
  }

  function interpolate(text, scope) {
    const only = text.match(ONLY_MUSTACHE);
    if (only) return evaluate(only[1], scope);
    return text.replace(MUSTACHE, (_, src) => {
      const value = evaluate(src, scope);
      return value === undefined || value === null ? '' : String(value);
    });
  }

  function parse(source) {
    // <template> parses without running anything and keeps unknown tags as elements.
    const holder = document.createElement('template');
    holder.innerHTML = source.replace(/<!--[\s\S]*?-->/g, '');
    return holder.content;
  }

  function truthy(value) {
    return !(value === false || value === undefined || value === null || value === 0 || value === '' || value === 'false');
  }

  function kebabToCamel(name) {
    return name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  }

  // Render the children of a parsed node into an array of DOM nodes.
  function renderChildren(node, scope, out) {
    let chainOpen = false; // an earlier wx:if / wx:elif in this chain rendered
    let inChain = false;
    for (const child of Array.from(node.childNodes)) {
      if (child.nodeType === Node.TEXT_NODE) {
        const text = child.nodeValue;
        if (!text.trim()) continue;
        const value = interpolate(text, scope);
        out.push(document.createTextNode(value === undefined || value === null ? '' : String(value)));
        continue;
      }
      if (child.nodeType !== Node.ELEMENT_NODE) continue;
      if (child.hasAttribute('wx:if')) {
        inChain = true;
        chainOpen = truthy(interpolate(child.getAttribute('wx:if'), scope));
        if (!chainOpen) continue;
      } else if (child.hasAttribute('wx:elif')) {
        if (!inChain || chainOpen) continue;
        chainOpen = truthy(interpolate(child.getAttribute('wx:elif'), scope));
        if (!chainOpen) continue;
      } else if (child.hasAttribute('wx:else')) {
        const skip = !inChain || chainOpen;
        inChain = false;
        if (skip) continue;
      } else {
        inChain = false;
      }
      renderElement(child, scope, out);
    }
  }

  function renderElement(node, scope, out) {
    if (node.hasAttribute('wx:for')) {
      const list = interpolate(node.getAttribute('wx:for'), scope);
      const itemName = node.getAttribute('wx:for-item') || 'item';
      const indexName = node.getAttribute('wx:for-index') || 'index';
      const entries = Array.isArray(list) ? list : typeof list === 'number' ? Array.from({ length: list }, (_, i) => i) : [];
      entries.forEach((item, index) => {
        const inner = Object.create(scope);
        inner[itemName] = item;
        inner[indexName] = index;
        renderOne(node, inner, out);
      });
      return;
    }
    renderOne(node, scope, out);
  }

  function renderOne(node, scope, out) {
    const tag = node.tagName.toLowerCase();
    if (tag === 'block') {
      renderChildren(node, scope, out);
      return;
    }
    const htmlTag = TAGS[tag] || (tag === 'img' ? 'img' : 'div');
    const el = document.createElement(htmlTag);
    const meta = { events: {}, dataset: {}, tag: tag === 'img' ? 'image' : tag };
    let classes = 'wx-' + meta.tag;
    for (const attr of Array.from(node.attributes)) {
      const name = attr.name;
      if (name.startsWith('wx:')) continue;
      const value = interpolate(attr.value, scope);
      const event = name.match(EVENT_ATTRS);
      if (event) {
        meta.events[event[2]] = { handler: String(value), catch: event[1] === 'catch' };
      } else if (name.startsWith('data-')) {
        meta.dataset[kebabToCamel(name.slice(5))] = value;
      } else if (name === 'class') {
        classes += ' ' + (value || '');
      } else if (name === 'hidden') {
        if (truthy(value)) el.setAttribute('hidden', '');
      } else if (name === 'disabled') {
        if (truthy(value)) el.setAttribute('disabled', '');
      } else if (name === 'value' && (htmlTag === 'input' || htmlTag === 'textarea')) {
        meta.value = value === undefined || value === null ? '' : String(value);
      } else if (name === 'password' && truthy(value)) {
        el.setAttribute('type', 'password');
      } else if (name === 'src' && htmlTag === 'img') {
        el.setAttribute('src', value || '');
      } else if (['id', 'style', 'placeholder', 'maxlength', 'type', 'aria-label', 'role'].includes(name)) {
        if (value !== undefined && value !== null && value !== false) el.setAttribute(name, String(value));
      } else if (name === 'scroll-into-view') {
        meta.scrollIntoView = value;
      }
    }
    el.setAttribute('class', classes.trim());
    el.__wx = meta;
    if (htmlTag === 'input' && !el.hasAttribute('type')) el.setAttribute('type', 'text');
    if (htmlTag === 'input' && el.getAttribute('type') === 'idcard') el.setAttribute('type', 'text');
    if (htmlTag === 'button' && !el.hasAttribute('type')) el.setAttribute('type', 'button');
    if (htmlTag !== 'input' && htmlTag !== 'img') {
      const children = [];
      renderChildren(node, scope, children);
      for (const child of children) el.appendChild(child);
    }
    if (meta.value !== undefined) el.value = meta.value;
    out.push(el);
  }

  // Patch ``target`` to look like ``source`` while keeping the nodes that did not change.
  function morph(target, source) {
    if (target.nodeType !== source.nodeType || target.nodeName !== source.nodeName) {
      target.replaceWith(source);
      return source;
    }
    if (target.nodeType === Node.TEXT_NODE) {
      if (target.nodeValue !== source.nodeValue) target.nodeValue = source.nodeValue;
      return target;
    }
    for (const attr of Array.from(target.attributes)) {
      if (!source.hasAttribute(attr.name)) target.removeAttribute(attr.name);
    }
    for (const attr of Array.from(source.attributes)) {
      if (target.getAttribute(attr.name) !== attr.value) target.setAttribute(attr.name, attr.value);
    }
    target.__wx = source.__wx;
    if ((target.nodeName === 'INPUT' || target.nodeName === 'TEXTAREA') && source.__wx && source.__wx.value !== undefined) {
      // The page's data wins, except while the user is typing in this very field.
      if (target.value !== source.__wx.value && document.activeElement !== target) target.value = source.__wx.value;
    }
    morphChildren(target, Array.from(source.childNodes));
    return target;
  }

  function morphChildren(target, sourceChildren) {
    const existing = Array.from(target.childNodes);
    sourceChildren.forEach((child, i) => {
      if (i < existing.length) morph(existing[i], child);
      else target.appendChild(child);
    });
    for (let i = sourceChildren.length; i < existing.length; i++) existing[i].remove();
  }

  function render(template, data, container) {
    const nodes = [];
    renderChildren(template, data, nodes);
    morphChildren(container, nodes);
    for (const el of container.querySelectorAll('*')) {
      const id = el.__wx && el.__wx.scrollIntoView;
      if (id) {
        const anchor = container.querySelector('#' + CSS.escape(id));
        if (anchor) anchor.scrollIntoView({ block: 'end' });
      }
    }
  }

  // WXSS is CSS with rpx (750rpx is the screen's width) and a ``page`` selector.
  function wxssToCss(source, screenWidth) {
    return source
      .replace(/(-?\d*\.?\d+)rpx/g, (_, n) => (parseFloat(n) * screenWidth / 750).toFixed(2) + 'px')
      .replace(/(^|[\s,}])page(?=[\s,{.:])/g, '$1.wx-page');
  }

  window.WXML = { parse, render, wxssToCss, evaluate };
})();
