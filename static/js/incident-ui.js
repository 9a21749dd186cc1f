// @ts-check
/*
 * The incident screens of the operator console (console.js) and of the partners' portal
 * (portal.js): the list beside the map, the panel's head, the journal (main courante) with
 * its note form, and the loading of the open incident. The store they show is
 * lib/incidents.js; calling the hub, lib/http.js.
 */
import { byId, h, timeElement } from "./lib/dom.js";
import { api, idempotencyKey } from "./lib/http.js";

/** @typedef {import("./lib/incidents.js").Incident} Incident */
/** @typedef {import("./lib/incidents.js").IncidentStore} IncidentStore */
/** @typedef {import("./lib/incidents.js").JournalEntry} JournalEntry */

/**
 * The labels the page's template gives (json_script, translated on the server).
 * @typedef {{status: Record<string, string>, priority: Record<string, string>,
 *   journal: Record<string, string>, camera_status?: Record<string, string>,
 *   camera_kind?: Record<string, string>}} Labels
 */

// --- The list rows: time, reference, nature, commune, priority, status.

/**
 * @typedef {object} RowOptions
 * @property {(id: number) => void} onOpen
 * @property {(code: string) => string} [agencyName]
 * @property {boolean} [showShared] say, on the row, with whom the incident is shared
 */

export class IncidentRows {
  /**
   * @param {HTMLElement} tbody
   * @param {Labels} labels
   * @param {RowOptions} options
   */
  constructor(tbody, labels, { onOpen, agencyName = (code) => code, showShared = true }) {
    this.tbody = tbody;
    this.labels = labels;
    this.onOpen = onOpen;
    this.agencyName = agencyName;
    this.showShared = showShared;
    /** @type {Map<number, {key: string, element: HTMLTableRowElement}>} unchanged rows are kept as they are */
    this.cache = new Map();
    tbody.addEventListener("click", (event) => {
      const target = /** @type {Element} */ (event.target);
      const tr = /** @type {HTMLElement | null} */ (target.closest("tr[data-id]"));
      if (tr && !target.closest("button")) this.onOpen(Number(tr.dataset.id));
    });
  }

  /**
   * @param {Incident[]} incidents
   * @param {{freshId?: number | null, selectedId?: number | null}} [options]
   */
  render(incidents, { freshId = null, selectedId = null } = {}) {
    const rows = incidents.map((incident) => this.row(incident, incident.id === freshId));
    this.tbody.replaceChildren(...rows);
    const ids = new Set(incidents.map((incident) => incident.id));
    for (const id of this.cache.keys()) if (!ids.has(id)) this.cache.delete(id);
    this.select(selectedId);
  }

  /** @param {number | null} id */
  select(id) {
    for (const tr of /** @type {HTMLCollectionOf<HTMLElement>} */ (this.tbody.children)) {
      const selected = Number(tr.dataset.id) === id;
      tr.classList.toggle("selected", selected);
      const button = tr.querySelector("button.open");
      if (button) button.setAttribute("aria-expanded", selected ? "true" : "false");
    }
  }

  /**
   * @param {Incident} incident
   * @param {boolean} fresh
   */
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
    /** @type {Array<[string, Node | string]>} */
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
  /**
   * `decorate(entry)` → a node shown under the line's text (a capture's thumbnail), or null.
   * @param {HTMLElement} list
   * @param {Labels} labels
   * @param {{decorate?: ((entry: JournalEntry) => Node | null) | null}} [options]
   */
  constructor(list, labels, { decorate = null } = {}) {
    this.list = list;
    this.labels = labels;
    this.decorate = decorate;
    /** @type {Map<number, JournalEntry>} */
    this.entries = new Map();
  }

  /**
   * The journal from a fresh read of the incident, merged with lines already shown.
   * @param {JournalEntry[]} entries
   */
  set(entries) {
    for (const entry of entries) this.entries.set(entry.id, entry);
    this.render();
  }

  /**
   * A journal.appended event, or the answer to our own note.
   * @param {JournalEntry} entry
   */
  append(entry) {
    if (this.entries.has(entry.id)) return;
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.entries.set(entry.id, entry);
    this.render(entry.id);
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  /** @param {number | null} [freshId] */
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

/**
 * "from the event" → the shape of a journal line from the API.
 * @param {{entry: JournalEntry}} data
 * @returns {JournalEntry}
 */
export function entryFromEvent(data) {
  return data.entry; // the shape GET /api/incidents/<id>/ gives each line of "journal"
}

/**
 * The note form under a journal: POST /api/incidents/<id>/journal/ with an Idempotency-Key.
 * @param {{url: string, onAdded: (entry: JournalEntry) => void, label?: string}} options
 */
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

/**
 * The head of an incident's panel (console and portal): priority, status and nature badges, then
 * place, position (``position: false``: not shown, as on the partners' portal, where the address
 * and the commune say where), opening time, and any ``extra`` facts ([term, node or text] pairs),
 * then the description. ``labels`` are the pages' labels (priority, status).
 */
/**
 * @param {Incident} incident
 * @param {Labels} labels
 * @param {Array<[string, Node | string] | [string, Node | string, string]>} [extra]
 * @param {{position?: boolean}} [options]
 * @returns {Array<HTMLElement | null>}
 */
export function incidentSummary(incident, labels, extra = [], { position = true } = {}) {
  const [lat, lon] = [incident.location.coordinates[1], incident.location.coordinates[0]];
  /** @type {Array<[string, Node | string] | [string, Node | string, string]>} */
  const facts = [
    // A filled address often ends with the commune already ("… 95160 Montmorency").
    ["Lieu", [incident.address, (incident.address || "").includes(incident.commune_name) ? null : incident.commune_name]
      .filter(Boolean).join(", ")],
    ["Ouvert", timeElement(incident.created_at)],
    ...extra,
  ];
  if (position) facts.splice(1, 0, ["Position", `${lat.toFixed(5)}, ${lon.toFixed(5)}`, "mono"]);
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

// --- What both pages' panels have: a head, the journal section, a message line, the loading.

/** The panel's title: the incident's reference once known, focused when the panel opens. */
export function panelTitle() {
  return h("h2", { id: "panel-title", tabindex: "-1", text: "Incident" });
}

/**
 * The head of the panel: its title and the button that closes the drawer.
 * @param {HTMLElement} title
 */
export function panelHead(title) {
  return h("div", { class: "drawer-head" }, title,
    h("button", { type: "button", class: "icon-button", "data-close-drawer": true,
      "aria-label": "Fermer", title: "Fermer (Échap)", text: "×" }));
}

/**
 * The main courante of the open incident: its lines and the note form under them.
 * @param {JournalView} journal
 * @param {string} noteUrl POST /api/incidents/<id>/journal/
 */
export function journalSection(journal, noteUrl) {
  return h("section", { class: "panel-section", "aria-labelledby": "journal-title" },
    h("h3", { id: "journal-title", text: "Main courante" }),
    journal.list,
    noteForm({ url: noteUrl, onAdded: (entry) => journal.append(entry) }));
}

/** The list of the journal, to give a JournalView. */
export function journalList() {
  return h("ol", { class: "journal", "aria-label": "Main courante" });
}

/**
 * The drawer's message line: `say(text, kind)`, kind "ok" | "error" | "".
 * @param {HTMLElement} element
 * @returns {(text: string, kind?: string) => void}
 */
export function messageLine(element) {
  return (text, kind = "") => {
    element.textContent = text;
    element.className = `drawer-message${kind ? ` ${kind}` : ""}`;
  };
}

/**
 * The incidents beside the map (templates/incidents/_incident_table.html): the rows, their
 * count in the page's heading (#incident-count), the words when there is none, and what went
 * wrong when the list could not be read.
 */
export class IncidentList {
  /**
   * @param {Labels} labels
   * @param {RowOptions} options
   */
  constructor(labels, options) {
    this.rows = new IncidentRows(byId("incident-list"), labels, options);
    this.count = byId("incident-count");
    this.empty = byId("incidents-empty");
    this.error = byId("incidents-error");
  }

  /**
   * @param {Incident[]} incidents in the order shown
   * @param {{counted: number, emptyText: string, freshId?: number | null, selectedId?: number | null}} options
   *   `counted`: how many the heading counts (those in progress)
   */
  render(incidents, { counted, emptyText, freshId = null, selectedId = null }) {
    this.rows.render(incidents, { freshId, selectedId });
    this.count.textContent = counted ? `(${counted})` : "";
    this.empty.hidden = incidents.length > 0;
    this.empty.textContent = emptyText;
  }

  /** @param {number | null} id */
  select(id) {
    this.rows.select(id);
  }

  /**
   * Loads a snapshot into the store; answers whether it was applied (the page then renders).
   * @param {IncidentStore} store
   * @param {() => Promise<Incident[]>} fetchItems
   */
  async load(store, fetchItems) {
    try {
      const applied = await store.loadSnapshot(fetchItems);
      if (applied) this.error.hidden = true;
      return applied;
    } catch (err) {
      this.error.textContent = `Liste indisponible. ${err.message}`;
      this.error.hidden = false;
      return false;
    }
  }
}

/**
 * Reads the open incident (GET /api/incidents/<id>/): a slower answer never overwrites a newer
 * one, and several events that follow one change (updated, then journal.appended…) cause one read.
 * @template {{version: number}} D
 */
export class DetailLoader {
  /**
   * @param {object} options
   * @param {(id: number) => string} options.url
   * @param {(id: number) => boolean} options.isOpen is this incident's panel still open?
   * @param {() => number | null} options.version the version of the detail the panel shows
   * @param {(detail: D) => void} options.onDetail
   * @param {(err: Error) => void} options.onError
   */
  constructor({ url, isOpen, version, onDetail, onError }) {
    this.url = url;
    this.isOpen = isOpen;
    this.version = version;
    this.onDetail = onDetail;
    this.onError = onError;
    this.seq = 0;
    /** @type {number | undefined} */
    this.timer = undefined;
    this.wanted = 0;
  }

  /** @param {number} id */
  async load(id) {
    if (!this.isOpen(id)) return;
    const seq = ++this.seq;
    try {
      const detail = await api(this.url(id));
      if (!this.isOpen(id) || seq !== this.seq) return;
      this.onDetail(detail);
    } catch (err) {
      if (this.isOpen(id)) this.onError(err);
    }
  }

  /**
   * Read the open incident soon, unless it is at `version` by then (our own answer came).
   * @param {number} id
   * @param {number} [version]
   */
  schedule(id, version = Infinity) {
    this.wanted = Math.max(this.wanted, version);
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      const wanted = this.wanted;
      this.wanted = 0;
      const shown = this.version();
      if (this.isOpen(id) && shown !== null && shown >= wanted) return;
      this.load(id);
    }, 150);
  }
}
