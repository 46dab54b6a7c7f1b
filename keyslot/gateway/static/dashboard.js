// keyslot dashboard: reads /keyslot/dashboard and follows /events/stream with the API key.
// No framework and no build step; every value from the API is written with textContent.
"use strict";

const KEY_STORAGE = "keyslot.apiKey";
const FEED_LIMIT = 100;
const HOUR = 3600 * 1000;
let apiKey = null;
let refreshTimer = null;
let lastSeq = null;
let streamAbort = null;
const deviceNames = new Map();

function $(sel, root = document) { return root.querySelector(sel); }

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, String(v));
    else node.setAttribute(k, String(v));
  }
  if (text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

function takeKeyFromHash() {
  // http://host:port/#key=seam_… opens the dashboard directly; the fragment never reaches a server.
  const match = /(?:^#|&)key=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return decodeURIComponent(match[1]);
}

async function api(path) {
  const res = await fetch(path, { headers: { Authorization: "Bearer " + apiKey } });
  if (res.status === 401) { throw Object.assign(new Error("the API key was refused"), { status: 401 }); }
  const body = await res.json();
  if (!body.ok) throw new Error(body.error ? body.error.message : "request failed");
  return body;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function maskCode(code) { return code ? "•".repeat(code.length) : "—"; }

// ------------------------------------------------------------------ rendering

function renderSlots(grid, lock) {
  grid.replaceChildren();
  for (const slot of lock.slots) {
    const cell = el("div", {
      class: "slot", role: "gridcell",
      "data-slot-index": slot.index, "data-state": slot.state,
      "data-access-code-id": slot.access_code_id || null,
      "data-pending": slot.pending ? "true" : "false",
      title: slot.state + (slot.name ? ": " + slot.name : ""),
    });
    cell.append(el("span", { class: "idx" }, "#" + slot.index));
    cell.append(el("span", { class: "nm" }, slot.name || (slot.state === "free" ? "" : "(no name)")));
    grid.append(cell);
  }
}

function renderIssues(td, code) {
  for (const e of code.errors || []) td.append(el("span", { class: "issue err", title: e.message }, "✖ " + e.error_code));
  for (const w of code.warnings || []) td.append(el("span", { class: "issue warn", title: w.message }, "⚠ " + w.warning_code));
}

function renderCodes(tbody, lock) {
  tbody.replaceChildren();
  const rows = [...lock.access_codes, ...lock.unmanaged_access_codes];
  if (rows.length === 0) {
    const tr = el("tr");
    tr.append(el("td", { class: "empty", colspan: 7 }, "no access codes"));
    tbody.append(tr);
    return;
  }
  for (const code of rows) {
    const tr = el("tr", { "data-access-code-id": code.access_code_id, "data-status": code.status,
      "data-managed": code.is_managed ? "true" : "false" });
    tr.append(el("td", {}, (code.name || "(no name)") + (code.is_managed ? "" : " · unmanaged")));
    tr.append(el("td", { class: "mono" }, code.appearance ? code.appearance.name : ""));
    const codeCell = el("td", { class: "mono code", title: "click to show" }, maskCode(code.code));
    codeCell.addEventListener("click", () => {
      codeCell.textContent = codeCell.textContent === maskCode(code.code) ? (code.code || "—") : maskCode(code.code);
    });
    tr.append(codeCell);
    const st = el("td");
    st.append(el("span", { class: "status status-" + code.status }, code.status));
    tr.append(st);
    tr.append(el("td", {}, code.type === "time_bound" ? fmtTime(code.starts_at) + " → " + fmtTime(code.ends_at) : "ongoing"));
    const pend = el("td");
    for (const m of code.pending_mutations || []) pend.append(el("span", { class: "issue", title: m.message }, m.mutation_code));
    tr.append(pend);
    const issues = el("td");
    renderIssues(issues, code);
    tr.append(issues);
    tbody.append(tr);
  }
}

function renderTimeline(box, lock, now) {
  box.replaceChildren();
  const codes = lock.access_codes.filter((c) => c.type === "time_bound" && c.starts_at && c.ends_at);
  if (codes.length === 0) {
    box.append(el("div", { class: "empty" }, "no time-bound codes"));
    return;
  }
  let start = Math.min(now - 6 * HOUR, ...codes.map((c) => Date.parse(c.starts_at)));
  let end = Math.max(now + 24 * HOUR, ...codes.map((c) => Date.parse(c.ends_at)));
  const span = Math.max(end - start, HOUR);
  const pct = (t) => ((t - start) / span) * 100;
  for (let i = 0; i <= 4; i++) {
    const t = start + (span * i) / 4;
    box.append(el("span", { class: "axis", style: "left:" + Math.min(96, Math.max(4, pct(t))) + "%" }, fmtTime(new Date(t).toISOString())));
  }
  box.append(el("div", { class: "now", style: "left:" + pct(now) + "%", title: "now" }));
  for (const c of codes) {
    const s = Date.parse(c.starts_at), e = Date.parse(c.ends_at);
    box.append(el("div", {
      class: "bar status-" + c.status, "data-access-code-id": c.access_code_id,
      style: "margin-left:" + pct(s) + "%;width:" + Math.max(0.5, pct(e) - pct(s)) + "%",
      title: (c.name || "") + " " + fmtTime(c.starts_at) + " → " + fmtTime(c.ends_at) + " (" + c.status + ")",
    }, c.name || c.access_code_id.slice(-8)));
  }
}

function render(state) {
  const container = $("#locks");
  const now = Date.parse(state.generated_at) || Date.now();
  const seen = new Set();
  let codes = 0, pending = 0, problems = 0;
  for (const lock of state.locks) {
    const dev = lock.device;
    seen.add(dev.device_id);
    deviceNames.set(dev.device_id, dev.display_name);
    let card = container.querySelector(`article[data-device-id="${CSS.escape(dev.device_id)}"]`);
    if (!card) {
      card = $("#lock-template").content.firstElementChild.cloneNode(true);
      card.setAttribute("data-device-id", dev.device_id);
      container.append(card);
    }
    $(".lock-name", card).textContent = dev.display_name;
    const props = dev.properties || {};
    $(".lock-model", card).textContent = props.model ? props.model.manufacturer_display_name + " " + props.model.display_name : dev.device_type;
    const online = $(".lock-online", card);
    online.textContent = props.online ? "online" : "offline";
    online.className = "lock-online badge " + (props.online ? "online" : "offline");
    const used = lock.slots.filter((s) => s.state !== "free").length;
    $(".lock-counts", card).textContent = used + " of " + lock.slots.length + " slots used";
    renderSlots($(".slot-grid", card), lock);
    renderCodes($("table.codes tbody", card), lock);
    renderTimeline($(".timeline", card), lock, now);
    codes += lock.access_codes.length;
    pending += lock.access_codes.filter((c) => (c.pending_mutations || []).length > 0).length;
    problems += lock.access_codes.filter((c) => (c.errors || []).length > 0).length;
  }
  for (const card of container.querySelectorAll("article.lock")) {
    if (!seen.has(card.getAttribute("data-device-id"))) card.remove();
  }
  $("#summary").textContent = state.locks.length + " locks · " + codes + " access codes · " + pending + " pending · " + problems + " with errors";
}

async function refresh() {
  refreshTimer = null;
  try {
    render(await api("/keyslot/dashboard"));
  } catch (err) {
    if (err.status === 401) { logout("The API key was refused."); return; }
    $("#summary").textContent = "cannot read the gateway: " + err.message;
  }
}

function scheduleRefresh(delay = 150) {
  if (refreshTimer === null) refreshTimer = setTimeout(refresh, delay);
}

// ------------------------------------------------------------------ live events

function addToFeed(event) {
  const feed = $("#feed");
  const li = el("li", { "data-event-type": event.event_type });
  li.append(el("span", { class: "t" }, fmtTime(event.occurred_at || event.created_at)));
  li.append(el("span", { class: "ty" }, event.event_type));
  const where = deviceNames.get(event.device_id);
  if (where) li.append(el("span", { class: "muted" }, " · " + where));
  feed.prepend(li);
  while (feed.children.length > FEED_LIMIT) feed.lastElementChild.remove();
}

function handleChunk(chunk) {
  let id = null, data = "";
  for (const line of chunk.split("\n")) {
    if (line.startsWith("id:")) id = line.slice(3).trim();
    else if (line.startsWith("data:")) data += line.slice(5).trim();
  }
  if (id !== null) lastSeq = id;
  if (!data) return;
  try { addToFeed(JSON.parse(data)); } catch (_) { return; }
  scheduleRefresh();
}

function setLive(on) {
  const badge = $("#live");
  badge.textContent = on ? "live" : "offline";
  badge.className = "badge " + (on ? "live" : "offline");
}

async function follow() {
  while (apiKey) {
    streamAbort = new AbortController();
    try {
      const headers = { Authorization: "Bearer " + apiKey };
      if (lastSeq !== null) headers["Last-Event-ID"] = lastSeq;
      const res = await fetch("/events/stream" + (lastSeq === null ? "?tail=30" : ""), { headers, signal: streamAbort.signal });
      if (res.status === 401) { logout("The API key was refused."); return; }
      if (!res.ok || !res.body) throw new Error("stream refused");
      setLive(true);
      scheduleRefresh(0);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handleChunk(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (_) {
      // fall through: reconnect below
    }
    setLive(false);
    if (!apiKey) return;
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ------------------------------------------------------------------ key handling

function logout(message) {
  apiKey = null;
  sessionStorage.removeItem(KEY_STORAGE);
  if (streamAbort) streamAbort.abort();
  $("#main").hidden = true;
  $("#logout").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message || "";
  setLive(false);
}

function start(key) {
  apiKey = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("#login").hidden = true;
  $("#main").hidden = false;
  $("#logout").hidden = false;
  refresh();
  follow();
  setInterval(() => { if (apiKey) scheduleRefresh(0); }, 15000);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("#key-input").value.trim();
    if (key) start(key);
  });
  $("#logout").addEventListener("click", () => logout(""));
  const key = takeKeyFromHash() || sessionStorage.getItem(KEY_STORAGE);
  if (key) start(key); else logout("");
});
