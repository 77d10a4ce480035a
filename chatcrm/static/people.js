// chatcrm dashboard, one person across channels: the "Same person?" page (merge suggestions; a
// merge with a preview of the person it makes; "not the same person") and, in the customer
// panel, the person's chat identities with "Split off". Loaded after app.js and owner.js and
// using their helpers ($, el, t, api, when, number, money, channelName, channelList, state,
// refresh, openCustomer). owner.js routes #people here (loadPeople); app.js fires
// chatcrm:customer when a customer's panel fills.
"use strict";

const SUGGESTION_PAGE = 20;
const people = { cursor: null, suggestions: new Map(), previews: new Map(), splitting: null };

function customerPath(id, action = "") {
  return `/api/v1/customers/${encodeURIComponent(id)}${action}`;
}

function shownName(customer) {
  return customer.name || customer.platform_user_id;
}

// ---- the suggestions ------------------------------------------------------------------------

async function loadPeople(cursor = null) {
  const params = new URLSearchParams({ limit: String(SUGGESTION_PAGE) });
  if (cursor) params.set("cursor", cursor);
  const page = await (await api(`/api/v1/merge-suggestions?${params}`)).json();
  const list = $("#suggestion-list");
  if (!cursor) {
    list.replaceChildren(); people.suggestions.clear(); people.previews.clear(); status("");
  }
  for (const item of page.items) people.suggestions.set(item.id, item);
  list.append(...page.items.map(suggestionCard));
  people.cursor = page.next_cursor;
  $("#people-more").hidden = !page.next_cursor;
  $("#people-empty").hidden = list.children.length > 0;
}

function reasonText(reason) {
  const phone = reason.field === "phone";
  return t(phone ? "reasonPhone" : "reasonEmail", { value: reason.value });
}

function suggestionCard(suggestion) {
  const li = el("li", null, "card suggestion");
  li.dataset.id = suggestion.id;
  const actions = el("div", null, "actions");
  const open = el("button", t("mergeOpen"));
  const dismissButton = el("button", t("notSamePerson"));
  for (const button of [open, dismissButton]) button.type = "button";
  open.addEventListener("click", () => openPreview(li, suggestion, null).catch((err) => status(err.message)));
  dismissButton.addEventListener("click", () => dismissSuggestion(li, suggestion));
  actions.append(open, dismissButton);
  const preview = el("section", null, "preview");
  preview.hidden = true;
  li.append(el("h3", reasonText(suggestion.reason)), membersTable(suggestion), actions, preview);
  return li;
}

function membersTable(suggestion) {
  const box = el("div", null, "scroll-box");
  box.tabIndex = 0; box.setAttribute("role", "region"); box.ariaLabel = reasonText(suggestion.reason);
  const table = el("table", null, "members");
  const head = el("tr");
  for (const [key, cls] of [["name"], ["channels"], ["phone"], ["email"], ["paidTotal", "num"], ["orders", "num"]]) {
    head.append(el("th", t(key), cls));
  }
  const body = el("tbody");
  for (const m of suggestion.members) {
    const tr = el("tr");
    tr.append(el("td", shownName(m)), el("td", channelList(m.channels || [m.channel])), el("td", m.phone || ""),
      el("td", m.email || ""), el("td", money(m.paid_total), "num"), el("td", number(m.order_count), "num"));
    body.append(tr);
  }
  const thead = el("thead"); thead.append(head);
  table.append(thead, body);
  box.append(table);
  return box;
}

function status(text) { $("#people-status").textContent = text; }

async function dismissSuggestion(card, suggestion) {
  try {
    await api(`/api/v1/merge-suggestions/${encodeURIComponent(suggestion.id)}/dismiss`, { method: "POST" });
    card.remove();
    people.previews.delete(suggestion.id);
    $("#people-empty").hidden = $("#suggestion-list").children.length > 0;
    status(t("dismissed", { reason: reasonText(suggestion.reason) }));
  } catch (err) {
    status(err.message);
  }
}

// ---- the preview: the person the merge makes, computed as the API merges --------------------

// Each member as it is now (tags, notes, identities, totals and the version the merge guards).
async function openPreview(card, suggestion, target) {
  const details = await Promise.all(suggestion.members.map(
    async (m) => (await api(customerPath(m.id))).json()));
  const chosen = details.some((d) => d.id === target) ? target : details[0].id;
  people.previews.set(suggestion.id, { suggestion, details, target: chosen });
  showPreview(card);
  card.querySelector(".preview h4").focus();
}

// The target keeps its name, phone and e-mail (each filled from the first other that has one
// where it has none); tags united, notes joined (each once), identities of them all, totals summed.
function mergedPerson(details, targetId) {
  const target = details.find((d) => d.id === targetId);
  const all = [target, ...details.filter((d) => d !== target)];
  const filled = (name) => all.map((d) => d[name]).find((v) => v !== null && v !== undefined) ?? null;
  const sum = (name) => all.reduce((total, d) => total + (d.stats[name] || 0), 0);
  return {
    name: filled("name"), phone: filled("phone"), email: filled("email"),
    tags: [...new Set(all.flatMap((d) => d.tags))],
    notes: [...new Set(all.map((d) => d.notes).filter(Boolean))].join("\n\n"),
    identities: all.flatMap((d) => d.identities),
    paid: sum("paid_total"), orders: sum("order_count"), currency: target.stats.currency,
  };
}

function showPreview(card) {
  const preview = people.previews.get(card.dataset.id);
  const section = card.querySelector(".preview");
  const title = el("h4", t("previewTitle"));
  title.tabIndex = -1;
  section.replaceChildren(title, targetChoice(card, preview), previewFigures(preview), previewActions(card, preview));
  section.hidden = false;
}

function targetChoice(card, preview) {
  const box = el("fieldset", null, "target-choice");
  box.append(el("legend", t("mergeTarget")));
  for (const d of preview.details) {
    const radio = el("input");
    radio.type = "radio"; radio.name = `target-${card.dataset.id}`; radio.value = d.id;
    radio.checked = d.id === preview.target;
    radio.addEventListener("change", () => { preview.target = d.id; showPreview(card); card.querySelector(`input[value="${CSS.escape(d.id)}"]`).focus(); });
    const label = el("label");
    label.append(radio, ` ${shownName(d)} · ${channelList(d.identities.map((i) => i.channel))}`);
    box.append(label);
  }
  return box;
}

function previewFigures(preview) {
  const person = mergedPerson(preview.details, preview.target);
  const identities = el("ul", null, "identities");
  identities.append(...person.identities.map((i) => el("li", `${channelName(i.channel)} · ${i.platform_user_id}`)));
  const rows = [
    ["name", person.name || "–"], ["phone", person.phone || "–"], ["email", person.email || "–"],
    ["tags", person.tags.join(", ") || "–"], ["notes", person.notes || "–"],
    ["channels", channelList(person.identities.map((i) => i.channel))], ["identitiesTitle", identities],
    ["paidTotal", money(person.paid, person.currency)], ["orders", number(person.orders)],
  ];
  const dl = el("dl", null, "preview-figures");
  for (const [key, value] of rows) {
    const dd = el("dd", typeof value === "string" ? value : null);
    dd.dataset.field = key;
    if (typeof value !== "string") dd.append(value);
    dl.append(el("dt", t(key)), dd);
  }
  return dl;
}

function previewActions(card, preview) {
  const actions = el("div", null, "actions");
  const confirm = el("button", t("mergeConfirm"), "primary");
  const cancel = el("button", t("cancel"));
  for (const button of [confirm, cancel]) button.type = "button";
  confirm.addEventListener("click", async () => {  // one request at a time
    confirm.disabled = true;
    try { await confirmMerge(card, preview); } finally { confirm.disabled = false; }
  });
  cancel.addEventListener("click", () => {
    people.previews.delete(card.dataset.id);
    card.querySelector(".preview").hidden = true;
  });
  actions.append(confirm, cancel);
  const conflict = el("div", null, "conflict");
  conflict.setAttribute("role", "alert"); conflict.hidden = true;
  const reload = el("button", t("reloadGroup"));
  reload.type = "button";
  reload.addEventListener("click", () => reloadGroup(card.dataset.id, preview.target));
  conflict.append(el("p", t("mergeConflict")), reload);
  const wrap = el("div");
  wrap.append(actions, conflict);
  return wrap;
}

// Merging guards every member with the version the preview showed: a change since is a 409.
async function confirmMerge(card, preview) {
  const others = preview.details.filter((d) => d.id !== preview.target).map((d) => d.id);
  const versions = Object.fromEntries(preview.details.map((d) => [d.id, d.version]));
  try {
    const person = await (await api(customerPath(preview.target, "/merge"), {
      method: "POST", json: { others, versions },
    })).json();
    await loadPeople();
    status(t("merged", { name: shownName(person), count: number(others.length + 1) }));
    refresh();
  } catch (err) {
    if (err.code === "merge_conflict") card.querySelector(".conflict").hidden = false;
    else status(err.message);
  }
}

async function reloadGroup(id, target) {
  try {
    await loadPeople();
    const card = $(`#suggestion-list li[data-id="${CSS.escape(id)}"]`);
    if (card) await openPreview(card, people.suggestions.get(id), target);
    else status(t("groupGone"));
  } catch (err) {
    status(err.message);
  }
}

// ---- the customer panel: the person's identities --------------------------------------------

function showIdentities() {
  const detail = state.current;
  $("#split-confirm").hidden = true;
  $("#identity-status").textContent = "";
  people.splitting = null;
  $("#identity-list").replaceChildren(...detail.identities.map(identityItem));
}

function identityLabel(identity) {
  return { channel: channelName(identity.channel), id: identity.platform_user_id };
}

function identityItem(identity, index) {
  const li = el("li");
  const text = el("span");
  text.append(el("strong", channelName(identity.channel)), " ", el("span", identity.platform_user_id, "figure"),
    el("small", t("identityTimes", {
      first: when(identity.first_seen_at) || "–", last: when(identity.last_contact_at) || "–",
    }), "hint"));
  li.append(text);
  if (index > 0) {  // the person's first identity is the person: it stays
    const split = el("button", t("splitOff"));
    split.type = "button";
    split.ariaLabel = t("splitOffLabel", identityLabel(identity));
    split.addEventListener("click", () => askSplit(identity));
    li.append(split);
  }
  return li;
}

function askSplit(identity) {
  people.splitting = identity;
  $("#split-text").textContent = t("splitConfirm", identityLabel(identity));
  $("#split-confirm").hidden = false;
  $("#split-yes").focus();
}

async function splitOff() {
  const identity = people.splitting;
  if (!identity) return;
  people.splitting = null;  // one request per confirmation
  const id = state.current.id;
  try {
    await api(customerPath(id, "/unmerge"), {
      method: "POST", json: { identity: { channel: identity.channel, platform_user_id: identity.platform_user_id } },
    });
    await openCustomer(id);
    $("#identity-status").textContent = t("splitDone", identityLabel(identity));
    refresh();
  } catch (err) {
    $("#identity-status").textContent = err.message;
  }
}

function wirePeople() {
  document.addEventListener("chatcrm:customer", showIdentities);
  $("#people-more").addEventListener("click", () => loadPeople(people.cursor).catch((err) => status(err.message)));
  $("#split-yes").addEventListener("click", splitOff);
  $("#split-no").addEventListener("click", () => { $("#split-confirm").hidden = true; people.splitting = null; });
}

document.addEventListener("DOMContentLoaded", wirePeople);
