// chatcrm dashboard, the owner's pages: chat channels (and automatic merging), the team (users, invitations, chat
// admins) and scheduled report e-mails. Loaded after app.js and using its helpers ($, el, t,
// api, when, number, state). app.js announces sign-in, sign-out and a language change with
// the chatcrm:enter, chatcrm:leave and chatcrm:words events; the address bar's fragment names
// the page (#channels, #team, #schedules). Staff never see these pages (the API answers 403);
// owner and staff both see #people (people.js).
"use strict";

const OWNER_PAGES = ["channels", "team", "schedules"];
const SHARED_PAGES = ["people"];  // owner and staff: merge suggestions (people.js)
const DELIVERY_PAGE = 20;
const owner = { platforms: [], channels: [], schedules: [], segments: [], editing: null, history: null };

function isOwner() { return Boolean(state.shop) && state.role === "owner"; }

function currentPage() {
  const name = location.hash.slice(1);
  if (state.shop && SHARED_PAGES.includes(name)) return name;
  return isOwner() && OWNER_PAGES.includes(name) ? name : "report";
}

const LOADERS = {
  channels: loadChannels, team: loadTeam, schedules: loadSchedules, people: () => loadPeople(),
};

// Shows the page the fragment names (the report for anything else) and loads its data.
async function route() {
  if (!state.shop) return;
  $("#owner-nav").hidden = false;
  for (const link of document.querySelectorAll("#owner-nav a[data-owner]")) link.hidden = !isOwner();
  const page = currentPage();
  $("#report").hidden = page !== "report";
  for (const name of [...OWNER_PAGES, ...SHARED_PAGES]) $(`#${name}-page`).hidden = name !== page;
  for (const link of document.querySelectorAll("#owner-nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (page === "report") return;
  $("#detail").hidden = true;
  try {
    await LOADERS[page]();
  } catch (err) {
    $(`#${page}-page [role=status]`).textContent = err.message;
  }
}

function leaveOwnerPages() {
  $("#owner-nav").hidden = true;
  for (const name of [...OWNER_PAGES, ...SHARED_PAGES]) $(`#${name}-page`).hidden = true;
}

// ---- shared: field errors, copying -----------------------------------------------------------

function clearErrors(form) {
  for (const node of form.querySelectorAll("[data-error-for]")) node.textContent = "";
}

// An API error is shown next to the field it names, else under the form.
function showError(form, err) {
  clearErrors(form);
  const field = (err.body && err.body.field) || "";
  const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`)
    || form.querySelector('[data-error-for=""]');
  slot.textContent = err.message;
  const input = form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.elements[field.replace(/^cadence\./, "")];
  if (input && input.focus) input.focus();
}

async function copyValue(input, status) {
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (_) {  // no clipboard permission: leave it selected for Ctrl+C
    input.select();
  }
  status.textContent = t("copied");
}

function copyRow(value, label, status) {
  const row = el("div", null, "copy-row");
  const input = el("input");
  input.readOnly = true; input.value = value; input.ariaLabel = label;
  const button = el("button", t("copy"), "copy"); button.type = "button";
  button.ariaLabel = `${t("copy")}: ${label}`;
  button.addEventListener("click", () => copyValue(input, status));
  row.append(input, button);
  return row;
}

function roleName(role) { return t(`role_${role}`); }

// ---- channels -------------------------------------------------------------------------------

async function loadChannels() {
  const [platforms, channels] = await Promise.all([
    api("/api/v1/platforms").then((r) => r.json()), api("/api/v1/channels").then((r) => r.json()),
  ]);
  owner.platforms = platforms.items;
  owner.channels = channels.items;
  fillPlatforms();
  showChannels();
  $("#auto-merge").checked = Boolean(state.shop.auto_merge);
}

function platformLabel(platform) {
  const found = owner.platforms.find((p) => p.platform === platform);
  return found ? (found.labels[state.locale] || found.labels.en) : platform;
}

function webhookUrl(channel) {
  return channel.webhook_url || `${location.origin}${channel.webhook_path}`;
}

function showChannels() {
  $("#channel-list").replaceChildren(...owner.channels.map(channelCard));
  $("#channels-empty").hidden = owner.channels.length > 0;
}

function channelCard(channel) {
  const li = el("li", null, "card channel");
  li.dataset.id = channel.id;
  const head = el("div", null, "card-head");
  head.append(el("strong", channel.name), el("span", platformLabel(channel.platform)),
    el("span", channel.enabled ? t("channelOn") : t("channelOff"), `badge ${channel.enabled ? "on" : "off"}`));
  const label = t("webhookUrl");
  const toggle = el("button", channel.enabled ? t("channelDisable") : t("channelEnable"));
  toggle.type = "button";
  toggle.ariaLabel = `${toggle.textContent}: ${channel.name}`;
  toggle.addEventListener("click", () => setChannelEnabled(channel, !channel.enabled));
  li.append(head, el("span", label, "field-label"), copyRow(webhookUrl(channel), `${label}: ${channel.name}`, $("#channels-status")), toggle);
  return li;
}

async function setChannelEnabled(channel, enabled) {
  try {
    await api(`/api/v1/channels/${encodeURIComponent(channel.id)}`, { method: "PATCH", json: { enabled } });
    $("#channels-status").textContent = t(enabled ? "channelEnabled" : "channelDisabled", { name: channel.name });
    await loadChannels();
  } catch (err) {
    $("#channels-status").textContent = err.message;
  }
}

function fillPlatforms() {
  const select = $("#channel-platform");
  const chosen = select.value || (owner.platforms[0] && owner.platforms[0].platform);
  select.replaceChildren(...owner.platforms.map((p) => {
    const option = el("option", p.labels[state.locale] || p.labels.en); option.value = p.platform; return option;
  }));
  select.value = chosen;
  fillSecrets();
}

// The secrets the chosen platform needs, as the API describes them; labels and help in the
// page's language where the catalogue has them, else the API's English help.
function fillSecrets() {
  const platform = owner.platforms.find((p) => p.platform === $("#channel-platform").value);
  const box = $("#channel-secrets");
  const kept = {};
  for (const input of box.querySelectorAll("input")) kept[input.name] = input.value;
  const fields = (platform ? platform.secrets : []).map((secret) => {
    const label = el("label");
    const input = el("input");
    input.name = secret.name; input.dataset.field = secret.name;
    input.type = "password"; input.autocomplete = "off"; input.spellcheck = false;
    input.maxLength = secret.max_chars; input.value = kept[secret.name] || "";
    const helpKey = `help_${platform.platform}_${secret.name}`;
    const help = state.words.messages[helpKey] ? t(helpKey) : secret.help;
    label.append(el("span", t(`field_${secret.name}`)), input, el("small", help, "hint"));
    const error = el("span", null, "error"); error.dataset.errorFor = secret.name;
    label.append(error);
    return label;
  });
  box.replaceChildren(box.querySelector("legend"), ...fields);
}

async function addChannel(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const secrets = {};
  for (const input of $("#channel-secrets").querySelectorAll("input")) secrets[input.name] = input.value.trim();
  const missing = Object.keys(secrets).find((name) => !secrets[name]);
  if (missing) {
    showError(form, { message: t("err_missing_field", { field: t(`field_${missing}`) }), body: { field: missing } });
    return;
  }
  const body = { platform: form.elements.platform.value, secrets };
  if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
  try {
    const channel = await (await api("/api/v1/channels", { method: "POST", json: body })).json();
    form.reset();
    fillSecrets();
    for (const input of $("#channel-secrets").querySelectorAll("input")) input.value = "";
    await loadChannels();
    $("#channels-status").textContent = t("channelAdded", { name: channel.name, platform: platformLabel(channel.platform) });
  } catch (err) {
    showError(form, err);
  }
}

async function setAutoMerge(event) {
  const box = event.target;
  const on = box.checked;
  try {
    state.shop = await (await api("/api/v1/shop", { method: "PATCH", json: { auto_merge: on } })).json();
    $("#auto-merge-status").textContent = t(on ? "autoMergeOn" : "autoMergeOff");
  } catch (err) {
    box.checked = !on;
    $("#auto-merge-status").textContent = err.message;
  }
}

// ---- team -----------------------------------------------------------------------------------

async function loadTeam() {
  const [users, invitations, admins] = await Promise.all(
    ["/api/v1/users", "/api/v1/invitations", "/api/v1/chat-admins"].map((path) => api(path).then((r) => r.json())),
  );
  $("#user-table tbody").replaceChildren(...users.items.map(userRow));
  $("#invitation-list").replaceChildren(...invitations.items.map((i) =>
    el("li", t("invitationLine", { email: i.email, role: roleName(i.role), when: when(i.expires_at) }))));
  if (!invitations.items.length) $("#invitation-list").append(el("li", t("invitationsEmpty"), "empty"));
  $("#admin-list").replaceChildren(...admins.items.map(adminItem));
  if (!admins.items.length) $("#admin-list").append(el("li", t("chatAdminsEmpty"), "empty"));
}

function userRow(user) {
  const tr = el("tr");
  const email = el("td", user.email);
  if (user.you) email.append(el("span", t("you"), "badge"));
  const actions = el("td");
  if (!user.you) {
    const remove = el("button", t("userRemove")); remove.type = "button";
    remove.ariaLabel = `${t("userRemove")}: ${user.email}`;
    remove.addEventListener("click", () => removeUser(user));
    actions.append(remove);
  }
  tr.append(email, el("td", roleName(user.role)), el("td", when(user.created_at, false), "figure"), actions);
  return tr;
}

async function removeUser(user) {
  if (!confirm(t("userRemoveConfirm", { email: user.email }))) return;
  try {
    await api(`/api/v1/users/${encodeURIComponent(user.id)}`, { method: "DELETE" });
    $("#users-status").textContent = t("userRemoved", { email: user.email });
    await loadTeam();
  } catch (err) {
    $("#users-status").textContent = err.message;
  }
}

async function invite(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const body = { email: form.elements.email.value.trim(), role: form.elements.role.value };
  try {
    const made = await (await api("/api/v1/invitations", { method: "POST", json: body })).json();
    form.reset();
    $("#invite-text").textContent = t(made.sent ? "inviteSent" : "inviteLinkOnly", { email: made.email, when: when(made.expires_at) });
    $("#invite-link").value = made.link;
    $("#invite-result").hidden = false;
    await loadTeam();
  } catch (err) {
    showError(form, err);
  }
}

function adminItem(admin) {
  const li = el("li");
  const who = admin.name ? `${admin.name} (${admin.platform_user_id})` : admin.platform_user_id;
  li.append(el("span", t("chatAdminLine", {
    who, channel: channelName(admin.channel), role: roleName(admin.role), when: when(admin.linked_at),
  })));
  const unlink = el("button", t("chatAdminUnlink")); unlink.type = "button";
  unlink.ariaLabel = `${t("chatAdminUnlink")}: ${who}`;
  unlink.addEventListener("click", async () => {
    try {
      await api(`/api/v1/chat-admins/${encodeURIComponent(admin.id)}`, { method: "DELETE" });
      $("#admins-status").textContent = t("chatAdminUnlinked", { who });
      await loadTeam();
    } catch (err) {
      $("#admins-status").textContent = err.message;
    }
  });
  li.append(unlink);
  return li;
}

async function makeLinkCode(event) {
  event.preventDefault();
  try {
    const made = await (await api("/api/v1/chat-admins/link-codes", {
      method: "POST", json: { role: event.target.elements.role.value },
    })).json();
    $("#link-code-value").textContent = made.code;
    $("#link-code-text").textContent = t("linkCodeHow", { code: made.code, role: roleName(made.role), when: when(made.expires_at) });
    $("#link-code").hidden = false;
    $("#admins-status").textContent = "";
  } catch (err) {
    $("#admins-status").textContent = err.message;
  }
}

// ---- scheduled e-mails ----------------------------------------------------------------------

async function loadSchedules() {
  const [schedules, segments] = await Promise.all([
    api("/api/v1/report-schedules").then((r) => r.json()), api("/api/v1/segments").then((r) => r.json()),
  ]);
  owner.schedules = schedules.items;
  owner.segments = segments.items;
  fillScheduleChoices();
  $("#schedule-table tbody").replaceChildren(...owner.schedules.map(scheduleRow));
  $("#schedules-empty").hidden = owner.schedules.length > 0;
  if (owner.history) {
    const shown = owner.schedules.find((s) => s.id === owner.history.id);
    if (shown) await showHistory(shown); else $("#deliveries").hidden = true;
  }
}

function weekdayName(index) {  // 0 = Monday; 2024-01-01 was a Monday
  return new Intl.DateTimeFormat(intlLocale(), { weekday: "long", timeZone: "UTC" }).format(Date.UTC(2024, 0, 1 + index));
}

const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

function cadenceText(c) {
  if (c.every === "week") return t("cadenceWeek", { weekday: weekdayName(WEEKDAYS.indexOf(c.weekday)), at: c.at });
  if (c.every === "month") {
    return c.day === "last" ? t("cadenceMonthLast", { at: c.at }) : t("cadenceMonth", { day: number(c.day), at: c.at });
  }
  return t("cadenceDay", { at: c.at });
}

function segmentName(id) {
  if (!id) return t("allCustomers");
  const found = owner.segments.find((s) => s.id === id);
  return found ? found.name : id;
}

function scheduleRow(schedule) {
  const tr = el("tr");
  tr.dataset.id = schedule.id;
  const actions = el("td", null, "actions");
  const button = (key, handler) => {
    const b = el("button", t(key)); b.type = "button"; b.ariaLabel = `${t(key)}: ${schedule.name}`;
    b.addEventListener("click", handler);
    actions.append(b);
  };
  button("scheduleEdit", () => editSchedule(schedule));
  button(schedule.enabled ? "scheduleDisable" : "scheduleEnable", () => setScheduleEnabled(schedule, !schedule.enabled));
  button("scheduleTest", () => sendTest(schedule));
  button("scheduleHistory", () => showHistory(schedule));
  tr.append(el("td", schedule.name), el("td", cadenceText(schedule.cadence)), el("td", segmentName(schedule.segment_id)),
    el("td", schedule.recipients.join(", ")), el("td", schedule.next_fire_at ? when(schedule.next_fire_at) : "–", "figure"),
    el("td", t(schedule.enabled ? "scheduleOn" : "scheduleOff"), `nowrap`), actions);
  return tr;
}

function fillScheduleChoices() {
  const form = $("#schedule-form");
  const segment = form.elements.segment_id.value;
  const all = el("option", t("allCustomers")); all.value = "";
  form.elements.segment_id.replaceChildren(all, ...owner.segments.map((s) => {
    const option = el("option", s.name); option.value = s.id; return option;
  }));
  form.elements.segment_id.value = owner.segments.some((s) => s.id === segment) ? segment : "";
  const weekday = form.elements.weekday.value || "mon";
  form.elements.weekday.replaceChildren(...WEEKDAYS.map((day, i) => {
    const option = el("option", weekdayName(i)); option.value = day; return option;
  }));
  form.elements.weekday.value = weekday;
  if (!form.elements.day.options.length || form.elements.day.dataset.locale !== state.locale) {
    const day = form.elements.day.value || "1";
    const days = Array.from({ length: 28 }, (_, i) => { const o = el("option", number(i + 1)); o.value = String(i + 1); return o; });
    const last = el("option", t("lastDay")); last.value = "last";
    form.elements.day.replaceChildren(...days, last);
    form.elements.day.value = day;
    form.elements.day.dataset.locale = state.locale;
  }
  showCadenceParts();
}

function showCadenceParts() {
  const every = $("#schedule-form").elements.every.value;
  for (const label of document.querySelectorAll("#schedule-form [data-for-every]")) label.hidden = label.dataset.forEvery !== every;
}

function openScheduleForm(schedule) {
  const form = $("#schedule-form");
  form.reset();
  clearErrors(form);
  owner.editing = schedule;
  fillScheduleChoices();
  $("#schedule-form-title").textContent = schedule ? t("scheduleEditTitle", { name: schedule.name }) : t("scheduleNewTitle");
  if (schedule) {
    const e = form.elements;
    e.name.value = schedule.name; e.segment_id.value = schedule.segment_id || "";
    e.every.value = schedule.cadence.every; e.at.value = schedule.cadence.at;
    e.weekday.value = schedule.cadence.weekday || "mon"; e.day.value = String(schedule.cadence.day || "1");
    e.recipients.value = schedule.recipients.join("\n"); e.format.value = schedule.format;
    e.period.value = schedule.period; e.enabled.checked = schedule.enabled;
  }
  showCadenceParts();
  form.hidden = false;
  form.elements.name.focus();
}

function editSchedule(schedule) { openScheduleForm(schedule); }

function scheduleBody(form) {
  const e = form.elements;
  const cadence = { every: e.every.value, at: e.at.value };
  if (cadence.every === "week") cadence.weekday = e.weekday.value;
  if (cadence.every === "month") cadence.day = e.day.value === "last" ? "last" : Number(e.day.value);
  return {
    name: e.name.value, segment_id: e.segment_id.value || null, cadence,
    recipients: e.recipients.value.split(/[\s,;]+/).filter(Boolean),
    format: e.format.value, period: e.period.value, enabled: e.enabled.checked,
  };
}

async function saveSchedule(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const editing = owner.editing;
  const path = editing ? `/api/v1/report-schedules/${encodeURIComponent(editing.id)}` : "/api/v1/report-schedules";
  try {
    const saved = await (await api(path, { method: editing ? "PATCH" : "POST", json: scheduleBody(form) })).json();
    form.hidden = true;
    owner.editing = null;
    await loadSchedules();
    $("#schedules-status").textContent = t("scheduleSaved", { name: saved.name });
  } catch (err) {
    showError(form, err);
  }
}

async function setScheduleEnabled(schedule, enabled) {
  try {
    await api(`/api/v1/report-schedules/${encodeURIComponent(schedule.id)}`, { method: "PATCH", json: { enabled } });
    await loadSchedules();
    $("#schedules-status").textContent = t(enabled ? "scheduleEnabledNow" : "scheduleDisabledNow", { name: schedule.name });
  } catch (err) {
    $("#schedules-status").textContent = err.message;
  }
}

async function sendTest(schedule) {
  $("#schedules-status").textContent = t("scheduleTesting", { name: schedule.name });
  try {
    const delivery = await (await api(`/api/v1/report-schedules/${encodeURIComponent(schedule.id)}/send`, { method: "POST" })).json();
    $("#schedules-status").textContent = t("scheduleTested", { name: schedule.name, state: t(`state_${delivery.state}`) });
    await showHistory(schedule);
  } catch (err) {
    $("#schedules-status").textContent = err.message;
  }
}

// The schedule's deliveries, newest first, a page at a time.
async function showHistory(schedule, cursor = null) {
  const params = new URLSearchParams({ limit: String(DELIVERY_PAGE) });
  if (cursor) params.set("cursor", cursor);
  const page = await (await api(`/api/v1/report-schedules/${encodeURIComponent(schedule.id)}/deliveries?${params}`)).json();
  owner.history = { id: schedule.id, schedule, cursor: page.next_cursor };
  $("#deliveries-title").textContent = t("deliveriesTitle", { name: schedule.name });
  const body = $("#delivery-table tbody");
  if (!cursor) body.replaceChildren();
  body.append(...page.items.map(deliveryRow));
  $("#deliveries-empty").hidden = body.children.length > 0;
  $("#deliveries-more").hidden = !page.next_cursor;
  $("#deliveries").hidden = false;
}

function deliveryRow(d) {
  const state_ = el("td", t(`state_${d.state}`), `nowrap state-${d.state}`);
  if (d.last_error) state_.append(el("small", d.last_error, "hint"));
  const to = d.delivered_to.length ? d.delivered_to : d.recipients;
  const tr = el("tr");
  tr.append(el("td", when(d.sent_at || d.fire_time), "figure"), el("td", t(`kind_${d.kind}`)), state_,
    el("td", d.rows === null || d.rows === undefined ? "–" : number(d.rows), "num"), el("td", to.join(", ")));
  return tr;
}

// ---- wiring ---------------------------------------------------------------------------------

function wireOwner() {
  window.addEventListener("hashchange", route);
  document.addEventListener("chatcrm:enter", route);
  document.addEventListener("chatcrm:leave", leaveOwnerPages);
  document.addEventListener("chatcrm:words", () => { if (currentPage() !== "report") route(); });
  $("#channel-platform").addEventListener("change", fillSecrets);
  $("#channel-form").addEventListener("submit", addChannel);
  $("#auto-merge").addEventListener("change", setAutoMerge);
  $("#invite-form").addEventListener("submit", invite);
  $("#link-code-form").addEventListener("submit", makeLinkCode);
  $("[data-copy=invite-link]").addEventListener("click", () => copyValue($("#invite-link"), $("#users-status")));
  $("#schedule-new").addEventListener("click", () => openScheduleForm(null));
  $("#schedule-cancel").addEventListener("click", () => { $("#schedule-form").hidden = true; owner.editing = null; });
  $("#schedule-form").addEventListener("submit", saveSchedule);
  $("#schedule-form").elements.every.addEventListener("change", showCadenceParts);
  $("#deliveries-more").addEventListener("click", () => showHistory(owner.history.schedule, owner.history.cursor));
}

document.addEventListener("DOMContentLoaded", wireOwner);
