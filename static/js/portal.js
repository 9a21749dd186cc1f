// @ts-check
/*
 * The partner portal's incidents (templates/incidents/portal.html): the incidents
 * the centre shares with the member's agency, live, on a map and in a list;
 * read-only, except for the notes the member adds to the main courante.
 *
 * The API decides what this member may see (and strips camera data for the
 * Croix-Rouge); this page only asks, and follows the events of its agency
 * (lib/incidents.js applies them): an incident appears when it is shared and goes
 * when the sharing ends.
 */
import {
  DetailLoader, IncidentList, JournalView, entryFromEvent, incidentSummary, journalList, journalSection, messageLine,
  panelHead, panelTitle,
} from "./incident-ui.js";
import { byId, connectionStatus, h, readJson } from "./lib/dom.js";
import { connectAfter } from "./lib/events.js";
import { api } from "./lib/http.js";
import { IncidentStore, byNewest, incidentOf } from "./lib/incidents.js";
import { addCommunes, addIncidents, addLegend, createHubMap } from "./map.js";

/** @typedef {import("./lib/incidents.js").Incident} Incident */
/** @typedef {Incident & {journal?: import("./lib/incidents.js").JournalEntry[]}} Detail */

const root = byId("portal");
/** @type {import("./incident-ui.js").Labels} */
const labels = readJson("portal-labels");
/** @type {Record<string, string>} */
const agencyNames = readJson("portal-agencies");
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));
/** @param {number} id @param {string} [suffix] */
const incidentUrl = (id, suffix = "") => `${root.dataset.incidentBaseUrl}${id}/${suffix}`;
const RECENT_HOURS = 24;

const incidentView = byId("incident-view");
const mapNotice = byId("map-notice");
const notice = byId("portal-notice");
const setMessage = messageLine(byId("drawer-message"));

/** @param {string} code */
const agencyName = (code) => agencyNames[code] || code;
const store = new IncidentStore({ agency: root.dataset.agency });
const list = new IncidentList(labels, { onOpen: openIncident, agencyName, showShared: false });
/** @type {{id: number, detail: Detail | null, journal: JournalView, summary: HTMLElement, title: HTMLElement,
 *   key: string | null, scrolled: boolean} | null} */
let panel = null;

const detailLoader = new DetailLoader({
  url: (id) => incidentUrl(id),
  isOpen: (id) => panel !== null && panel.id === id,
  version: () => (panel && panel.detail ? panel.detail.version : null),
  onDetail: (/** @type {Detail} */ answer) => {
    if (!panel) return;
    const incident = incidentOf(answer);
    store.upsert(incident);
    render();
    panel.detail = answer;
    renderSummary(incident);
    panel.journal.set(answer.journal || []);
    if (!panel.scrolled) {
      panel.scrolled = true;
      panel.journal.scrollToEnd();
    }
  },
  onError: (err) => setMessage(`Incident indisponible. ${err.message}`, "error"),
});

// --- The map: communes and the shared incidents (no cameras: the portal gets no camera data).

const hub = createHubMap(byId("map"));
const markers = addIncidents(hub, { labels, onSelect: openIncident, focusZoom: 15 });
addLegend(hub, { cameras: false });

// --- The list: in progress first, then those ended in the last 24 hours.

/** @param {number | null} [freshId] */
function render(freshId = null) {
  const all = store.values();
  const live = all.filter((incident) => liveStatuses.has(incident.status)).sort(byNewest);
  const ended = all.filter((incident) => !liveStatuses.has(incident.status)).sort(byNewest);
  list.render([...live, ...ended], { counted: live.length, freshId, selectedId: panel ? panel.id : null,
    emptyText: "Aucun incident partagé avec votre service pour le moment." });
  markers.sync(live);
  markers.select(panel ? panel.id : null);
}

async function loadSnapshot() {
  const since = new Date(Date.now() - RECENT_HOURS * 3600 * 1000).toISOString();
  const recentUrl = `${root.dataset.incidentBaseUrl}?since=${encodeURIComponent(since)}&limit=500`;
  const applied = await list.load(store, async () => {
    /** @type {[Incident[], Incident[]]} */
    const [live, recent] = await Promise.all([api(root.dataset.incidentsUrl), api(recentUrl)]);
    const byId = new Map(recent.map((incident) => [incident.id, incident]));
    for (const incident of live) byId.set(incident.id, incident);
    return [...byId.values()];
  });
  if (applied) render();
}

// --- The incident panel: read-only, with the journal and the note form.

/** @param {boolean} open */
function showDrawer(open) {
  root.classList.toggle("has-drawer", open);
  incidentView.hidden = !open;
  window.requestAnimationFrame(() => hub.map.invalidateSize({ pan: false }));
}

function closePanel({ focusMap = true } = {}) {
  panel = null;
  incidentView.replaceChildren();
  list.select(null);
  markers.select(null);
  showDrawer(false);
  if (focusMap) hub.element.focus({ preventScroll: true });
}

byId("drawer").addEventListener("click", (event) => {
  if (/** @type {Element} */ (event.target).closest("[data-close-drawer]")) {
    setMessage("");
    closePanel();
  }
});

/** @param {number} id */
function openIncident(id) {
  setMessage("");
  if (!panel || panel.id !== id) {
    const title = panelTitle();
    const summary = h("div", { class: "panel-summary" });
    const journal = new JournalView(journalList(), labels);
    panel = { id, detail: null, journal, summary, title, key: null, scrolled: false };
    incidentView.replaceChildren(panelHead(title), summary, journalSection(journal, incidentUrl(id, "journal/")));
  }
  list.select(id);
  markers.select(id);
  showDrawer(true);
  const known = store.get(id);
  if (known) {
    renderSummary(known);
    window.requestAnimationFrame(() => markers.focus(known));
  }
  panel.title.focus({ preventScroll: true });
  detailLoader.load(id);
}

/** @param {Incident} incident */
function renderSummary(incident) {
  panel.title.textContent = incident.reference;
  const key = JSON.stringify([incident.version, incident.status, incident.shared_with]);
  if (panel.key === key) return;
  panel.key = key;
  panel.summary.replaceChildren(...incidentSummary(incident, labels, [
    ["Partagé avec", incident.shared_with.map(agencyName).join(", ")]], { position: false }).filter(Boolean));
}

// --- Live events of the agency.

/** @param {import("./lib/events.js").EventFrame} frame */
function onEvent(frame) {
  const change = store.apply(frame);
  if (change && change.kind === "remove") {
    // No longer ours: it leaves the screen, and an open panel says why.
    if (panel && panel.id === change.id) closePanel({ focusMap: false });
    notice.textContent = `L'incident ${change.reference} n'est plus partagé avec votre service.`;
    notice.hidden = false;
    render();
  } else if (change) {
    render(change.added ? change.id : null);
    if (panel && panel.id === change.id) {
      renderSummary(change.incident);
      if (change.kind === "patch") detailLoader.schedule(panel.id);
      else if (!panel.detail || change.incident.version > panel.detail.version) detailLoader.schedule(panel.id);
    }
  } else if (frame.type === "journal.appended" && panel && panel.id === frame.data.incident_id) {
    panel.journal.append(entryFromEvent(frame.data));
  }
}

function onResync() {
  loadSnapshot();
  if (panel) detailLoader.load(panel.id);
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !root.classList.contains("has-drawer")) return;
  if (document.querySelector(".leaflet-popup")) return;
  setMessage("");
  closePanel();
});

// --- Start: the incidents first, the map meanwhile, then the live stream.

showDrawer(false);
const firstSnapshot = loadSnapshot();
addCommunes(hub, root.dataset.communesUrl).catch((err) => {
  mapNotice.textContent = err.message;
  mapNotice.hidden = false;
});
connectAfter(firstSnapshot, { onEvent, onResync, onStatus: connectionStatus(byId("connection")) });
