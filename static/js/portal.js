/*
 * The partner portal's incidents (templates/incidents/portal.html): the incidents
 * the centre shares with the member's agency, live, on a map and in a list;
 * read-only, except for the notes the member adds to the main courante.
 *
 * The API decides what this member may see (and strips camera data for the
 * Croix-Rouge); this page only asks, and follows the events of its agency:
 * an incident appears when it is shared and goes when the sharing ends.
 */
import { connectEvents } from "./events.js";
import {
  IncidentRows, IncidentStore, JournalView, api, byNewest, connectionStatus, entryFromEvent, h,
  incidentSummary, noteForm, readJson,
} from "./incident-ui.js";
import { addCommunes, addIncidents, addLegend, createHubMap } from "./map.js";

const root = document.getElementById("portal");
const labels = readJson("portal-labels");
const agencyNames = readJson("portal-agencies");
const myAgency = root.dataset.agency;
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));
const incidentUrl = (id, suffix = "") => `${root.dataset.incidentBaseUrl}${id}/${suffix}`;
const RECENT_HOURS = 24;

const list = document.getElementById("incident-list");
const count = document.getElementById("incident-count");
const empty = document.getElementById("incidents-empty");
const listError = document.getElementById("incidents-error");
const drawer = document.getElementById("drawer");
const incidentView = document.getElementById("incident-view");
const message = document.getElementById("drawer-message");
const mapNotice = document.getElementById("map-notice");
const notice = document.getElementById("portal-notice");

const agencyName = (code) => agencyNames[code] || code;
const store = new IncidentStore();
const rows = new IncidentRows(list, labels, { onOpen: openIncident, agencyName, showShared: false });
let panel = null; // {id, detail, journal, summary, title, seq}

function setMessage(text, kind = "") {
  message.textContent = text;
  message.className = `drawer-message${kind ? ` ${kind}` : ""}`;
}

// --- The map: communes and the shared incidents (no cameras: the portal gets no camera data).

const hub = createHubMap(document.getElementById("map"));
const markers = addIncidents(hub, { labels, onSelect: openIncident, focusZoom: 15 });
addLegend(hub, { cameras: false });

// --- The list: in progress first, then those ended in the last 24 hours.

function render(freshId = null) {
  const all = store.values();
  const live = all.filter((incident) => liveStatuses.has(incident.status)).sort(byNewest);
  const ended = all.filter((incident) => !liveStatuses.has(incident.status)).sort(byNewest);
  rows.render([...live, ...ended], { freshId, selectedId: panel ? panel.id : null });
  markers.sync(live);
  markers.select(panel ? panel.id : null);
  count.textContent = live.length ? `(${live.length})` : "";
  empty.hidden = all.length > 0;
  empty.textContent = "Aucun incident partagé avec votre service pour le moment.";
}

async function loadSnapshot() {
  const since = new Date(Date.now() - RECENT_HOURS * 3600 * 1000).toISOString();
  const recentUrl = `${root.dataset.incidentBaseUrl}?since=${encodeURIComponent(since)}&limit=500`;
  try {
    const applied = await store.loadSnapshot(async () => {
      const [live, recent] = await Promise.all([api(root.dataset.incidentsUrl), api(recentUrl)]);
      const byId = new Map(recent.map((incident) => [incident.id, incident]));
      for (const incident of live) byId.set(incident.id, incident);
      return [...byId.values()];
    });
    if (!applied) return;
    listError.hidden = true;
    render();
  } catch (err) {
    listError.textContent = `Liste indisponible. ${err.message}`;
    listError.hidden = false;
  }
}

// --- The incident panel: read-only, with the journal and the note form.

function showDrawer(open) {
  root.classList.toggle("has-drawer", open);
  incidentView.hidden = !open;
  window.requestAnimationFrame(() => hub.map.invalidateSize({ pan: false }));
}

function closePanel({ focusMap = true } = {}) {
  panel = null;
  incidentView.replaceChildren();
  rows.select(null);
  markers.select(null);
  showDrawer(false);
  if (focusMap) hub.element.focus({ preventScroll: true });
}

drawer.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-drawer]")) {
    setMessage("");
    closePanel();
  }
});

function openIncident(id) {
  setMessage("");
  if (!panel || panel.id !== id) {
    const title = h("h2", { id: "panel-title", tabindex: "-1", text: "Incident" });
    const journalList = h("ol", { class: "journal", "aria-label": "Main courante" });
    const summary = h("div", { class: "panel-summary" });
    panel = { id, detail: null, journal: new JournalView(journalList, labels), summary, title, seq: 0, key: null };
    incidentView.replaceChildren(
      h("div", { class: "drawer-head" }, title,
        h("button", { type: "button", class: "icon-button", "data-close-drawer": true,
          "aria-label": "Fermer", title: "Fermer (Échap)", text: "×" })),
      summary,
      h("section", { class: "panel-section", "aria-labelledby": "journal-title" },
        h("h3", { id: "journal-title", text: "Main courante" }),
        journalList,
        noteForm({ url: incidentUrl(id, "journal/"), onAdded: (entry) => panel && panel.journal.append(entry) })),
    );
  }
  rows.select(id);
  markers.select(id);
  showDrawer(true);
  const known = store.get(id);
  if (known) {
    renderSummary(known);
    window.requestAnimationFrame(() => markers.focus(known));
  }
  panel.title.focus({ preventScroll: true });
  loadDetail(id);
}

function renderSummary(incident) {
  panel.title.textContent = incident.reference;
  const key = JSON.stringify([incident.version, incident.status, incident.shared_with]);
  if (panel.key === key) return;
  panel.key = key;
  panel.summary.replaceChildren(...incidentSummary(incident, labels, [
    ["Partagé avec", incident.shared_with.map(agencyName).join(", ")]], { position: false }).filter(Boolean));
}

async function loadDetail(id) {
  if (!panel || panel.id !== id) return;
  const seq = ++panel.seq;
  try {
    const detail = await api(incidentUrl(id));
    if (!panel || panel.id !== id || seq !== panel.seq) return;
    const { journal, ...incident } = detail;
    store.upsert(incident);
    render();
    panel.detail = detail;
    renderSummary(incident);
    panel.journal.set(journal || []);
    if (!panel.scrolled) {
      panel.scrolled = true;
      panel.journal.scrollToEnd();
    }
  } catch (err) {
    if (panel && panel.id === id) setMessage(`Incident indisponible. ${err.message}`, "error");
  }
}

let detailTimer = null;
function scheduleDetail(id) {
  window.clearTimeout(detailTimer);
  detailTimer = window.setTimeout(() => loadDetail(id), 150);
}

// --- Live events of the agency.

function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "incident.created":
    case "incident.updated":
    case "incident.shared": {
      const isNew = !store.get(data.incident.id);
      store.upsert(data.incident);
      render(isNew ? data.incident.id : null);
      if (panel && panel.id === data.incident.id) {
        renderSummary(store.get(data.incident.id));
        if (!panel.detail || data.incident.version > panel.detail.version) scheduleDetail(panel.id);
      }
      break;
    }
    case "incident.unshared": {
      if (data.agency === myAgency) {
        // No longer ours: it leaves the screen, and an open panel says why.
        store.remove(data.incident_id);
        if (panel && panel.id === data.incident_id) closePanel({ focusMap: false });
        notice.textContent = `L'incident ${data.reference} n'est plus partagé avec votre service.`;
        notice.hidden = false;
        render();
      } else {
        const known = store.get(data.incident_id);
        if (known) store.patch(data.incident_id, { shared_with: known.shared_with.filter((code) => code !== data.agency) });
        render();
        if (panel && panel.id === data.incident_id) scheduleDetail(panel.id);
      }
      break;
    }
    case "journal.appended":
      if (panel && panel.id === data.incident_id) panel.journal.append(entryFromEvent(data));
      break;
    default:
      break;
  }
}

function onResync() {
  loadSnapshot();
  if (panel) loadDetail(panel.id);
}

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !root.classList.contains("has-drawer")) return;
  if (document.querySelector(".leaflet-popup")) return;
  setMessage("");
  closePanel();
});

// --- Start.

showDrawer(false);
// The incidents first (docs/realtime.md: the snapshot, then the stream), the map meanwhile.
const firstSnapshot = loadSnapshot();
addCommunes(hub, root.dataset.communesUrl).catch((err) => {
  mapNotice.textContent = err.message;
  mapNotice.hidden = false;
});
// (A snapshot that hangs must not keep the live stream away: 5 s at most.)
Promise.race([firstSnapshot, new Promise((resolve) => { window.setTimeout(resolve, 5000); })]).then(() => {
  connectEvents({ onEvent, onResync, onStatus: connectionStatus(document.getElementById("connection")) });
});
