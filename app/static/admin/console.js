// The operations console: plain JavaScript over /api/v1/admin (no build step).
// Everything shown comes from the API and is set with textContent, never as HTML.
"use strict";

const API = "/api/v1/admin";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("shengshi-staff-token") || "";
let me = null;
let currentIntent = null;
let currentHandoff = null;
let lastMessageId = 0;
let handoffTimer = null;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) {
    showLogin();
    throw new Error(data.error ? data.error.message : "Please log in again");
  }
  if (!response.ok) throw new Error(data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${response.status}`);
  return data;
}

function guard(fn) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try {
      await fn(event);
    } catch (error) {
      say(error.message, true);
    }
  };
}

// -- session ---------------------------------------------------------------------

function showLogin() {
  token = "";
  sessionStorage.removeItem("shengshi-staff-token");
  $("login-view").hidden = false;
  $("tabs").hidden = true;
  $("who").hidden = true;
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = true));
}

async function login() {
  const body = { username: $("login-username").value, password: $("login-password").value };
  if ($("login-totp").value) body.totp_code = $("login-totp").value;
  const response = await fetch(API + "/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ? data.error.message : "Login failed");
  token = data.access_token;
  sessionStorage.setItem("shengshi-staff-token", token);
  $("login-password").value = "";
  $("login-totp").value = "";
  await start();
}

async function start() {
  me = await api("GET", "/me");
  $("login-view").hidden = true;
  $("tabs").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = me.username;
  $("who-role").textContent = me.role;
  say(`已登录 Logged in as ${me.username} (${me.role})`);
  const first = me.role === "agent" ? "handoff" : me.role === "clerk" ? "audit" : "intents";
  await openTab(first);
}

async function openTab(name) {
  document.querySelectorAll("#tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
  document.querySelectorAll(".tab").forEach((t) => (t.hidden = t.id !== "tab-" + name));
  if (handoffTimer) clearInterval(handoffTimer);
  handoffTimer = null;
  const loaders = { intents: loadIntents, publish: loadDraft, releases: loadReleases, learning: loadClusters,
                    handoff: loadHandoffs, deliveries: loadDeliveries, accounts: loadAccounts, audit: loadAudit };
  await loaders[name]();
  if (name === "handoff") handoffTimer = setInterval(() => pollHandoff().catch(() => {}), 2000);
}

// -- intents -----------------------------------------------------------------------

let intentQuery = 0;

async function loadIntents() {
  const q = $("intent-search").value.trim();
  // Only the latest search is shown: an earlier, slower answer must not replace it.
  const mine = ++intentQuery;
  const data = await api("GET", "/intents" + (q ? "?q=" + encodeURIComponent(q) : ""));
  if (mine !== intentQuery) return;
  const list = $("intent-list");
  list.dataset.query = q;
  list.replaceChildren(...data.items.map((i) =>
    el("li", { dataset: { id: i.id }, onclick: guard(() => showIntent(i.id)) },
      el("strong", {}, i.name), " ", el("span", { class: "muted" }, i.id), i.edited ? el("span", { class: "badge" }, "已改 edited") : null)));
  const synonyms = await api("GET", "/synonyms");
  $("synonym-list").replaceChildren(...Object.entries(synonyms.synonyms).map(([word, values]) =>
    el("li", {}, `${word} → ${values.join("、")} `, el("button", { type: "button", onclick: guard(async () => {
      await api("DELETE", "/synonyms/" + encodeURIComponent(word)); say(`已删除同义词 ${word}`); await loadIntents();
    }) }, "×"))));
  $("dictionary-input").value = synonyms.dictionary.join("\n");
  const families = await api("GET", "/families");
  $("family-list").replaceChildren(...families.families.map((f) =>
    el("li", {}, `${f.id}: ${f.question} [${f.options.map((o) => o.label).join(" / ")}] `,
      el("button", { type: "button", onclick: () => { $("family-id").value = f.id; $("family-json").value = JSON.stringify({ name: f.name, question: f.question, options: f.options }, null, 1); } }, "编辑 edit"))));
}

async function showIntent(id) {
  const intent = await api("GET", "/intents/" + encodeURIComponent(id));
  currentIntent = intent;
  document.querySelectorAll("#intent-list li").forEach((li) => li.classList.toggle("selected", li.dataset.id === id));
  $("intent-detail").hidden = false;
  $("intent-title").textContent = `${intent.name}`;
  $("intent-meta").textContent = `${intent.id} · ${intent.kind === "custom" ? "自定义意图 custom" : "事项 catalog item"} → ${intent.items.join(", ")} · 草稿版本 draft v${intent.draft_version}`;
  const chips = (values, base, field) => values.map((value) =>
    el("li", { class: base.includes(value) ? "" : "console" }, value,
      el("button", { type: "button", title: "remove", onclick: guard(async () => {
        await api("PUT", "/intents/" + encodeURIComponent(id), { [field]: values.filter((v) => v !== value) });
        say(`已移除 removed: ${value}`); await showIntent(id);
      }) }, "×")));
  $("intent-phrases").replaceChildren(...chips(intent.phrases, intent.catalog_phrases, "phrases"));
  $("intent-keywords").replaceChildren(...chips(intent.keywords, intent.catalog_keywords, "keywords"));
  $("template-input").value = intent.answer_template || "";
  $("intent-families").textContent = intent.families.map((f) => `${f.id}: ${f.question}`).join("\n") || "—";
}

async function addPhrase() {
  if (!currentIntent) throw new Error("先选择一个意图 Pick an intent first");
  const text = $("phrase-input").value.trim();
  if (!text) return;
  const result = await api("POST", `/intents/${encodeURIComponent(currentIntent.id)}/phrases`, { text });
  $("phrase-input").value = "";
  say(`已加入草稿 Added to the draft (v${result.draft_version}): ${text}`);
  await showIntent(currentIntent.id);
}

async function addKeyword() {
  if (!currentIntent) throw new Error("先选择一个意图 Pick an intent first");
  const text = $("keyword-input").value.trim();
  if (!text) return;
  await api("PUT", "/intents/" + encodeURIComponent(currentIntent.id), { keywords: [...currentIntent.keywords, text] });
  $("keyword-input").value = "";
  await showIntent(currentIntent.id);
}

async function saveTemplate() {
  if (!currentIntent) throw new Error("先选择一个意图 Pick an intent first");
  await api("PUT", "/intents/" + encodeURIComponent(currentIntent.id), { answer_template: $("template-input").value });
  say("模板已保存到草稿 Template saved in the draft");
}

async function createIntent() {
  const phrases = $("intent-new-phrases").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const items = $("intent-new-items").value.split(/[,，\s]+/).filter(Boolean);
  const made = await api("POST", "/intents", { name: $("intent-new-name").value, items, phrases });
  say(`已创建 Created ${made.id}`);
  await loadIntents();
  await showIntent(made.id);
}

async function saveSynonym() {
  const word = $("synonym-word").value.trim();
  const values = $("synonym-values").value.split(/[,，、\s]+/).filter(Boolean);
  await api("PUT", "/synonyms/" + encodeURIComponent(word), { values });
  say(`同义词已保存 Synonym saved: ${word}`);
  await loadIntents();
}

async function saveDictionary() {
  const words = $("dictionary-input").value.split("\n").map((s) => s.trim()).filter(Boolean);
  await api("PUT", "/dictionary", { words });
  say("词典已保存 Dictionary saved");
}

async function saveFamily() {
  let body;
  try { body = JSON.parse($("family-json").value); } catch (error) { throw new Error("问题组须为 JSON The family must be JSON"); }
  await api("PUT", "/families/" + encodeURIComponent($("family-id").value.trim()), body);
  say("问题组已保存 Family saved");
  await loadIntents();
}

// -- test, replay, publish --------------------------------------------------------------

function explanation(result) {
  return el("div", {},
    el("p", {}, el("span", { class: "badge" }, result.action), " ", result.reply),
    el("p", { class: "muted" }, "分词 tokens: " + result.tokens.join(" / ")),
    ...result.candidates.map((c, index) => el("div", { class: "candidate", dataset: { code: c.code, rank: String(index + 1) } },
      `${index + 1}. ${c.name} (${c.code}) score ${c.score} · coverage ${c.coverage} · 匹配 matched: ${c.matched.join("、") || "—"}`)));
}

async function runTest() {
  const text = $("test-input").value.trim();
  if (!text) return;
  const result = await api("POST", "/intents/test", { text });
  $("test-draft").replaceChildren(explanation(result.draft));
  $("test-live").replaceChildren(explanation(result.live));
}

async function loadDraft() {
  const draft = await api("GET", "/draft");
  $("draft-state").textContent = `v${draft.draft_version} · 线上 live #${draft.live}` + (draft.edited ? " · 有修改 edited" : " · 无修改 unchanged") + (draft.replayed ? " · 已回放 replayed" : "");
  $("draft-diff").textContent = draft.diff.changed ? JSON.stringify(draft.diff, null, 1) : "与线上版本相同 Same as the live release";
}

async function runReplay() {
  say("回放中 Replaying …");
  const report = await api("POST", "/intents/replay", {});
  const dev = report.dev;
  const pct = (x) => (x * 100).toFixed(1) + "%";
  $("replay-report").replaceChildren(
    el("p", { id: "replay-summary" }, `最近问题 ${report.questions} 条，答案变化 ${report.changed_count} 条` +
      (dev ? ` · 开发集 ${dev.rows} 条 top-1 ${pct(dev.before.top1)} → ${pct(dev.after.top1)}，top-3 ${pct(dev.before.top3)} → ${pct(dev.after.top3)}` : "")),
    el("table", {}, el("tbody", {}, ...report.changed.map((c) => el("tr", {},
      el("td", {}, c.text), el("td", {}, `${c.before.action} ${c.before.name || ""}`), el("td", { class: "changed" }, `→ ${c.after.action} ${c.after.name || ""}`))))));
  say("回放完成，可以发布 Replay done: ready to publish");
  await loadDraft();
}

async function publish() {
  const release = await api("POST", "/intents/publish", { note: $("publish-note").value });
  say(`已发布版本 Published release #${release.number}`);
  $("publish-note").value = "";
  await loadDraft();
}

async function discardDraft() {
  if (!confirm("丢弃草稿中的所有修改？ Discard every change in the draft?")) return;
  await api("DELETE", "/draft");
  say("草稿已丢弃 Draft discarded");
  await loadDraft();
}

// -- releases --------------------------------------------------------------------------

async function loadReleases() {
  const data = await api("GET", "/releases");
  $("release-rows").replaceChildren(...data.items.map((r) => el("tr", { dataset: { number: String(r.number) } },
    el("td", {}, `#${r.number}`, r.live ? el("span", { class: "badge" }, " 线上 live") : null),
    el("td", {}, r.note), el("td", {}, r.created_by), el("td", {}, new Date(r.created_at).toLocaleString()),
    el("td", {}, r.replay && r.replay.dev ? `top-1 ${(r.replay.dev.after.top1 * 100).toFixed(1)}%` : "—"),
    el("td", {}, r.live ? "" : el("button", { type: "button", class: "rollback", onclick: guard(async () => {
      await api("POST", `/releases/${r.number}/rollback`);
      say(`已切换到版本 Release #${r.number} is live`);
      await loadReleases();
    }) }, "回滚到此版本 Roll back to this")))));
}

async function showDiff() {
  const from = $("diff-from").value.trim();
  const to = $("diff-to").value.trim();
  const query = new URLSearchParams();
  if (from) query.set("from", from);
  if (to) query.set("to", to);
  $("diff-output").textContent = JSON.stringify(await api("GET", "/releases/diff?" + query), null, 1);
}

// -- learning ----------------------------------------------------------------------------

async function loadClusters() {
  const data = await api("GET", "/clusters");
  $("cluster-list").replaceChildren(...data.items.map((c) => {
    const intent = el("input", { placeholder: "意图编码 intent id" });
    const word = el("input", { placeholder: "同义词 word" });
    const values = el("input", { placeholder: "规范词 official words" });
    const name = el("input", { placeholder: "新意图名称 new intent name" });
    const items = el("input", { placeholder: "事项编码 item codes" });
    const act = (decision, extra) => guard(async () => {
      await api("POST", `/clusters/${c.id}/resolve`, { decision, ...extra() });
      say(`已处理 Done: ${c.leader} (${decision})`);
      await loadClusters();
    });
    return el("div", { class: "cluster", dataset: { id: c.id } },
      el("strong", {}, `${c.leader}`), ` × ${c.count} · ${Object.entries(c.kinds).map(([k, v]) => `${k} ${v}`).join(", ")}`,
      el("ul", {}, ...c.texts.map((t) => el("li", {}, `${t.text} (${t.count})`))),
      el("form", { onsubmit: act("phrases", () => ({ intent_id: intent.value.trim() })) }, intent, el("button", { type: "submit" }, "加为训练说法 Add as phrases")),
      el("form", { onsubmit: act("synonym", () => ({ word: word.value.trim(), values: values.value.split(/[,，、\s]+/).filter(Boolean) })) }, word, values, el("button", { type: "submit" }, "加为同义词 Add synonym")),
      el("form", { onsubmit: act("new_intent", () => ({ name: name.value.trim(), items: items.value.split(/[,，\s]+/).filter(Boolean) })) }, name, items, el("button", { type: "submit" }, "新建意图 New intent")),
      el("button", { type: "button", onclick: act("dismiss", () => ({})) }, "忽略 Dismiss"));
  }));
  if (!data.items.length) $("cluster-list").replaceChildren(el("p", { class: "muted" }, "暂无 Nothing to look at"));
}

// -- hand-off ------------------------------------------------------------------------------

async function loadHandoffs() {
  const data = await api("GET", "/handoffs");
  $("handoff-list").replaceChildren(...data.items.map((h) => el("li", { dataset: { id: String(h.id) }, onclick: guard(() => showHandoff(h.id)) },
    `#${h.id} · ${h.status} · ${h.channel} · ${h.reason === "asked" ? "要求人工 asked" : "两次未识别 failed twice"}` + (h.agent ? ` · ${h.agent}` : ""))));
  if (!data.items.length) $("handoff-list").replaceChildren(el("li", { class: "muted" }, "没有排队 Nobody waiting"));
}

async function showHandoff(id) {
  const handoff = await api("GET", `/handoffs/${id}`);
  currentHandoff = handoff;
  $("handoff-detail").hidden = false;
  $("handoff-title").textContent = `#${handoff.id} · ${handoff.status}` + (handoff.agent ? ` · ${handoff.agent}` : "");
  const ctx = handoff.context;
  $("handoff-context").textContent = `身份 Identity: ${ctx.identity_level}\n事项 Item: ${ctx.item ? ctx.item.name + " (" + ctx.item.code + ")" : "—"}\n` +
    `办件 Open applications: ${ctx.applications.map((a) => `#${a.id} ${a.service_name} ${a.status}`).join("; ") || "—"}`;
  $("handoff-messages").replaceChildren();
  lastMessageId = 0;
  appendMessages(handoff.messages);
}

function appendMessages(messages) {
  const list = $("handoff-messages");
  for (const m of messages) {
    list.append(el("li", { class: m.from }, `${m.from}: ${m.text}`));
    lastMessageId = Math.max(lastMessageId, m.id);
  }
  list.scrollTop = list.scrollHeight;
}

async function pollHandoff() {
  await loadHandoffs();
  if (!currentHandoff) return;
  const handoff = await api("GET", `/handoffs/${currentHandoff.id}?after=${lastMessageId}`);
  currentHandoff = handoff;
  $("handoff-title").textContent = `#${handoff.id} · ${handoff.status}` + (handoff.agent ? ` · ${handoff.agent}` : "");
  appendMessages(handoff.messages);
}

async function handoffAction(path, body) {
  if (!currentHandoff) throw new Error("先选择一个对话 Pick a chat first");
  await api("POST", `/handoffs/${currentHandoff.id}/${path}`, body);
  await pollHandoff();
}

async function sendReply() {
  const text = $("handoff-reply").value.trim();
  if (!text) return;
  await handoffAction("messages", { text });
  $("handoff-reply").value = "";
  say("已发送 Sent");
}

// -- notification deliveries --------------------------------------------------------------

const CHANNELS = { inapp: "站内消息", subscribe: "订阅消息", template: "公众号模板消息" };
const DELIVERY_STATUS = { uncertain: "可能已发送", dead: "已放弃", replaying: "重发中", retrying: "重试中",
                          refused: "被拒收", sent: "已发送", skipped: "未发送", claimed: "处理中", sending: "发送中" };

async function loadDeliveries() {
  const status = $("delivery-status").value;
  const data = await api("GET", "/deliveries?status=" + encodeURIComponent(status));
  $("delivery-rows").replaceChildren(...data.items.map((d) => el("tr", { dataset: { key: d.idempotency_key } },
    el("td", {}, d.idempotency_key), el("td", {}, CHANNELS[d.channel] || d.channel),
    el("td", {}, DELIVERY_STATUS[d.status] || d.status), el("td", {}, d.attempts), el("td", {}, d.detail),
    el("td", {}, new Date(d.updated_at).toLocaleString()),
    el("td", {}, ["uncertain", "dead"].includes(d.status) ? el("button", { type: "button", class: "replay-delivery",
      onclick: guard(() => replayDelivery(d)) }, "重发 Replay") : null))));
  if (!data.items.length) $("delivery-rows").replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "muted" }, "暂无 Nothing here")));
}

async function replayDelivery(d) {
  const question = d.status === "uncertain"
    ? "这条消息可能已经送达。已向群众核实未收到，确定重发一次？ It may have arrived already: replay once?"
    : "确定重发一次？ Replay once?";
  if (!confirm(question)) return;
  await api("POST", "/deliveries/replay", { idempotency_key: d.idempotency_key });
  say(`已安排重发 Replaying ${d.idempotency_key}`);
  await loadDeliveries();
}

// -- accounts and audit -----------------------------------------------------------------

async function loadAccounts() {
  if (!me || me.role !== "admin") {
    $("account-rows").replaceChildren(el("tr", {}, el("td", {}, "仅管理员 Admins only")));
    return;
  }
  const data = await api("GET", "/staff");
  $("account-rows").replaceChildren(...data.items.map((s) => el("tr", {},
    el("td", {}, s.id), el("td", {}, s.username), el("td", {}, s.role), el("td", {}, s.is_active ? "yes" : "no"),
    el("td", {}, s.totp_enrolled ? "yes" : "no"),
    el("td", {}, el("button", { type: "button", onclick: guard(async () => {
      await api("PATCH", `/staff/${s.id}`, { is_active: !s.is_active }); await loadAccounts();
    }) }, s.is_active ? "停用 Disable" : "启用 Enable")))));
}

async function createAccount() {
  const made = await api("POST", "/staff", { username: $("account-username").value.trim(), role: $("account-role").value });
  $("account-created").textContent = `已创建 ${made.username} (${made.role})\n初始密码 password: ${made.password}\nTOTP: ${made.totp_secret}\n${made.totp_uri}\n（只显示一次 shown once）`;
  await loadAccounts();
}

async function loadAudit() {
  if (!me || me.role !== "admin") {
    $("audit-rows").replaceChildren(el("tr", {}, el("td", {}, "仅管理员 Admins only")));
    return;
  }
  const action = $("audit-action").value.trim();
  const data = await api("GET", "/audit" + (action ? "?action=" + encodeURIComponent(action) : ""));
  const short = (value) => (value === null || value === undefined ? "" : JSON.stringify(value).slice(0, 300));
  $("audit-rows").replaceChildren(...data.items.map((e) => el("tr", {},
    el("td", {}, e.id), el("td", {}, new Date(e.at).toLocaleString()), el("td", {}, e.staff), el("td", {}, e.action),
    el("td", {}, e.target), el("td", {}, el("pre", {}, short(e.before))), el("td", {}, el("pre", {}, short(e.after))))));
}

// -- wiring -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", guard(login));
  $("logout").addEventListener("click", guard(async () => { await api("POST", "/logout"); showLogin(); say("已退出 Logged out"); }));
  document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", guard(() => openTab(b.dataset.tab))));
  $("intent-search-form").addEventListener("submit", guard(loadIntents));
  $("intent-new-form").addEventListener("submit", guard(createIntent));
  $("phrase-form").addEventListener("submit", guard(addPhrase));
  $("keyword-form").addEventListener("submit", guard(addKeyword));
  $("template-form").addEventListener("submit", guard(saveTemplate));
  $("synonym-form").addEventListener("submit", guard(saveSynonym));
  $("dictionary-form").addEventListener("submit", guard(saveDictionary));
  $("family-form").addEventListener("submit", guard(saveFamily));
  $("test-form").addEventListener("submit", guard(runTest));
  $("replay-run").addEventListener("click", guard(runReplay));
  $("publish-run").addEventListener("click", guard(publish));
  $("draft-discard").addEventListener("click", guard(discardDraft));
  $("diff-form").addEventListener("submit", guard(showDiff));
  $("clusters-refresh").addEventListener("click", guard(loadClusters));
  $("handoff-refresh").addEventListener("click", guard(loadHandoffs));
  $("handoff-claim").addEventListener("click", guard(() => handoffAction("claim")));
  $("handoff-return").addEventListener("click", guard(() => handoffAction("release", { close: false })));
  $("handoff-close").addEventListener("click", guard(() => handoffAction("release", { close: true })));
  $("handoff-reply-form").addEventListener("submit", guard(sendReply));
  $("account-form").addEventListener("submit", guard(createAccount));
  $("audit-form").addEventListener("submit", guard(loadAudit));
  $("delivery-form").addEventListener("submit", guard(loadDeliveries));
  if (token) start().catch(() => showLogin());
  else showLogin();
});
