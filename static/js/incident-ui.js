/*
 * What the operator console (console.js) and the partner portal (portal.js) share:
 * calling the API with French error messages, times in Paris time, the live
 * incident store, the list rows and the journal (main courante).
 */

const PARIS = "Europe/Paris";
const timeFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
const secondsFormat = new Intl.DateTimeFormat("fr-FR", {
  timeZone: PARIS, hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, day: "2-digit", month: "2-digit" });
const fullFormat = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "full", timeStyle: "medium" });

// --- Building elements without HTML strings (text from the API is never parsed as HTML).

/** h("button", {class: "x", type: "button", dataset: {id: 3}, on: {click}}, "text", child…) */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "on") for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

export function readJson(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

// --- Times, shown in Paris time whatever the browser's zone.

export function sameParisDay(a, b) {
  return dayFormat.format(a) === dayFormat.format(b);
}

/** "21:14" today, "25/11 21:14" another day; the full date in the title. */
export function timeElement(iso, { seconds = false } = {}) {
  const when = new Date(iso);
  const clock = (seconds ? secondsFormat : timeFormat).format(when);
  return h("time", {
    dateTime: iso,
    title: fullFormat.format(when),
    text: sameParisDay(when, new Date()) ? clock : `${dayFormat.format(when)} ${clock}`,
  });
}

// --- The API.

export function cookie(name) {
  const prefix = `${name}=`;
  const found = document.cookie.split("; ").find((part) => part.startsWith(prefix));
  return found ? decodeURIComponent(found.slice(prefix.length)) : "";
}

/**
 * The hub's refusal as it says it: its French `detail` (every field's messages, joined), never
 * reworded here. Only what the hub could not say itself is the page's own: an answer without a
 * detail, a session that ended.
 */
export function describeError(status, data) {
  const detail = data && data.detail;
  if (status === 401) return "Session expirée : rechargez la page pour vous reconnecter.";
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    return Object.values(detail).flat().map(String).join(" ");
  }
  if (detail) return [].concat(detail).join(" ");
  if (status === 403) return "Vos droits ne permettent pas cette action.";
  return status >= 500 ? `Erreur du serveur (${status}) : réessayez dans un instant.` : `Erreur ${status}.`;
}

export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(url, { method = "GET", body, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = cookie("csrftoken");
  } else if (method !== "GET") {
    headers["X-CSRFToken"] = cookie("csrftoken");
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("Serveur injoignable : vérifiez le réseau, puis recommencez.", 0, "network");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(describeError(response.status, data), response.status, data && data.error);
  }
  return data;
}

/** A key for a write a flaky network may make us repeat (the hub answers the repeat once more). */
export function idempotencyKey() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// --- The incidents a page knows, from a snapshot and the live events.

/**
 * A snapshot (REST) may arrive after events that are newer than it: an incident
 * keeps the highest `version` it was seen with, and one that a live event touched
 * while the snapshot was in flight is not dropped.
 */
export class IncidentStore {
  constructor() {
    this.items = new Map(); // id → {incident, touched}
    this.liveCount = 0;
    this.snapshotSeq = 0;
  }

  get(id) {
    const entry = this.items.get(id);
    return entry ? entry.incident : null;
  }

  values() {
    return [...this.items.values()].map((entry) => entry.incident);
  }

  /** A picture of the incident from an event or an answer; an older picture is ignored. */
  upsert(incident) {
    this.liveCount += 1;
    const known = this.items.get(incident.id);
    if (known && known.incident.version > incident.version) return false;
    this.items.set(incident.id, { incident, touched: this.liveCount });
    return true;
  }

  /** A change that carries no version (unshare): applied to what we hold. */
  patch(id, change) {
    const known = this.items.get(id);
    if (!known) return;
    this.liveCount += 1;
    known.incident = { ...known.incident, ...change };
    known.touched = this.liveCount;
  }

  remove(id) {
    this.liveCount += 1;
    this.items.delete(id);
  }

  /** `fetchItems()` → the incidents; answers whether this snapshot was applied. */
  async loadSnapshot(fetchItems) {
    const seq = ++this.snapshotSeq;
    const startedAt = this.liveCount;
    const items = await fetchItems();
    if (seq !== this.snapshotSeq) return false; // a newer snapshot was asked for meanwhile
    const previous = new Map(this.items);
    this.items.clear();
    for (const incident of items) this.items.set(incident.id, { incident, touched: 0 });
    for (const [id, entry] of previous) {
      // What a live event told us after the request left is at least as fresh as the snapshot.
      if (entry.touched > startedAt) {
        const fresh = this.items.get(id);
        if (!fresh || fresh.incident.version <= entry.incident.version) this.items.set(id, entry);
      }
    }
    return true;
  }
}

export function byNewest(a, b) {
  // Not a string comparison: the offset is +01:00 in winter, +02:00 in summer.
  return Date.parse(b.created_at) - Date.parse(a.created_at) || b.id - a.id;
}

// --- The list rows: time, reference, nature, commune, priority, status.

export class IncidentRows {
  constructor(tbody, labels, { onOpen, agencyName = (code) => code, showShared = true } = {}) {
    this.tbody = tbody;
    this.labels = labels;
    this.onOpen = onOpen;
    this.agencyName = agencyName;
    this.showShared = showShared;
    this.cache = new Map(); // id → {key, element}: unchanged rows are kept as they are
    tbody.addEventListener("click", (event) => {
      const tr = event.target.closest("tr[data-id]");
      if (tr && !event.target.closest("button")) this.onOpen(Number(tr.dataset.id));
    });
  }

  render(incidents, { freshId = null, selectedId = null } = {}) {
    const rows = incidents.map((incident) => this.row(incident, incident.id === freshId));
    this.tbody.replaceChildren(...rows);
    const ids = new Set(incidents.map((incident) => incident.id));
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    this.select(selectedId);
  }

  select(id) {
    for (const tr of this.tbody.children) {
      const selected = Number(tr.dataset.id) === id;
      tr.classList.toggle("selected", selected);
      const button = tr.querySelector("button.open");
      if (button) button.setAttribute("aria-expanded", selected ? "true" : "false");
    }
  }

  row(incident, fresh) {
    const cached = this.cache.get(incident.id);
    const key = `${incident.version}|${incident.status}|${incident.shared_with.join(",")}`;
    if (cached && cached.key === key) return cached.element;
    const { labels } = this;
    const tr = h("tr", {
      class: `priority-${incident.priority} status-${incident.status}`,
      dataset: { id: String(incident.id), reference: incident.reference },
    });
    if (fresh) {
      // Highlighted once: a row moved by a later render must not flash again.
      tr.classList.add("fresh");
      tr.addEventListener("animationend", () => tr.classList.remove("fresh"), { once: true });
    }
    const status = h("span", { class: `status status-${incident.status}`,
      text: labels.status[incident.status] || incident.status });
    if (this.showShared && incident.shared_with.length) {
      // Short, so that the nature keeps its room; the services are named in the title.
      const names = incident.shared_with.map(this.agencyName).join(", ");
      status.append(" ", h("small", { class: "shared", title: `Partagé avec : ${names}`,
        text: `partagé (${incident.shared_with.length})`, dataset: { agencies: incident.shared_with.join(" ") } }));
    }
    const cells = [
      ["c-time", timeElement(incident.created_at)],
      ["c-ref", h("button", { type: "button", class: "open reference", "aria-expanded": "false",
        title: "Ouvrir l'incident", on: { click: () => this.onOpen(incident.id) } }, incident.reference)],
      ["c-nature", h("span", { title: incident.description || null, text: incident.nature_label })],
      ["c-commune", incident.commune_name],
      ["c-priority", h("span", { class: `badge priority-${incident.priority}`,
        text: labels.priority[String(incident.priority)] || String(incident.priority) })],
      ["c-status", status],
    ];
    for (const [cls, content] of cells) tr.append(h("td", { class: cls }, content));
    this.cache.set(incident.id, { key, element: tr });
    return tr;
  }
}

// --- The journal (main courante): append-only, in time order, each line once.

export class JournalView {
  /** `decorate(entry)` → a node shown under the line's text (a capture's thumbnail), or null. */
  constructor(list, labels, { decorate = null } = {}) {
    this.list = list;
    this.labels = labels;
    this.decorate = decorate;
    this.entries = new Map(); // entry id → entry
  }

  /** The journal from a fresh read of the incident, merged with lines already shown. */
  set(entries) {
    for (const entry of entries) this.entries.set(entry.id, entry);
    this.render();
  }

  /** A journal.appended event, or the answer to our own note. */
  append(entry) {
    if (this.entries.has(entry.id)) return;
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.entries.set(entry.id, entry);
    this.render(entry.id);
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  render(freshId = null) {
    const sorted = [...this.entries.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id);
    this.list.replaceChildren(...sorted.map((entry) => h("li", {
      class: `journal-entry kind-${entry.kind}${entry.id === freshId ? " fresh" : ""}`,
      dataset: { entryId: String(entry.id) },
    },
    h("div", { class: "journal-meta" },
      timeElement(entry.at, { seconds: true }),
      h("span", { class: "journal-kind", text: this.labels.journal[entry.kind] || entry.kind }),
      h("span", { class: "journal-author", text: entry.author })),
    h("p", { class: "journal-text", text: entry.text }),
    this.decorate ? this.decorate(entry) : null)));
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
  }
}

/** "from the event" → the shape of a journal line from the API. */
export function entryFromEvent(data) {
  return data.entry; // the shape GET /api/incidents/<id>/ gives each line of "journal"
}

/** The note form under a journal: POST /api/incidents/<id>/journal/ with an Idempotency-Key. */
export function noteForm({ url, onAdded, label = "Ajouter une note à la main courante" }) {
  const textarea = h("textarea", { id: "note-text", name: "text", rows: "2", required: true,
    maxlength: "10000", placeholder: "Ce qui a été vu, fait, transmis…" });
  const button = h("button", { type: "submit", class: "primary compact", text: "Ajouter" });
  const message = h("p", { class: "form-message", role: "status", "aria-live": "polite" });
  let key = idempotencyKey(); // the same key while the same note is retried
  let keyText = "";
  const form = h("form", { class: "note-form" },
    h("label", { for: "note-text", text: label }), textarea, h("div", { class: "form-row" }, button, message));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) {
      message.className = "form-message error";
      message.textContent = "La note est vide.";
      return;
    }
    if (text !== keyText) {
      key = idempotencyKey();
      keyText = text;
    }
    button.disabled = true;
    message.className = "form-message";
    message.textContent = "Envoi…";
    try {
      const entry = await api(url, { method: "POST", body: { text }, headers: { "Idempotency-Key": key } });
      textarea.value = "";
      keyText = "";
      message.textContent = "";
      onAdded(entry);
    } catch (err) {
      message.className = "form-message error";
      message.textContent = `Note non enregistrée. ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });
  // Ctrl+Entrée sends, as in the radio and chat tools operators know.
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  return form;
}

/** The connection badge of the top bar, fed by connectEvents' onStatus. */
export function connectionStatus(element) {
  return (label, state) => {
    element.textContent = label;
    element.dataset.state = state;
  };
}

/**
 * The head of an incident's panel (console and portal): priority, status and nature badges, then
 * place, position (``position: false``: not shown, as on the partners' portal, where the address
 * and the commune say where), opening time, and any ``extra`` facts ([term, node or text] pairs),
 * then the description. ``labels`` are the pages' labels (priority, status).
 */
export function incidentSummary(incident, labels, extra = [], { position = true } = {}) {
  const [lat, lon] = [incident.location.coordinates[1], incident.location.coordinates[0]];
  const facts = [
    // A filled address often ends with the commune already ("… 95160 Montmorency").
    ["Lieu", [incident.address, (incident.address || "").includes(incident.commune_name) ? null : incident.commune_name]
      .filter(Boolean).join(", ")],
    position ? ["Position", `${lat.toFixed(5)}, ${lon.toFixed(5)}`, "mono"] : null,
    ["Ouvert", timeElement(incident.created_at)],
    ...extra,
  ].filter(Boolean);
  return [
    h("p", { class: "panel-badges" },
      h("span", { class: `badge priority-${incident.priority}`,
        text: labels.priority[String(incident.priority)] || String(incident.priority) }),
      h("span", { class: `status-pill status-${incident.status}`, text: labels.status[incident.status] || incident.status }),
      h("strong", { class: "panel-nature", text: incident.nature_label })),
    h("dl", { class: "panel-facts" }, ...facts.flatMap(([term, value, cls]) => [
      h("dt", { text: term }),
      typeof value === "string" ? h("dd", cls ? { class: cls, text: value } : { text: value }) : h("dd", {}, value),
    ])),
    incident.description ? h("p", { class: "panel-description", text: incident.description }) : null,
  ];
}
