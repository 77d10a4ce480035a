// chatcrm dashboard: the customer report over the JSON API. Every value from the server is
// put into the page with textContent / DOM nodes, never as HTML. Every word comes from the
// gettext catalogues (chatcrm/locale/*/LC_MESSAGES/dashboard.po) through GET /api/v1/i18n/{locale}.
"use strict";

const LOCALES = ["en", "th"];
const LANGUAGE_KEY = "chatcrm.language";
const SORTS = ["paid_total", "name", "order_count", "last_order_at", "updated_at"];
const FILTER_NAMES = ["channel", "province", "postal_code", "updated_from", "updated_to", "tag", "tag_mode", "q"];
const EDIT_FIELDS = ["name", "tags", "phone", "email", "province", "postal_code", "notes"];
const PAGE_SIZE = 50;
const PROGRESS_AFTER_MS = 1000;

const state = {
  csrf: null, shop: null, role: null, filters: new URLSearchParams(), sort: "paid_total", order: "asc",
  cursor: null, total: 0, selected: new Set(), allMatching: false, current: null, messagesCursor: null,
  messagesShown: new Set(), messagesLoading: false, messagesSettling: false,
  generation: 0, words: null, locale: "en", tags: [], segments: [],
};

const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// ---- language -------------------------------------------------------------------------------

function preferredLocale() {
  const chosen = localStorage.getItem(LANGUAGE_KEY);
  if (LOCALES.includes(chosen)) return chosen;
  if (state.shop && LOCALES.includes(state.shop.locale)) return state.shop.locale;
  return (navigator.language || "en").toLowerCase().startsWith("th") ? "th" : "en";
}

async function loadWords(locale) {
  if (state.words && state.locale === locale) return;
  const response = await fetch(`/api/v1/i18n/${locale}`, { credentials: "same-origin" });
  state.words = await response.json();
  state.locale = locale;
}

function t(key, values = {}) {
  const text = (state.words && state.words.messages[key]) || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

function intlLocale() {
  return state.locale === "th" ? "th-TH-u-ca-buddhist" : "en-GB";
}

function number(value) {
  return new Intl.NumberFormat(intlLocale()).format(value || 0);
}

function money(minor, currency) {
  const cur = currency || (state.shop && state.shop.currency) || "THB";
  const fmt = new Intl.NumberFormat(intlLocale(), { style: "currency", currency: cur });
  const digits = fmt.resolvedOptions().maximumFractionDigits;
  return fmt.format((minor || 0) / 10 ** digits);
}

function when(iso, withTime = true) {
  if (!iso) return "";
  const tz = (state.shop && state.shop.timezone) || undefined;
  const style = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(intlLocale(), { timeZone: tz, ...style }).format(new Date(iso));
}

function day(value) {  // a yyyy-mm-dd input value, shown in the locale's calendar
  return value ? new Intl.DateTimeFormat(intlLocale(), { dateStyle: "medium", timeZone: "UTC" })
    .format(new Date(`${value}T00:00:00Z`)) : "";
}

function channelName(channel) {
  return (state.words && state.words.channels[channel]) || channel || "";
}

function channelList(channels) {  // a person's channels, each once
  return [...new Set(channels)].map(channelName).join(", ");
}

function provinceName(name) {
  if (!name) return t("provinceUnknown");
  if (name === "unknown") return t("provinceUnknown");
  const found = state.words.provinces.find((p) => p.en === name || p.th === name);
  return found ? found[state.locale] : name;
}

function statusName(status) { return status ? t(`status_${status}`) : ""; }
function orderStatusName(status) { return t(`order_${status}`); }

function translatePage() {
  document.documentElement.lang = state.locale;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.ariaLabel = t(node.dataset.i18nLabel);
  $("#select-all").ariaLabel = t("selectPage");
  $("#close-detail").ariaLabel = t("close");
  $("#language").value = state.locale;
  for (const input of document.querySelectorAll("input[type=date]")) input.lang = intlLocale();
  fillChannelBoxes();
  fillProvinceList();
  showDateRange();
  document.dispatchEvent(new Event("chatcrm:words"));  // owner.js translates its pages
}

async function useLanguage(locale) {
  await loadWords(locale);
  translatePage();
}

async function switchLanguage(locale) {
  localStorage.setItem(LANGUAGE_KEY, locale);
  await useLanguage(locale);
  if (!state.shop) return;
  const open = state.current && !$("#detail").hidden ? state.current.id : null;
  await refresh();
  await loadSegments();
  if (open) await openCustomer(open);
}

// ---- API ------------------------------------------------------------------------------------

function errorMessage(code, field, fallback, extra = {}) {
  const fieldLabel = field ? t(`field_${field.replace(/^filters\./, "")}`) : "";
  for (const key of [`err_${code}_${(field || "").replace(/^filters\./, "")}`, `err_${code}`]) {
    const text = state.words && state.words.messages[key];
    if (text && (field || !text.includes("{field}"))) return t(key, { field: fieldLabel, ...extra });
  }
  return fallback;
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
  if (response.status === 401 && !anonymous) { showSignIn(t("sessionEnded")); throw new Error(t("sessionEnded")); }
  if (!response.ok) throw await apiError(response);
  return response;
}

async function apiError(response) {
  let body = {};
  try { body = (await response.json()).error || {}; } catch (_) { /* not JSON */ }
  const extra = {
    minutes: Math.ceil((body.retry_after || 0) / 60), count: number(body.count), limit: number(body.limit),
  };
  const err = new Error(errorMessage(body.code, body.field, t("err_status", { status: response.status }), extra));
  err.status = response.status; err.code = body.code; err.body = body;
  return err;
}

// ---- signing in -----------------------------------------------------------------------------

function show(section) {
  for (const id of ["sign-in", "set-password", "report"]) $(`#${id}`).hidden = id !== section;
  $("#sign-out").hidden = section !== "report";
  if (section !== "report") $("#detail").hidden = true;
}

function showSignIn(message = "") {
  state.csrf = null; state.shop = null; state.role = null; state.current = null;
  $("#shop-name").textContent = ""; $("#user-email").textContent = "";
  $("#customers tbody").replaceChildren();
  useLanguage(preferredLocale()).catch(() => {});
  $("#sign-in-form").hidden = false; $("#forgot-form").hidden = true;
  $("#sign-in-error").textContent = message;
  show("sign-in");
  document.dispatchEvent(new Event("chatcrm:leave"));
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
  await useLanguage(preferredLocale());
  $("#shop-name").textContent = shop.name;
  $("#user-email").textContent = session.email;
  show("report");
  document.dispatchEvent(new Event("chatcrm:enter"));  // owner.js: the owner's pages
  readLocation();
  await Promise.all([refresh(), loadSegments()]);
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
async function askPassword(kind, token) {
  await useLanguage(preferredLocale());
  $("#set-password-title").textContent = kind === "invite" ? t("inviteTitle") : t("resetTitle");
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
    await useLanguage(preferredLocale());
    await enter(await (await api("/api/v1/session", { method: "POST", anonymous: true, json: { demo: token } })).json());
  } catch (err) {
    showSignIn(err.message);
  }
}

async function resume() {
  await useLanguage(preferredLocale());
  const session = await (await api("/api/v1/session", { anonymous: true })).json();
  if (session.signed_in) await enter(session); else showSignIn();
}

// ---- filters and the address bar --------------------------------------------------------------

function fillChannelBoxes() {
  const box = $("#channel-boxes");
  const ticked = new Set(state.filters.getAll("channel"));
  const labels = Object.entries(state.words.channels).map(([value, label]) => {
    const input = el("input"); input.type = "checkbox"; input.name = "channel"; input.value = value;
    input.checked = ticked.has(value);
    const label_ = el("label"); label_.append(input, ` ${label}`);
    return label_;
  });
  box.replaceChildren(box.querySelector("legend"), ...labels);
}

function fillProvinceList() {
  const other = state.locale === "th" ? "en" : "th";
  $("#province-list").replaceChildren(...state.words.provinces.map((p) => {
    const option = el("option", p[other]); option.value = p[state.locale]; return option;
  }));
}

function renderTagChips() {
  $("#tag-chips").replaceChildren(...state.tags.map((tag) => {
    const li = el("li", tag, "chip");
    const remove = el("button", "×"); remove.type = "button";
    remove.ariaLabel = t("tagRemove", { tag });
    remove.addEventListener("click", () => { state.tags = state.tags.filter((x) => x !== tag); renderTagChips(); });
    li.append(remove);
    return li;
  }));
}

function addTag() {
  const input = $("#tag-input");
  const tag = input.value.trim();
  if (tag && !state.tags.includes(tag)) state.tags.push(tag);
  input.value = "";
  renderTagChips();
}

function showDateRange() {
  const form = $("#filters");
  const from = day(form.elements.updated_from.value);
  const to = day(form.elements.updated_to.value);
  $("#date-range").textContent = from || to ? t("dateRange", { from: from || "…", to: to || "…" }) : "";
}

function readFilters() {
  const form = $("#filters");
  const params = new URLSearchParams();
  for (const box of form.querySelectorAll("input[name=channel]:checked")) params.append("channel", box.value);
  for (const name of ["province", "postal_code", "updated_from", "updated_to", "q"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  if ($("#tag-input").value.trim()) addTag();
  for (const tag of state.tags) params.append("tag", tag);
  if (state.tags.length > 1 && form.elements.tag_mode.value === "all") params.set("tag_mode", "all");
  return params;
}

function fillFilterForm() {
  const form = $("#filters");
  for (const box of form.querySelectorAll("input[name=channel]")) {
    box.checked = state.filters.getAll("channel").includes(box.value);
  }
  for (const name of ["province", "postal_code", "updated_from", "updated_to", "q"]) {
    form.elements[name].value = state.filters.get(name) || "";
  }
  form.elements.tag_mode.value = state.filters.get("tag_mode") || "any";
  state.tags = state.filters.getAll("tag");
  $("#tag-input").value = "";
  renderTagChips();
  showDateRange();
}

// The address bar holds the filters and the sort: a filtered view is a link to share.
function readLocation() {
  const params = new URLSearchParams(location.search);
  state.filters = new URLSearchParams();
  for (const [key, value] of params) if (FILTER_NAMES.includes(key)) state.filters.append(key, value);
  state.sort = SORTS.includes(params.get("sort")) ? params.get("sort") : "paid_total";
  state.order = params.get("order") === "desc" ? "desc" : "asc";
  fillFilterForm();
}

function writeLocation() {
  const params = currentQuery();
  if (params.get("sort") === "paid_total" && params.get("order") === "asc") { params.delete("sort"); params.delete("order"); }
  const search = params.toString() ? `?${params}` : "";
  if (search !== location.search) history.pushState(null, "", `${location.pathname}${search}${location.hash}`);
}

function currentQuery(extra = {}) {
  const params = new URLSearchParams(state.filters);
  params.set("sort", state.sort);
  params.set("order", state.order);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params;
}

function filtersObject() {
  const out = {};
  for (const key of new Set(state.filters.keys())) {
    const values = state.filters.getAll(key);
    out[key] = ["channel", "province", "tag"].includes(key) ? values : values[0];
  }
  return out;
}

function applyFilters(filters, sort, order) {
  state.filters = filters;
  if (sort) state.sort = sort;
  if (order) state.order = order;
  writeLocation();
  return refresh();
}

// ---- the report -----------------------------------------------------------------------------

function clearResults() {
  state.cursor = null; state.total = 0;
  state.selected.clear(); state.allMatching = false;
  $("#customers tbody").replaceChildren();
  $("#select-all").checked = false;
  $("#more").hidden = true;
  $("#empty").hidden = true;
  $("#total").textContent = "";
  for (const id of ["#sum-customers", "#sum-paid"]) $(id).textContent = "–";
  for (const id of ["#sum-channels", "#sum-tags", "#sum-provinces"]) $(id).replaceChildren();
  showSelection();
}

function showSortHeaders() {
  for (const th of document.querySelectorAll("th[data-sort]")) {
    const active = th.dataset.sort === state.sort;
    th.ariaSort = active ? (state.order === "asc" ? "ascending" : "descending") : "none";
    th.classList.toggle("sorted", active);
    th.querySelector("button").dataset.arrow = active ? (state.order === "asc" ? "▲" : "▼") : "";
  }
}

// Summary and first page of one query; answers of a superseded query are dropped, so the
// figures always belong to the table under them.
async function refresh() {
  const generation = ++state.generation;
  clearResults();
  showSortHeaders();
  $("#report-error").textContent = "";
  try {
    const [summary, page] = await Promise.all([
      api(`/api/v1/report/summary?${state.filters}`).then((r) => r.json()),
      fetchPage(null),
    ]);
    if (generation !== state.generation) return;
    showSummary(summary);
    showPage(page);
  } catch (err) {
    if (generation !== state.generation) return;
    clearResults();
    $("#report-error").textContent = err.message;
  }
}

async function fetchPage(cursor) {
  const extra = { limit: String(PAGE_SIZE) };
  if (cursor) extra.cursor = cursor;
  return (await api(`/api/v1/customers?${currentQuery(extra)}`)).json();
}

async function loadMore() {
  const generation = state.generation;
  try {
    const page = await fetchPage(state.cursor);
    if (generation === state.generation) showPage(page);
  } catch (err) {
    if (generation === state.generation) $("#report-error").textContent = err.message;
  }
}

function showSummary(summary) {
  $("#sum-customers").textContent = number(summary.customers);
  $("#sum-paid").textContent = money(summary.paid_total, summary.currency);
  const counts = summary.channels.map((c) => c.customers);
  const max = counts.length ? Math.max(...counts) : 1;
  const min = counts.length ? Math.min(...counts) : 0;
  $("#sum-channels").replaceChildren(...summary.channels.map((c) => {
    // every channel tied for the most (or, when they differ, the fewest) is marked alike
    const li = el("li", null, c.customers === max ? "most" : (c.customers === min ? "fewest" : ""));
    const bar = el("span", null, "bar");
    const fill = el("span", null, "fill");
    fill.style.width = `${Math.max(2, Math.round((100 * c.customers) / max))}%`;
    bar.append(fill);
    li.append(el("span", channelName(c.channel), "label"), bar, el("span", number(c.customers), "figure"));
    return li;
  }));
  $("#sum-tags").replaceChildren(...summary.tags.slice(0, 30).map(
    (x) => el("li", `${x.tag} · ${number(x.customers)}`)));
  $("#sum-provinces").replaceChildren(...summary.provinces.slice(0, 77).map(
    (p) => el("li", `${provinceName(p.province)} · ${number(p.customers)}`)));
  $("#tag-list").replaceChildren(...summary.tags.map((x) => {
    const option = el("option"); option.value = x.tag; return option;
  }));
}

function showPage(page) {
  state.total = page.total;
  $("#total").textContent = t("matching", { count: number(page.total) });
  const body = $("#customers tbody");
  for (const row of page.items) body.append(customerRow(row));
  state.cursor = page.next_cursor;
  $("#more").hidden = !page.next_cursor;
  $("#empty").hidden = page.total !== 0;
  showSelection();
}

function customerRow(row) {
  const tr = el("tr");
  tr.dataset.id = row.id;
  const box = el("input"); box.type = "checkbox";
  const shown = row.name || row.platform_user_id;
  box.ariaLabel = t("selectRow", { name: shown });
  box.checked = state.allMatching || state.selected.has(row.id);
  box.addEventListener("click", (event) => event.stopPropagation());
  box.addEventListener("change", () => tick(row.id, box.checked));
  const select = el("td"); select.append(box);
  const tags = el("td");
  for (const tag of row.tags) tags.append(el("span", tag, "tag"));
  const nameCell = el("td");
  const open = el("button", row.profile_name && row.profile_name !== row.name
    ? `${shown} (${row.profile_name})` : shown, "link");
  open.type = "button";
  nameCell.append(open);
  tr.append(select, nameCell, el("td", channelList(row.channels || [row.channel])),
    el("td", row.province ? provinceName(row.province) : ""), el("td", row.postal_code || "", "figure"), tags,
    el("td", statusName(row.status), "nowrap"), el("td", money(row.paid_total, row.currency), "num"),
    el("td", number(row.order_count), "num"), el("td", when(row.last_order_at, false), "figure"),
    el("td", when(row.updated_at), "figure"));
  tr.addEventListener("click", () => openCustomer(row.id).catch((e) => { $("#report-error").textContent = e.message; }));
  return tr;
}

// ---- selection and exports ------------------------------------------------------------------

function tick(id, on) {
  if (state.allMatching) {  // leaving "all matching": keep the ticks on the page
    state.allMatching = false;
    for (const box of rowBoxes()) if (box.checked) state.selected.add(box.closest("tr").dataset.id);
  }
  if (on) state.selected.add(id); else state.selected.delete(id);
  showSelection();
}

function rowBoxes() { return [...document.querySelectorAll("#customers tbody input[type=checkbox]")]; }

function tickPage(on) {
  state.allMatching = false;
  for (const box of rowBoxes()) {
    box.checked = on;
    const id = box.closest("tr").dataset.id;
    if (on) state.selected.add(id); else state.selected.delete(id);
  }
  showSelection();
}

function tickAllMatching() {
  state.allMatching = true;
  for (const box of rowBoxes()) box.checked = true;
  showSelection();
}

function selectedCount() { return state.allMatching ? state.total : state.selected.size; }

function showSelection() {
  const count = selectedCount();
  $("#selected-count").textContent = count ? t("selectedCount", { count: number(count) }) : "";
  $("[data-export=selected]").disabled = count === 0;
  const boxes = rowBoxes();
  const pageTicked = boxes.length > 0 && boxes.every((b) => b.checked);
  $("#select-all").checked = pageTicked;
  const offer = $("#select-matching");
  offer.hidden = !pageTicked || state.allMatching || state.total <= boxes.length;
  offer.textContent = t("selectMatching", { count: number(state.total) });
}

function exportBody(mode, split) {
  const body = { mode, format: $("#export-format").value, split };
  if (mode === "selected" && state.allMatching) body.mode = "filtered";
  else if (mode === "selected") body.ids = [...state.selected];
  if (body.mode === "filtered") { body.filters = filtersObject(); body.sort = state.sort; body.order = state.order; }
  return body;
}

// The export answers the file itself. Past a second a progress bar shows: waiting while the
// server writes it, then the bytes received against Content-Length.
async function runExport(mode, split = false) {
  const status = $("#export-status");
  const progress = $("#export-progress");
  $("#export-split").hidden = true;
  status.textContent = t("exportWorking");
  progress.removeAttribute("value");
  const timer = setTimeout(() => { progress.hidden = false; }, PROGRESS_AFTER_MS);
  try {
    const response = await api("/api/v1/exports", { method: "POST", json: exportBody(mode, split) });
    const blob = await readWithProgress(response, progress);
    saveFile(blob, response.headers.get("Content-Disposition"));
    status.textContent = t("exportDone", { rows: number(response.headers.get("X-Export-Rows")) });
  } catch (err) {
    status.textContent = err.message;
    if (err.code === "export_too_large") offerSplit(mode, err.body);
  } finally {
    clearTimeout(timer);
    progress.hidden = true;
  }
}

async function readWithProgress(response, progress) {
  const size = Number(response.headers.get("Content-Length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (size) { progress.max = size; progress.value = received; }
  }
  return new Blob(chunks, { type: response.headers.get("Content-Type") || "" });
}

function saveFile(blob, disposition) {
  const match = /filename="?([^";]+)"?/.exec(disposition || "");
  const link = el("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : "customers";
  document.body.append(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

function offerSplit(mode, body) {
  const button = $("#export-split");
  const parts = Math.ceil((body.count || 0) / (body.limit || 1));
  button.textContent = t("exportSplit", { parts: number(parts), limit: number(body.limit) });
  button.onclick = () => runExport(mode, true);
  button.hidden = false;
}

// ---- segments -------------------------------------------------------------------------------

async function loadSegments() {
  const { items } = await (await api("/api/v1/segments")).json();
  state.segments = items;
  const select = $("#segment-select");
  const chosen = select.value;
  select.replaceChildren(select.options[0], ...items.map((s) => {
    const option = el("option", s.name); option.value = s.id; return option;
  }));
  select.value = items.some((s) => s.id === chosen) ? chosen : "";
  showSegmentButtons();
}

function showSegmentButtons() {
  const none = !$("#segment-select").value;
  $("#segment-apply").disabled = none;
  $("#segment-delete").disabled = none;
}

async function saveSegment(event) {
  event.preventDefault();
  const name = $("#segment-name").value.trim();
  try {
    const saved = await (await api("/api/v1/segments", {
      method: "POST", json: { name, filters: filtersObject(), sort: state.sort, order: state.order },
    })).json();
    $("#segment-name").value = "";
    await loadSegments();
    $("#segment-select").value = saved.id;
    showSegmentButtons();
    $("#segment-status").textContent = t("segmentSaved", { name: saved.name });
  } catch (err) {
    $("#segment-status").textContent = err.message;
  }
}

function applySegment() {
  const segment = state.segments.find((s) => s.id === $("#segment-select").value);
  if (!segment) return;
  const filters = new URLSearchParams();
  for (const [key, value] of Object.entries(segment.filters)) {
    for (const one of Array.isArray(value) ? value : [value]) filters.append(key, String(one));
  }
  state.filters = filters;
  fillFilterForm();
  $("#segment-status").textContent = t("segmentApplied", { name: segment.name });
  return applyFilters(filters, segment.sort, segment.order);
}

async function deleteSegment() {
  const segment = state.segments.find((s) => s.id === $("#segment-select").value);
  if (!segment) return;
  try {
    await api(`/api/v1/segments/${encodeURIComponent(segment.id)}`, { method: "DELETE" });
    $("#segment-select").value = "";
    await loadSegments();
    $("#segment-status").textContent = t("segmentDeleted", { name: segment.name });
  } catch (err) {
    $("#segment-status").textContent = err.message;
  }
}

// ---- the customer ---------------------------------------------------------------------------

async function openCustomer(id) {
  const detail = await (await api(`/api/v1/customers/${encodeURIComponent(id)}`)).json();
  state.current = detail;
  history.replaceState(null, "", `${location.pathname}${location.search}#customer=${encodeURIComponent(id)}`);
  const opening = $("#detail").hidden;
  $("#detail").hidden = false;
  const shown = detail.name || detail.platform_user_id;
  $("#detail-name").textContent = detail.profile_name && detail.profile_name !== detail.name
    ? `${shown} (${detail.profile_name})` : shown;
  $("#detail-meta").textContent = [channelList(detail.identities.map((i) => i.channel)), statusName(detail.status), detail.phone,
    detail.email, detail.province ? provinceName(detail.province) : null, detail.postal_code]
    .filter(Boolean).join(" · ");
  showStats(detail.stats);
  document.dispatchEvent(new Event("chatcrm:customer"));  // people.js: the person's identities
  fillEditForm(detail);
  $("#edit-status").textContent = "";
  $("#conflict").hidden = true;
  $("#reply-form").reset(); $("#reply-status").textContent = "";
  $("#detail-orders").replaceChildren(...detail.orders.map(orderItem));
  if (!detail.orders.length) $("#detail-orders").append(el("li", t("noOrders"), "empty"));
  await showAudit(detail.id);
  if (opening) $("#detail-name").focus();  // keyboard users land in the panel
  $("#detail-messages").replaceChildren();
  state.messagesCursor = null; state.messagesShown = new Set();
  $("#more-messages").hidden = true;
}

function showStats(s) {
  const stats = [
    [t("statPaid"), money(s.paid_total, s.currency)], [t("statOrders"), number(s.order_count)],
    [t("statAverage"), s.average_order_value === null ? "–" : money(s.average_order_value, s.currency)],
    [t("statRecent"), money(s.last_3_months.paid_total, s.currency)],
    [t("statUnpaid"), money(s.unpaid_total, s.currency)], [t("statLast"), when(s.last_order_at) || "–"],
  ];
  $("#detail-stats").replaceChildren(...stats.flatMap(([k, v]) => [el("dt", k), el("dd", v, "figure")]));
}

function orderItem(o) {
  const li = el("li");
  const head = el("span", null, "order-head");
  head.append(el("strong", o.order_id), el("span", money(o.amount, o.currency), "figure"),
    el("span", orderStatusName(o.status), `badge ${o.status}`));
  li.append(head, el("time", when(o.paid_at || o.created_at)));
  if (o.items.length) li.append(el("span", o.items.map((i) => `${i.name} ×${i.quantity}`).join(", ")));
  return li;
}

function editValue(detail, name) {
  if (name === "tags") return (detail.tags || []).join(", ");
  if (name === "province") return detail.province ? provinceName(detail.province) : (detail.province_input || "");
  return detail[name] || "";
}

function fillEditForm(detail) {
  const form = $("#edit-form");
  for (const name of EDIT_FIELDS) {
    form.elements[name].value = editValue(detail, name);
    form.elements[name].dataset.loaded = form.elements[name].value;
  }
}

function editChanges(form) {
  const changes = {};
  for (const name of EDIT_FIELDS) {
    const input = form.elements[name];
    if (input.value === input.dataset.loaded) continue;
    const value = input.value.trim();
    changes[name] = name === "tags" ? value.split(",").map((x) => x.trim()).filter(Boolean)
      : (value || (name === "notes" ? "" : null));
  }
  return changes;
}

async function saveCustomer(event) {
  event.preventDefault();
  const form = event.target;
  const changes = editChanges(form);
  $("#conflict").hidden = true;
  if (!Object.keys(changes).length) { $("#edit-status").textContent = t("nothingToSave"); return; }
  const id = state.current.id;
  try {
    await api(`/api/v1/customers/${encodeURIComponent(id)}`, {
      method: "PATCH", json: changes, headers: { "If-Match": `"${state.current.version}"` },
    });
    await openCustomer(id);  // the form shows what the server stored
    $("#edit-status").textContent = t("saved");
    refresh();
  } catch (err) {
    if (err.status === 409) await showConflict(id);
    else $("#edit-status").textContent = err.message;
  }
}

// A stale edit: what changed since this copy was loaded, and who changed it (the audit trail,
// which owners can read); the seller's typing stays in the form until they reload.
async function showConflict(id) {
  const mine = state.current;
  const now = await (await api(`/api/v1/customers/${encodeURIComponent(id)}`)).json();
  const changed = EDIT_FIELDS.filter((name) => editValue(mine, name) !== editValue(now, name));
  let who = t("someoneElse");
  if (state.role === "owner") {
    const { items } = await (await api(`/api/v1/customers/${encodeURIComponent(id)}/audit`)).json();
    const newer = items.filter((e) => e.action === "customer.update" && e.version > mine.version);
    const actors = [...new Set(newer.map((e) => actorName(e.actor)))];
    if (actors.length) who = actors.join(", ");
  }
  $("#conflict-text").textContent = t("conflict", { who, when: when(now.updated_at) });
  $("#conflict-changes").replaceChildren(...changed.map((name) =>
    el("li", t("conflictField", { field: t(`field_${name}`), value: editValue(now, name) || t("emptyValue") }))));
  $("#conflict").hidden = false;
  $("#edit-status").textContent = "";
}

function actorName(actor) {
  return String(actor || "").replace(/^user:/, "").replace(/^token:/, `${t("apiToken")} `);
}

async function showAudit(id) {
  const section = $("#audit");
  section.hidden = state.role !== "owner";
  if (section.hidden) return;
  const { items } = await (await api(`/api/v1/customers/${encodeURIComponent(id)}/audit`)).json();
  $("#audit-list").replaceChildren(...items.map(auditItem));
  if (!items.length) $("#audit-list").append(el("li", t("noAudit"), "empty"));
}

function auditItem(entry) {
  const li = el("li");
  const fields = Object.keys(entry.after || entry.before || {});
  li.append(el("strong", actorName(entry.actor)), el("time", when(entry.at)));
  const action = t(`audit_${entry.action}`) === `audit_${entry.action}` ? entry.action : t(`audit_${entry.action}`);
  li.append(el("span", fields.length
    ? `${action}: ${fields.map((f) => t(`field_${f}`)).join(", ")}` : action));
  return li;
}

// The chat history as a chat app shows it: the newest page at the bottom, older pages put
// above it (the button, or scrolling to the top), each message once however often it opens.
function messageItem(m) {
  const li = el("li", m.text || `[${m.type}]`, m.direction === "out" ? "out" : "in");
  li.prepend(el("time", when(m.sent_at)));
  if (m.channel) li.querySelector("time").after(el("span", channelName(m.channel), "msg-channel"));
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
    state.messagesSettling = true;  // the scroll events of this update are not the seller's
    list.scrollTop = older ? list.scrollHeight - fromBottom : list.scrollHeight;
    requestAnimationFrame(() => requestAnimationFrame(() => { state.messagesSettling = false; }));
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
    $("#reply-status").textContent = t("replySent");
  } catch (err) {
    $("#reply-status").textContent = err.message;
  }
}

function closeCustomer() {
  $("#detail").hidden = true;
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  const row = state.current && document.querySelector(`#customers tr[data-id="${CSS.escape(state.current.id)}"] button`);
  if (row) row.focus();  // back where the keyboard was
}

// ---- wiring ---------------------------------------------------------------------------------

function wireReport() {
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault(); applyFilters(readFilters());
  });
  $("#filters").addEventListener("reset", () => {
    state.tags = []; renderTagChips();
    setTimeout(showDateRange);
    applyFilters(new URLSearchParams(), "paid_total", "asc");
  });
  $("#filters").addEventListener("change", (event) => { if (event.target.type === "date") showDateRange(); });
  $("#tag-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.value.trim()) { event.preventDefault(); addTag(); }
  });
  $("#tag-input").addEventListener("change", addTag);
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      const order = state.sort === key && state.order === "asc" ? "desc" : "asc";
      applyFilters(state.filters, key, order);
    });
  }
  window.addEventListener("popstate", () => { if (state.shop) { readLocation(); refresh(); } });
  $("#more").addEventListener("click", loadMore);
  $("#select-all").addEventListener("change", (event) => tickPage(event.target.checked));
  $("#select-matching").addEventListener("click", tickAllMatching);
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () => runExport(button.dataset.export));
  }
  $("#segment-form").addEventListener("submit", saveSegment);
  $("#segment-select").addEventListener("change", showSegmentButtons);
  $("#segment-apply").addEventListener("click", applySegment);
  $("#segment-delete").addEventListener("click", deleteSegment);
}

function wireCustomer() {
  $("#close-detail").addEventListener("click", closeCustomer);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !$("#detail").hidden) closeCustomer(); });
  $("#edit-form").addEventListener("submit", saveCustomer);
  $("#conflict-reload").addEventListener("click", () => openCustomer(state.current.id));
  $("#reply-form").addEventListener("submit", sendReply);
  $("#show-history").addEventListener("click", () => loadMessages(false));
  $("#more-messages").addEventListener("click", () => loadMessages(true));
  $("#detail-messages").addEventListener("scroll", (event) => {
    if (event.target.scrollTop === 0 && !state.messagesSettling) loadMessages(true);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("#sign-in-form").addEventListener("submit", signIn);
  $("#forgot").addEventListener("click", () => {
    $("#sign-in-form").hidden = true; $("#forgot-form").hidden = false;
    $("#forgot-email").value = $("#email-input").value;
  });
  $("#forgot-form").addEventListener("submit", requestReset);
  $("#sign-out").addEventListener("click", signOut);
  $("#language").addEventListener("change", (event) => switchLanguage(event.target.value));
  wireReport();
  wireCustomer();
  if (matchMedia("(max-width: 640px)").matches) $("#filter-panel").open = false;  // phones: the table first

  // Links carry their token in the fragment (never sent to a server); it leaves the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const kind = ["demo", "invite", "reset"].find((name) => fragment.get(name));
  if (kind) history.replaceState(null, "", `${location.pathname}${location.search}`);
  if (kind === "demo") demoSignIn(fragment.get(kind));
  else if (kind) askPassword(kind, fragment.get(kind));
  else resume().catch((err) => showSignIn(err.message));
});
