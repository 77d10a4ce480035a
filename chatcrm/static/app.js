// chatcrm dashboard: the customer report over the JSON API. Every value from the server is
// put into the page with textContent / DOM nodes, never as HTML.
"use strict";

const TEXT = {
  en: {
    statPaid: "Paid total", statOrders: "Orders", statAverage: "Average order",
    statRecent: "Last 3 months", statUnpaid: "Unpaid", statLast: "Last order",
    inviteTitle: "Join the shop: choose your password", resetTitle: "Choose a new password",
    mismatch: "The two passwords differ", sessionEnded: "Your session has ended: sign in again",
    linkSent: "If the address has an account, a link is on its way.",
    err_wrong_credentials: "Wrong e-mail or password",
    err_too_many_attempts: "Too many failed sign-ins: try again in {minutes} min",
    err_link_expired: "This link has expired or was already used: ask for a new one",
    err_mail_unavailable: "E-mail is not set up here: ask your shop's owner for a reset link",
  },
  th: {
    signOut: "ออกจากระบบ", signIn: "เข้าสู่ระบบ", signInTitle: "เข้าสู่ระบบร้านของคุณ",
    email: "อีเมล", password: "รหัสผ่าน", forgot: "ลืมรหัสผ่าน?", forgotTitle: "ตั้งรหัสผ่านใหม่",
    sendLink: "ส่งลิงก์ให้ฉัน", newPassword: "รหัสผ่านใหม่ (อย่างน้อย 10 ตัวอักษร)",
    repeatPassword: "พิมพ์รหัสผ่านอีกครั้ง", savePassword: "บันทึกรหัสผ่านและเข้าสู่ระบบ",
    inviteTitle: "เข้าร่วมร้าน: ตั้งรหัสผ่านของคุณ", resetTitle: "ตั้งรหัสผ่านใหม่",
    mismatch: "รหัสผ่านทั้งสองช่องไม่ตรงกัน", sessionEnded: "เซสชันหมดอายุ กรุณาเข้าสู่ระบบอีกครั้ง",
    linkSent: "หากอีเมลนี้มีบัญชีอยู่ เราได้ส่งลิงก์ไปให้แล้ว",
    err_wrong_credentials: "อีเมลหรือรหัสผ่านไม่ถูกต้อง",
    err_too_many_attempts: "เข้าสู่ระบบผิดหลายครั้งเกินไป ลองใหม่ในอีก {minutes} นาที",
    err_link_expired: "ลิงก์นี้หมดอายุหรือถูกใช้ไปแล้ว กรุณาขอลิงก์ใหม่",
    err_mail_unavailable: "ระบบนี้ยังไม่ได้ตั้งค่าอีเมล กรุณาขอลิงก์ตั้งรหัสผ่านจากเจ้าของร้าน",
    customers: "ลูกค้า", paidTotal: "ยอดชำระรวม", byChannel: "ตามช่องทางแชท (มากสุด → น้อยสุด)",
    byTag: "ตามแท็ก", byProvince: "ตามจังหวัด", channel: "ช่องทาง", province: "จังหวัด",
    postalCode: "รหัสไปรษณีย์", updatedFrom: "อัปเดตตั้งแต่", updatedTo: "ถึง", tag: "แท็ก",
    search: "ค้นหา", apply: "กรอง", clear: "ล้าง", exportSelected: "ส่งออกที่เลือก",
    exportFiltered: "ส่งออกตามตัวกรอง", exportAll: "ส่งออกลูกค้าทั้งหมด", name: "ชื่อ",
    tags: "แท็ก", status: "สถานะ", paidAmount: "ยอดชำระ", orders: "คำสั่งซื้อ",
    updated: "อัปเดตล่าสุด", more: "โหลดเพิ่ม", tagsComma: "แท็ก (คั่นด้วยจุลภาค)", notes: "บันทึก",
    save: "บันทึก", ordersTitle: "คำสั่งซื้อ", history: "ดูประวัติการสนทนา",
    olderMessages: "ข้อความก่อนหน้า", replyLabel: "ตอบลูกค้า", send: "ส่ง",
    statPaid: "ยอดชำระรวม", statOrders: "จำนวนคำสั่งซื้อ", statAverage: "ยอดเฉลี่ยต่อคำสั่งซื้อ",
    statRecent: "3 เดือนล่าสุด", statUnpaid: "ค้างชำระ", statLast: "สั่งซื้อล่าสุด",
  },
};

const state = {
  csrf: null, shop: null, role: null, filters: new URLSearchParams(), order: "asc",
  cursor: null, selected: new Set(), current: null, messagesCursor: null,
  messagesShown: new Set(), messagesLoading: false,
};

const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function money(minor, currency) {
  const cur = currency || (state.shop && state.shop.currency) || "THB";
  const fmt = new Intl.NumberFormat(state.shop && state.shop.locale === "th" ? "th-TH" : "en-US",
    { style: "currency", currency: cur });
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format((minor || 0) / 10 ** digits);
}

function when(iso) {
  if (!iso) return "";
  const tz = (state.shop && state.shop.timezone) || undefined;
  return new Date(iso).toLocaleString(state.shop && state.shop.locale === "th" ? "th-TH" : "en-GB",
    { timeZone: tz, dateStyle: "medium", timeStyle: "short" });
}

function uiLocale() {
  if (state.shop) return state.shop.locale;
  return (navigator.language || "en").toLowerCase().startsWith("th") ? "th" : "en";
}

function t(key, values = {}) {
  const text = (TEXT[uiLocale()] || {})[key] || TEXT.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// Calls the JSON API with the session cookie; unsafe methods carry the session's CSRF token.
// `anonymous` calls (sign-in and its links) answer their own errors instead of signing out.
async function api(path, options = {}) {
  const { anonymous, json, ...init } = options;
  const headers = { ...(init.headers || {}) };
  if (json !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(json); }
  if (state.csrf && !["GET", "HEAD"].includes((init.method || "GET").toUpperCase())) {
    headers["X-CSRF-Token"] = state.csrf;
  }
  const response = await fetch(path, { ...init, headers, credentials: "same-origin" });
  if (response.status === 401 && !anonymous) { showSignIn(t("sessionEnded")); throw new Error("unauthorized"); }
  if (!response.ok) {
    let message = `${response.status}`;
    let code = null;
    let retryAfter = 0;
    try {
      const body = await response.json();
      code = body.error.code; retryAfter = body.error.retry_after || 0;
      message = body.error.message + (body.error.field ? ` (${body.error.field})` : "");
    } catch (_) { /* not JSON */ }
    const key = `err_${code}`;
    if (TEXT.en[key]) message = t(key, { minutes: Math.ceil(retryAfter / 60) });
    const err = new Error(message);
    err.status = response.status; err.code = code;
    throw err;
  }
  return response;
}

function translate(locale) {
  const table = TEXT[locale] || {};
  document.documentElement.lang = locale;
  for (const node of document.querySelectorAll("[data-i18n]")) {
    const key = node.dataset.i18n;
    if (!node.dataset.en) node.dataset.en = node.textContent;
    node.textContent = table[key] || node.dataset.en;
  }
}

function show(section) {
  for (const id of ["sign-in", "set-password", "report"]) $(`#${id}`).hidden = id !== section;
  $("#sign-out").hidden = section !== "report";
  if (section !== "report") $("#detail").hidden = true;
}

function showSignIn(message = "") {
  state.csrf = null; state.shop = null; state.role = null; state.current = null;
  $("#shop-name").textContent = ""; $("#user-email").textContent = "";
  $("#customers tbody").replaceChildren();
  translate(uiLocale());
  $("#sign-in-form").hidden = false; $("#forgot-form").hidden = true;
  $("#sign-in-error").textContent = message;
  show("sign-in");
}

async function signOut() {
  try { await api("/api/v1/session", { method: "DELETE", anonymous: true }); } catch (_) { /* gone already */ }
  showSignIn();
}

// A live session: its CSRF token, then the shop and the report.
async function enter(session) {
  state.csrf = session.csrf_token;
  const shop = await (await api("/api/v1/shop")).json();
  state.shop = shop; state.role = shop.role;
  $("#shop-name").textContent = shop.name;
  $("#user-email").textContent = session.email;
  translate(shop.locale);
  show("report");
  await refresh();
  const linked = new URLSearchParams(location.hash.slice(1)).get("customer");
  if (linked) await openCustomer(linked).catch((e) => { $("#report-error").textContent = e.message; });
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("#sign-in-error").textContent = "";
  try {
    const session = await (await api("/api/v1/session", {
      method: "POST", anonymous: true,
      json: { email: form.elements.email.value.trim(), password: form.elements.password.value },
    })).json();
    form.reset();
    await enter(session);
  } catch (err) {
    $("#sign-in-error").textContent = err.message;
  }
}

async function requestReset(event) {
  event.preventDefault();
  try {
    await api("/api/v1/password-resets", {
      method: "POST", anonymous: true, json: { email: event.target.elements.email.value.trim() },
    });
    $("#forgot-status").textContent = t("linkSent");
  } catch (err) {
    $("#forgot-status").textContent = err.message;
  }
}

// An invitation or reset link: choose a password, then the new session.
function askPassword(kind, token) {
  translate(uiLocale());
  $("#set-password-title").textContent = t(kind === "invite" ? "inviteTitle" : "resetTitle");
  show("set-password");
  const form = $("#set-password-form");
  form.onsubmit = async (event) => {
    event.preventDefault();
    const password = form.elements.password.value;
    if (password !== form.elements.repeat.value) { $("#set-password-error").textContent = t("mismatch"); return; }
    const path = kind === "invite" ? "/api/v1/invitations/accept" : "/api/v1/password-resets/complete";
    try {
      const session = await (await api(path, { method: "POST", anonymous: true, json: { token, password } })).json();
      form.reset();
      await enter(session);
    } catch (err) {
      $("#set-password-error").textContent = err.message;
    }
  };
}

async function demoSignIn(token) {
  try {
    await enter(await (await api("/api/v1/session", { method: "POST", anonymous: true, json: { demo: token } })).json());
  } catch (err) {
    showSignIn(err.message);
  }
}

async function resume() {
  const session = await (await api("/api/v1/session", { anonymous: true })).json();
  if (session.signed_in) await enter(session); else showSignIn();
}

function currentQuery(extra = {}) {
  const params = new URLSearchParams(state.filters);
  params.set("sort", "paid_total");
  params.set("order", state.order);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params;
}

async function refresh() {
  state.cursor = null;
  state.selected.clear();
  $("#customers tbody").replaceChildren();
  $("#report-error").textContent = "";
  $("#sort-paid").textContent =
    `${(TEXT[state.shop.locale] || {}).paidAmount || "Paid amount"} ${state.order === "asc" ? "▲" : "▼"}`;
  try {
    await Promise.all([loadSummary(), loadPage()]);
  } catch (err) {
    $("#report-error").textContent = err.message;
  }
}

async function loadSummary() {
  const summary = await (await api(`/api/v1/report/summary?${state.filters}`)).json();
  $("#sum-customers").textContent = summary.customers.toLocaleString();
  $("#sum-paid").textContent = money(summary.paid_total, summary.currency);
  const max = summary.channels.length ? summary.channels[0].customers : 1;
  $("#sum-channels").replaceChildren(...summary.channels.map((c, i, all) => {
    const li = el("li", null, i === 0 ? "most" : (i === all.length - 1 && all.length > 1 ? "fewest" : ""));
    const meter = el("meter"); meter.max = max; meter.value = c.customers;
    li.append(el("span", c.channel), meter, el("span", c.customers.toLocaleString()));
    return li;
  }));
  $("#sum-tags").replaceChildren(...summary.tags.slice(0, 30).map(
    (t) => el("li", `${t.tag} · ${t.customers.toLocaleString()}`)));
  $("#sum-provinces").replaceChildren(...summary.provinces.slice(0, 77).map((p) => {
    const name = state.shop.locale === "th" && p.province_th ? p.province_th : p.province;
    return el("li", `${name} · ${p.customers.toLocaleString()}`);
  }));
  $("#province-list").replaceChildren(...summary.provinces.map((p) => {
    const option = el("option"); option.value = p.province; return option;
  }));
  $("#tag-list").replaceChildren(...summary.tags.map((t) => {
    const option = el("option"); option.value = t.tag; return option;
  }));
}

async function loadPage() {
  const extra = { limit: "50" };
  if (state.cursor) extra.cursor = state.cursor;
  const page = await (await api(`/api/v1/customers?${currentQuery(extra)}`)).json();
  $("#total").textContent = `${page.total.toLocaleString()} ${(TEXT[state.shop.locale] || {}).customers || "customers"}`;
  const body = $("#customers tbody");
  for (const row of page.items) body.append(customerRow(row));
  state.cursor = page.next_cursor;
  $("#more").hidden = !page.next_cursor;
}

function customerRow(row) {
  const tr = el("tr");
  const box = el("input"); box.type = "checkbox"; box.ariaLabel = "select";
  box.checked = state.selected.has(row.id);
  box.addEventListener("click", (event) => {
    event.stopPropagation();
    if (box.checked) state.selected.add(row.id); else state.selected.delete(row.id);
  });
  const select = el("td"); select.append(box);
  const tags = el("td");
  for (const tag of row.tags) tags.append(el("span", tag, "tag"));
  const shown = row.name || row.platform_user_id;
  const named = row.profile_name && row.profile_name !== row.name
    ? `${shown} (${row.profile_name})` : shown;
  tr.append(select, el("td", named), el("td", row.channel),
    el("td", row.province || ""), el("td", row.postal_code || ""), tags, el("td", row.status),
    el("td", money(row.paid_total, row.currency), "num"), el("td", row.order_count, "num"),
    el("td", when(row.updated_at)));
  tr.addEventListener("click", () => openCustomer(row.id));
  return tr;
}

async function openCustomer(id) {
  const detail = await (await api(`/api/v1/customers/${encodeURIComponent(id)}`)).json();
  state.current = detail;
  history.replaceState(null, "", `${location.pathname}#customer=${encodeURIComponent(id)}`);
  $("#detail").hidden = false;
  const shown = detail.name || detail.platform_user_id;
  $("#detail-name").textContent = detail.profile_name && detail.profile_name !== detail.name
    ? `${shown} (${detail.profile_name})` : shown;
  $("#detail-meta").textContent = [detail.channel, detail.status, detail.phone, detail.email,
    detail.province, detail.postal_code].filter(Boolean).join(" · ");
  const s = detail.stats;
  const stats = [
    ["statPaid", money(s.paid_total, s.currency)], ["statOrders", s.order_count],
    ["statAverage", s.average_order_value === null ? "–" : money(s.average_order_value, s.currency)],
    ["statRecent", money(s.last_3_months.paid_total, s.currency)],
    ["statUnpaid", money(s.unpaid_total, s.currency)], ["statLast", when(s.last_order_at) || "–"],
  ];
  const label = (key) => (TEXT[state.shop.locale] || {})[key] || TEXT.en[key];
  $("#detail-stats").replaceChildren(...stats.flatMap(([k, v]) => [el("dt", label(k)), el("dd", v)]));
  const form = $("#edit-form");
  form.elements.name.value = detail.name || "";
  form.elements.tags.value = detail.tags.join(", ");
  form.elements.notes.value = detail.notes || "";
  $("#edit-status").textContent = "";
  $("#reply-form").reset(); $("#reply-status").textContent = "";
  $("#detail-orders").replaceChildren(...detail.orders.map((o) => {
    const li = el("li", `${o.order_id} · ${money(o.amount, o.currency)} · ${o.status}`);
    li.append(el("time", when(o.paid_at || o.created_at)));
    li.append(el("span", o.items.map((i) => `${i.name} ×${i.quantity}`).join(", ")));
    return li;
  }));
  $("#detail-messages").replaceChildren();
  state.messagesCursor = null; state.messagesShown = new Set();
  $("#more-messages").hidden = true;
}

// The chat history as a chat app shows it: the newest page at the bottom, older pages put
// above it (the button, or scrolling to the top), each message once however often it opens.
function messageItem(m) {
  const li = el("li", m.text || `[${m.type}]`, m.direction === "out" ? "out" : "in");
  li.prepend(el("time", when(m.sent_at)));
  li.dataset.id = m.id;
  return li;
}

async function loadMessages(older) {
  if (state.messagesLoading || (older && !state.messagesCursor)) return;
  const list = $("#detail-messages");
  const params = new URLSearchParams({ limit: "30" });
  if (older) params.set("cursor", state.messagesCursor);
  state.messagesLoading = true;
  try {
    const page = await (await api(
      `/api/v1/customers/${encodeURIComponent(state.current.id)}/messages?${params}`)).json();
    if (!older) { list.replaceChildren(); state.messagesShown = new Set(); }
    const fresh = page.items.filter((m) => !state.messagesShown.has(m.id));
    for (const m of fresh) state.messagesShown.add(m.id);
    const fromBottom = list.scrollHeight - list.scrollTop;
    list.prepend(...fresh.map(messageItem));
    list.scrollTop = older ? list.scrollHeight - fromBottom : list.scrollHeight;
    state.messagesCursor = page.next_cursor;
    $("#more-messages").hidden = !page.next_cursor;
  } finally {
    state.messagesLoading = false;
  }
}

// A reply goes out through the customer's chat channel; once sent it joins the bottom of the
// chat. A refusal (the platform's 24-hour window, a customer who blocked the shop) is shown.
async function sendReply(event) {
  event.preventDefault();
  const form = event.target;
  const text = form.elements.text.value.trim();
  if (!text) return;
  $("#reply-status").textContent = "…";
  try {
    const sent = await (await api(`/api/v1/customers/${encodeURIComponent(state.current.id)}/messages`, {
      method: "POST", json: { text },
    })).json();
    if (!state.messagesShown.has(sent.id)) {
      state.messagesShown.add(sent.id);
      const list = $("#detail-messages");
      list.append(messageItem(sent));
      list.scrollTop = list.scrollHeight;
    }
    form.reset();
    $("#reply-status").textContent = "✓";
  } catch (err) {
    $("#reply-status").textContent = err.message;
  }
}

async function saveCustomer(event) {
  event.preventDefault();
  const form = event.target;
  const body = {
    name: form.elements.name.value,
    tags: form.elements.tags.value.split(",").map((t) => t.trim()).filter(Boolean),
    notes: form.elements.notes.value,
  };
  try {
    const response = await api(`/api/v1/customers/${encodeURIComponent(state.current.id)}`, {
      method: "PATCH", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "If-Match": `"${state.current.version}"` },
    });
    const saved = await response.json();
    state.current.version = saved.version;
    $("#edit-status").textContent = "✓";
    await refresh();
  } catch (err) {
    $("#edit-status").textContent = err.status === 409
      ? "Changed by someone else meanwhile: reopen the customer" : err.message;
  }
}

async function runExport(mode) {
  const body = { mode, format: $("#export-format").value, split: true };
  if (mode === "selected") {
    if (!state.selected.size) { $("#export-status").textContent = "0"; return; }
    body.ids = [...state.selected];
  }
  if (mode === "filtered") {
    body.filters = {};
    for (const key of new Set(state.filters.keys())) body.filters[key] = state.filters.getAll(key);
    body.sort = "paid_total"; body.order = state.order;
  }
  $("#export-status").textContent = "…";
  try {
    const response = await api("/api/v1/exports", {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename="?([^";]+)"?/.exec(disposition);
    const blob = await response.blob();
    const link = el("a");
    link.href = URL.createObjectURL(blob);
    link.download = match ? match[1] : `customers.${body.format}`;
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    $("#export-status").textContent = `✓ ${response.headers.get("X-Export-Rows") || ""}`;
  } catch (err) {
    $("#export-status").textContent = err.message;
  }
}

function readFilters() {
  const form = $("#filters");
  const params = new URLSearchParams();
  for (const box of form.querySelectorAll("input[name=channel]:checked")) params.append("channel", box.value);
  for (const name of ["province", "postal_code", "updated_from", "updated_to", "tag", "q"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", signIn);
  $("#forgot").addEventListener("click", () => {
    $("#sign-in-form").hidden = true; $("#forgot-form").hidden = false;
    $("#forgot-email").value = $("#email-input").value;
  });
  $("#forgot-form").addEventListener("submit", requestReset);
  $("#sign-out").addEventListener("click", signOut);
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault(); state.filters = readFilters(); refresh();
  });
  $("#filters").addEventListener("reset", () => { state.filters = new URLSearchParams(); refresh(); });
  $("#sort-paid").addEventListener("click", () => {
    state.order = state.order === "asc" ? "desc" : "asc"; refresh();
  });
  $("#more").addEventListener("click", () => loadPage().catch((e) => { $("#report-error").textContent = e.message; }));
  $("#select-all").addEventListener("change", (event) => {
    for (const box of document.querySelectorAll("#customers tbody input[type=checkbox]")) {
      if (box.checked !== event.target.checked) box.click();
    }
  });
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => runExport(button.dataset.export));
  }
  $("#close-detail").addEventListener("click", () => {
    $("#detail").hidden = true;
    history.replaceState(null, "", location.pathname);
  });
  $("#edit-form").addEventListener("submit", saveCustomer);
  $("#reply-form").addEventListener("submit", sendReply);
  $("#show-history").addEventListener("click", () => loadMessages(false));
  $("#more-messages").addEventListener("click", () => loadMessages(true));
  $("#detail-messages").addEventListener("scroll", (event) => {
    if (event.target.scrollTop === 0) loadMessages(true);
  });

  // Links carry their token in the fragment (never sent to a server); it leaves the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const kind = ["demo", "invite", "reset"].find((name) => fragment.get(name));
  if (kind) history.replaceState(null, "", location.pathname);
  if (kind === "demo") demoSignIn(fragment.get(kind));
  else if (kind) askPassword(kind, fragment.get(kind));
  else resume().catch((err) => showSignIn(err.message));
});
