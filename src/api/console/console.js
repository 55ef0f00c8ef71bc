// txmail's web console: a page of the REST API. Every figure here comes from a public endpoint
// (docs/api.md), called with the session cookie; every change carries the session's CSRF token.
// Data is put into the page as text, never as markup.
"use strict";

const state = { session: null, actingFor: "" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
}

class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
    this.status = status;
  }
}

// One call of the REST API. The operator acting for an account names it in X-Txmail-Account.
async function api(method, path, body, options) {
  const headers = { "Accept": "application/json", "X-Txmail-Console": "1" };
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.session && state.session.admin && state.actingFor && !(options && options.everyAccount)) {
    headers["X-Txmail-Account"] = state.actingFor;
  }
  const res = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
  if (res.status === 401 && !path.startsWith("/console/")) {
    state.session = null;
    renderLogin("Your session has ended; log in again.");
    throw new ApiError(401, data);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

function errorBox(e) {
  return el("p", { class: "error", role: "alert" }, e.message || String(e));
}

function time(ts) {
  return ts ? new Date(ts).toLocaleString() : "";
}

function statusCell(s) {
  return el("span", { class: "status-" + s }, s);
}

// --- login and session

function renderLogin(message) {
  delete document.getElementById("main").dataset.page;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  document.getElementById("acting").hidden = true;
  document.getElementById("who").textContent = "";
  const input = el("input", { type: "password", id: "token", name: "token", autocomplete: "off",
                              placeholder: "txm_… or the admin token", required: true });
  const error = el("p", { class: "error", role: "alert" }, message || "");
  const form = el("form", { class: "login", id: "login-form", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const res = await fetch("/console/login", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: input.value }),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new ApiError(res.status, data);
      input.value = "";
      await startSession(data);
    } catch (e) {
      error.textContent = e.message;
    }
  } },
    el("h1", {}, "Log in"),
    el("label", { for: "token" }, "An account's API key, or the admin token"),
    input, el("button", { type: "submit", id: "login" }, "Log in"), error);
  show(form);
  input.focus();
}

async function startSession(session) {
  state.session = session;
  document.getElementById("nav").hidden = false;
  document.getElementById("logout").hidden = false;
  document.getElementById("who").textContent = session.admin ? "operator" : "account " + session.account;
  document.getElementById("nav-accounts").hidden = !session.admin;
  document.getElementById("nav-queues").hidden = !session.admin;
  const acting = document.getElementById("acting");
  acting.hidden = !session.admin;
  if (session.admin) {
    const select = document.getElementById("acting-for");
    const list = await api("GET", "/v2/admin/accounts");
    select.replaceChildren(el("option", { value: "" }, "(every account)"),
      ...list.accounts.map((a) => el("option", { value: a.name }, a.name)));
    select.value = state.actingFor;
    select.onchange = () => { state.actingFor = select.value; route(); };
  }
  if (!location.hash || location.hash === "#login") location.hash = "#overview";
  else route();
}

async function logout() {
  try { await api("POST", "/console/logout"); } catch (e) { /* ended already */ }
  state.session = null;
  location.hash = "#login";
  renderLogin("Logged out.");
}

// --- pages

const pages = {};

function needsAccount(title) {
  return el("div", {}, el("h1", {}, title),
    el("p", { class: "note" }, "Choose an account above: this page acts for one account."));
}

pages.overview = async () => {
  const hour = Date.now() - 3600 * 1000;
  const minutes = new Map();
  const totals = { ACCEPTED: 0, DEFERRED: 0, DELIVERED: 0, BOUNCED: 0, DROPPED: 0 };
  let cursor = null, fetched = 0, truncated = false;
  do {
    const q = new URLSearchParams({ since: new Date(hour).toISOString(), limit: "1000" });
    if (cursor) q.set("cursor", cursor);
    const page = await api("GET", "/v2/messages?" + q);
    for (const m of page.messages) {
      totals[m.status] = (totals[m.status] || 0) + 1;
      const minute = Math.floor(Date.parse(m.firstTs) / 60000);
      const row = minutes.get(minute) || {};
      row[m.status] = (row[m.status] || 0) + 1;
      minutes.set(minute, row);
    }
    cursor = page.nextCursor;
    fetched += 1;
    truncated = cursor !== null && fetched >= 10;
  } while (cursor && !truncated);
  const cards = el("div", { class: "cards" },
    ...Object.entries(totals).map(([k, v]) => el("div", { class: "card", id: "total-" + k },
      el("div", { class: "n status-" + k }, v), el("div", { class: "l" }, k.toLowerCase()))));
  const parts = [el("h1", {}, "Overview"),
    el("p", { class: "note" }, "Messages accepted in the last hour by their state now" +
      (truncated ? " (the newest 10,000)" : "") + ", per minute of acceptance."),
    cards, chart(minutes, hour)];
  if (state.session.admin) parts.push(await nodeGauges());
  show(...parts);
};

const colors = { DELIVERED: "#12b76a", DEFERRED: "#f79009", BOUNCED: "#f04438", DROPPED: "#98a2b3", ACCEPTED: "#2e90fa" };

function chart(minutes, since) {
  const ns = "http://www.w3.org/2000/svg";
  const width = 720, height = 160, first = Math.floor(since / 60000);
  let max = 1;
  for (const row of minutes.values()) max = Math.max(max, Object.values(row).reduce((a, b) => a + b, 0));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "messages per minute");
  const bar = width / 61;
  for (let i = 0; i <= 60; i++) {
    const row = minutes.get(first + i) || {};
    let y = height;
    for (const status of Object.keys(colors)) {
      const n = row[status] || 0;
      if (!n) continue;
      const h = (n / max) * (height - 10);
      y -= h;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", i * bar + 1);
      r.setAttribute("y", y);
      r.setAttribute("width", bar - 2);
      r.setAttribute("height", h);
      r.setAttribute("fill", colors[status]);
      svg.append(r);
    }
  }
  const legend = el("div", { class: "legend" }, ...Object.entries(colors).map(([k, c]) =>
    el("span", {}, el("i", {}), k.toLowerCase())));
  legend.querySelectorAll("i").forEach((i, n) => { i.style.background = Object.values(colors)[n]; });
  return el("div", {}, svg, legend, el("p", { class: "note" }, "Highest minute: " + max));
}

// The node's own gauges, from /metrics (the operator's view: they count every account).
async function nodeGauges() {
  const res = await fetch("/metrics", { credentials: "same-origin" });
  const text = res.ok ? await res.text() : "";
  const value = (name) => {
    const line = text.split("\n").find((l) => l.startsWith(name + " "));
    return line ? Number(line.split(" ")[1]) : null;
  };
  const gauges = [["txmail_queue_jobs", "jobs queued"], ["txmail_webhook_retry_backlog", "webhook batches to retry"],
    ["txmail_webhook_dead_letters", "webhook dead letters"], ["txmail_smtp_connections", "SMTP connections"]];
  let oldest = null;
  try {
    const queues = await api("GET", "/v2/admin/queues", undefined, { everyAccount: true });
    oldest = el("div", { class: "card", id: "oldest-queued" }, el("div", { class: "n" }, queues.oldestTs ? age(queues.oldestTs) : "none"),
      el("div", { class: "l" }, "oldest queued message" + (queues.oldestTs ? " (" + time(queues.oldestTs) + ")" : "")));
  } catch (e) { if (e.status === 401) throw e; }
  return el("div", {}, el("h2", {}, "This node"), el("div", { class: "cards" },
    ...gauges.filter(([n]) => value(n) !== null).map(([n, label]) =>
      el("div", { class: "card" }, el("div", { class: "n" }, value(n)), el("div", { class: "l" }, label))), oldest),
    el("p", {}, el("a", { href: "#queues" }, "Queues by destination")));
}

// "3 min", "2 h": how long ago `ts` was.
function age(ts) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? s + " s" : s < 7200 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
}

pages.messages = async (params) => {
  const form = el("form", { class: "row", id: "search-form" },
    ...["recipient", "sender"].map((f) => el("label", {}, f,
      el("input", { name: f, id: "search-" + f, value: params.get(f) || "", size: 28 }))),
    el("label", {}, "status", el("select", { name: "status", id: "search-status" },
      ...["", "ACCEPTED", "DEFERRED", "DELIVERED", "BOUNCED", "DROPPED"].map((s) =>
        el("option", { value: s, selected: params.get("status") === s }, s || "(any)")))),
    ...["since", "until"].map((f) => el("label", {}, f + " (RFC 3339)",
      el("input", { name: f, value: params.get(f) || "", size: 22, placeholder: "2026-12-01T10:00:00Z" }))),
    el("button", { type: "submit", id: "search" }, "Search"));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    location.hash = "#messages?" + q;
  };
  const q = new URLSearchParams();
  for (const [k, v] of params) if (v && k !== "mail") q.set(k, v);
  q.set("limit", "50");
  const results = el("div", { id: "results" });
  show(el("h1", {}, "Messages"), form, results);
  const page = await api("GET", "/v2/messages?" + q);
  results.replaceChildren(messageTable(page.messages),
    page.nextCursor ? el("p", { class: "note" }, "More messages match: narrow the search.") : "");
  results.setAttribute("data-loaded", q.toString());
};

function messageTable(messages) {
  if (!messages.length) return el("p", { id: "no-results" }, "No message matches.");
  return el("table", { id: "message-table" },
    el("tr", {}, ...["recipient", "from", "status", "accepted", "latest reply", ""].map((h) => el("th", {}, h))),
    ...messages.map((m) => el("tr", { "data-mail-id": m.mailId },
      el("td", {}, m.email), el("td", {}, m.from), el("td", {}, statusCell(m.status)),
      el("td", {}, time(m.firstTs)), el("td", { class: "mono" }, m.reply || ""),
      el("td", {}, el("a", { href: "#message?id=" + encodeURIComponent(m.mailId), class: "timeline-link" }, "timeline")))));
}

pages.message = async (params) => {
  const id = params.get("id");
  const m = await api("GET", "/v2/messages/" + encodeURIComponent(id), undefined, { everyAccount: true });
  show(el("h1", {}, "Message to " + m.email),
    el("p", {}, "Status: ", statusCell(m.status), " · from ", m.from || "", " · job ",
      el("span", { class: "mono" }, m.jobId), " · mail ", el("span", { class: "mono", id: "mail-id" }, m.mailId)),
    el("table", { id: "timeline" },
      el("tr", {}, ...["time", "event", "reply or description", "attempt", "remote host", "egress", "TLS"].map((h) => el("th", {}, h))),
      ...m.events.map((e) => el("tr", {},
        el("td", {}, time(e.ts)), el("td", {}, [e.type, e.subType].filter(Boolean).join(" / ")),
        el("td", { class: "mono reply" }, e.description || ""), el("td", {}, e.attempt || ""),
        el("td", {}, e.remoteHost || ""), el("td", {}, e.egress || ""), el("td", {}, e.tls || "")))));
};

pages.suppressions = async () => {
  if (state.session.admin && !state.actingFor) return show(needsAccount("Suppressions"));
  const list = await api("GET", "/v2/suppressions?limit=200");
  const email = el("input", { name: "email", id: "suppress-email", type: "email", required: true, size: 30 });
  const error = el("div");
  const add = el("form", { class: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    try { await api("POST", "/v2/suppressions", { email: email.value }); route(); } catch (e) { error.replaceChildren(errorBox(e)); }
  } }, el("label", {}, "address", email), el("button", { type: "submit" }, "Suppress"));
  const rows = list.suppressions.map((s) => el("tr", { "data-email": s.email },
    el("td", {}, s.email), el("td", {}, s.type), el("td", { class: "mono" }, s.reason), el("td", {}, s.source),
    el("td", {}, time(s.createdTs)), el("td", {}, time(s.expiresTs)),
    el("td", {}, el("button", { type: "button", class: "plain remove", onclick: async () => {
      try { await api("DELETE", "/v2/suppressions/" + encodeURIComponent(s.email)); route(); } catch (e) { error.replaceChildren(errorBox(e)); }
    } }, "Remove"))));
  show(el("h1", {}, "Suppressions"), add, error, rows.length ? el("table", { id: "suppression-table" },
    el("tr", {}, ...["address", "type", "reason", "source", "since", "until", ""].map((h) => el("th", {}, h))), ...rows)
    : el("p", { id: "no-suppressions" }, "No address is suppressed."));
};

pages.domains = async () => {
  const list = await api("GET", "/v2/domains");
  const error = el("div");
  const sections = list.domains.map((d) => el("section", { "data-domain": d.name },
    el("h2", {}, d.name, " ", el("span", { class: d.verified ? "ok" : "warn" }, d.verified ? "verified" : "not verified"),
      state.session.admin ? " · " + d.account : ""),
    el("table", {}, el("tr", {}, ...["purpose", "name", "type", "value", "status"].map((h) => el("th", {}, h))),
      ...d.records.map((r) => el("tr", {}, el("td", {}, r.purpose), el("td", { class: "mono" }, r.name),
        el("td", {}, r.type), el("td", { class: "mono" }, r.value),
        el("td", { class: r.status === "ok" ? "ok" : "bad" }, r.status + (r.found ? " (found " + r.found + ")" : ""))))),
    el("button", { type: "button", class: "verify", onclick: async () => {
      try { await api("POST", "/v2/domains/" + encodeURIComponent(d.name) + "/verify", undefined, { everyAccount: true }); route(); }
      catch (e) { error.replaceChildren(errorBox(e)); }
    } }, "Verify now")));
  show(el("h1", {}, "Sender domains"), error, ...(sections.length ? sections : [el("p", {}, "No sender domain yet (txmail domain add).")]));
};

pages.webhooks = async () => {
  if (state.session.admin && !state.actingFor) return show(needsAccount("Webhooks"));
  let endpoint = null;
  try { endpoint = await api("GET", "/v2/webhooks/endpoint"); } catch (e) { if (e.status !== 404) throw e; }
  const dead = await api("GET", "/v2/webhooks/dead-letters");
  const error = el("div");
  const replay = el("button", { type: "button", id: "replay", disabled: dead.deadLetters.length === 0, onclick: async () => {
    try {
      const r = await api("POST", "/v2/webhooks/dead-letters/replay");
      error.replaceChildren(el("p", { class: "ok", id: "replayed" }, "Replayed " + r.replayed + " dead letters."));
      setTimeout(route, 1500);
    } catch (e) { error.replaceChildren(errorBox(e)); }
  } }, "Replay dead letters");
  show(el("h1", {}, "Webhooks"),
    el("p", {}, "Endpoint: ", endpoint ? el("span", { class: "mono" }, endpoint.url || JSON.stringify(endpoint)) : "none"),
    el("h2", {}, "Dead letters"), error,
    dead.deadLetters.length ? el("table", { id: "dead-letters" },
      el("tr", {}, ...["since", "job", "url", "attempts", "last error", "notifications"].map((h) => el("th", {}, h))),
      ...dead.deadLetters.map((d) => el("tr", {}, el("td", {}, time(d.createdTs)), el("td", { class: "mono" }, d.jobId),
        el("td", { class: "mono" }, d.url), el("td", {}, d.attempts), el("td", { class: "mono" }, d.lastError), el("td", {}, d.notifications))))
      : el("p", { id: "no-dead-letters" }, "No dead letters."),
    replay);
};

pages.sandbox = async () => {
  const page = await api("GET", "/v2/sandbox/messages?limit=100");
  show(el("h1", {}, "Sandbox"), el("p", { class: "note" }, "Mail of sandbox accounts: captured here, never sent."),
    page.messages.length ? el("table", { id: "captured" },
      el("tr", {}, ...["captured", "from", "to", "size", "mail"].map((h) => el("th", {}, h))),
      ...page.messages.map((m) => el("tr", {}, el("td", {}, time(m.capturedTs)), el("td", {}, m.from), el("td", {}, m.to),
        el("td", {}, m.size), el("td", {}, el("a", { href: "#message?id=" + encodeURIComponent(m.mailId) }, "timeline")))))
      : el("p", {}, "Nothing captured."));
};

// The node's delivery queues (GET /v2/admin/queues): the operator's page.
pages.queues = async () => {
  if (!state.session.admin) {
    return show(el("h1", {}, "Queues"), el("p", { class: "note" }, "Queues are the operator's: log in with the admin token."));
  }
  const v = await api("GET", "/v2/admin/queues", undefined, { everyAccount: true });
  const error = el("div", { id: "queue-message" });
  if (state.flash) error.replaceChildren(el("p", { class: "ok", id: "queue-done" }, state.flash));
  state.flash = null;
  const act = (verb, selector) => async () => {
    try {
      const r = await api("POST", "/v2/admin/queues/" + verb, selector, { everyAccount: true });
      state.flash = verb + " " + (selector.site || selector.domain) + ": " + r.held + " held, " +
        r.broughtForward + " due now, " + r.backOffsCleared + " back-offs ended";
      await route();
    } catch (e) { error.replaceChildren(errorBox(e)); }
  };
  const pausedSite = new Set(v.pauses.filter((p) => p.site).map((p) => p.site));
  const pausedDomain = new Set(v.pauses.filter((p) => p.domain).map((p) => p.domain));
  const toggle = (selector, paused) => el("button", { type: "button", class: "plain " + (paused ? "resume" : "pause"),
    onclick: act(paused ? "resume" : "pause", selector) }, paused ? "Resume" : "Pause");
  const retry = (selector) => el("button", { type: "button", class: "plain retry", onclick: act("retry", selector) }, "Retry now");
  const destinations = v.destinations.length ? el("table", { id: "destinations" },
    el("tr", {}, ...["destination site", "source", "domains", "ready", "waiting", "connections", "oldest", "state", ""].map((h) => el("th", {}, h))),
    ...v.destinations.map((d) => el("tr", { "data-site": d.site },
      el("td", { class: "mono" }, d.site), el("td", {}, d.source), el("td", {}, d.domains.join(", ")),
      el("td", {}, d.recipients), el("td", {}, d.waitingRecipients), el("td", {}, d.connections), el("td", {}, time(d.oldestTs)),
      el("td", { class: d.backedOffUntil || d.paused ? "warn" : "ok" },
        d.paused ? "paused" : d.backedOffUntil ? "backed off until " + time(d.backedOffUntil) : "active",
        d.lastReply ? el("div", { class: "mono" }, d.lastReply) : ""),
      el("td", {}, toggle({ site: d.site }, pausedSite.has(d.site)), " ", retry({ site: d.site })))))
    : el("p", { id: "no-destinations" }, "No destination has mail waiting for a connection.");
  const waiting = v.waiting.length ? el("table", { id: "waiting" },
    el("tr", {}, ...["domain", "recipients", "next attempt", "oldest", ""].map((h) => el("th", {}, h))),
    ...v.waiting.map((w) => el("tr", { "data-domain": w.domain },
      el("td", {}, w.domain), el("td", {}, w.recipients), el("td", {}, time(w.nextAttemptTs)), el("td", {}, time(w.oldestTs)),
      el("td", {}, toggle({ domain: w.domain }, pausedDomain.has(w.domain)), " ", retry({ domain: w.domain })))))
    : el("p", { id: "no-waiting" }, "Nothing waits for a later attempt.");
  const pauses = v.pauses.length ? el("table", { id: "pauses" },
    el("tr", {}, ...["paused", "since", "until", ""].map((h) => el("th", {}, h))),
    ...v.pauses.map((p) => el("tr", {}, el("td", { class: "mono" }, p.site ? "site " + p.site : "domain " + p.domain),
      el("td", {}, time(p.sinceTs)), el("td", {}, p.untilTs ? time(p.untilTs) : "until resumed"),
      el("td", {}, toggle(p.site ? { site: p.site } : { domain: p.domain }, true)))))
    : el("p", { id: "no-pauses" }, "Nothing is paused.");
  const kind = el("select", { id: "pause-kind" }, el("option", { value: "domain" }, "domain"), el("option", { value: "site" }, "site"));
  const name = el("input", { id: "pause-name", required: true, size: 30 });
  const form = el("form", { class: "row", id: "pause-form", onsubmit: (ev) => {
    ev.preventDefault();
    act("pause", { [kind.value]: name.value.trim() })();
  } }, el("label", {}, "pause a", kind), el("label", {}, "name", name), el("button", { type: "submit" }, "Pause"));
  show(el("h1", {}, "Queues"),
    el("div", { class: "cards" }, ...[["jobs queued", v.jobs], ["oldest queued", v.oldestTs ? time(v.oldestTs) : "none"],
      ["recipients ready", v.readyRecipients], ["recipients waiting", v.waitingRecipients], ["connections", v.connections]]
      .map(([l, n]) => el("div", { class: "card" }, el("div", { class: "n" }, n), el("div", { class: "l" }, l)))),
    error, el("h2", {}, "Destinations (ready queues)"), destinations,
    el("h2", {}, "Waiting for a later attempt, by domain"), waiting,
    el("h2", {}, "Pauses"), el("p", { class: "note" }, "A pause holds mail on this node without attempts or events; it ends when resumed, at its time, or when the node restarts."),
    pauses, form);
};

pages.accounts = async () => {
  const list = await api("GET", "/v2/admin/accounts");
  show(el("h1", {}, "Accounts"), el("table", { id: "accounts" },
    el("tr", {}, ...["name", "state", "sandbox", "pool", "hourly limit", "keys"].map((h) => el("th", {}, h))),
    ...list.accounts.map((a) => el("tr", {}, el("td", {}, a.name), el("td", { class: a.disabled ? "bad" : "ok" }, a.disabled ? "disabled" : "enabled"),
      el("td", {}, a.sandbox ? "yes" : ""), el("td", {}, a.pool || ""), el("td", {}, a.hourlyLimit ?? "default"),
      el("td", {}, el("button", { type: "button", class: "plain", onclick: async (ev) => {
        const keys = await api("GET", "/v2/admin/accounts/" + encodeURIComponent(a.name) + "/keys");
        ev.target.replaceWith(el("span", { class: "mono" }, (keys.keys || []).map((k) => k.id + " " + (k.name || "")).join(", ") || "none"));
      } }, "show"))))));
};

// Pages are drawn one at a time, in the order asked: a page still loading never draws over one
// asked for later (a quick second click, or the session's start racing a link).
let routing = Promise.resolve();
function route() {
  routing = routing.then(drawPage, drawPage);
  return routing;
}

async function drawPage() {
  if (!state.session) return;
  const [name, query] = (location.hash.slice(1) || "overview").split("?");
  const page = Object.hasOwn(pages, name) ? pages[name] : pages.overview;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  try {
    await page(new URLSearchParams(query || ""));
  } catch (e) {
    if (e.status !== 401) show(el("h1", {}, name), errorBox(e));
  }
  if (state.session) document.getElementById("main").dataset.page = name;
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("logout").addEventListener("click", logout);
  const res = await fetch("/console/session", { credentials: "same-origin" });
  if (res.ok) await startSession(await res.json());
  else renderLogin("");
});
