/*
 * The operator console (templates/incidents/console.html): the live map, the
 * incidents in progress beside it, creation by a click on the map, the incident
 * panel (status, suggested cameras, sharing, main courante).
 *
 * The data is a snapshot from the REST API merged with the events of /ws/events/
 * (events.js): what every operator does appears on every console at once, and the
 * incident an operator has open follows the changes others make to it.
 */
import { addressField, proposeAddress } from "./address.js";
import { captureGallery } from "./captures.js";
import { connectEvents } from "./events.js";
import { fieldConsole } from "./field-console.js";
import { grantsPanel } from "./grants-panel.js";
import { ptzPanel } from "./ptz-panel.js";
import {
  IncidentRows, IncidentStore, JournalView, api, byNewest, connectionStatus, entryFromEvent, h,
  idempotencyKey, incidentSummary, noteForm, readJson,
} from "./incident-ui.js";
import {
  addCameras, addCommunes, addDraft, addIncidents, addLegend, createHubMap, pointOf,
} from "./map.js";

const root = document.getElementById("console");
const labels = readJson("console-labels");
const agencies = readJson("console-agencies");
const transitions = readJson("console-transitions");
const agencyByCode = new Map(agencies.map((agency) => [agency.code, agency]));
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));
const incidentUrl = (id, suffix = "") => `${root.dataset.incidentBaseUrl}${id}/${suffix}`;

const list = document.getElementById("incident-list");
const count = document.getElementById("incident-count");
const empty = document.getElementById("incidents-empty");
const listError = document.getElementById("incidents-error");
const drawer = document.getElementById("drawer");
const createView = document.getElementById("create-view");
const incidentView = document.getElementById("incident-view");
const form = document.getElementById("incident-form");
const where = document.getElementById("f-where");
const message = document.getElementById("form-message");
const mapNotice = document.getElementById("map-notice");

// Renvoi d'images and the wall (grants-panel.js), captures in the main courante (captures.js).
const video = grantsPanel({
  urls: {
    grants: root.dataset.grantsUrl, facts: root.dataset.cameraFactsUrl, walls: root.dataset.wallsUrl,
    wall: root.dataset.wallUrl, wallPage: root.dataset.wallPageUrl,
  },
  agencies,
  onFacts: () => { if (panel && panel.detail) renderCameras(panel.detail); },
});
const captures = captureGallery({ url: root.dataset.snapshotsUrl });
// Driving a PTZ camera of the incident (ptz-panel.js): its live view over the map.
const ptz = ptzPanel({
  host: document.querySelector(".map-area"),
  urls: { state: root.dataset.ptzUrl, whep: root.dataset.whepTemplate },
  iceServers: readJson("ice-servers"),
  me: { id: Number(root.dataset.userId), supervisor: root.dataset.supervisor === "true" },
});

const store = new IncidentStore();
const rows = new IncidentRows(list, labels, { onOpen: openIncident, agencyName });
let selectedId = null; // the incident whose panel is open
let panel = null; // {id, detail, journal, sections, seq}
let communes = null;
let cameras = null;

function agencyName(code) {
  const agency = agencyByCode.get(code);
  return agency ? agency.name : code;
}

function setMessage(text, kind = "") {
  message.textContent = text;
  message.className = `drawer-message${kind ? ` ${kind}` : ""}`;
}

function showMapNotice(err) {
  mapNotice.textContent = err ? String(err.message || err) : "";
  mapNotice.hidden = !err;
}

// --- The map.

const hub = createHubMap(document.getElementById("map"), {
  onClick: (latlng) => startCreate(pointOf(latlng)),
});
const incidentMarkers = addIncidents(hub, { labels, onSelect: openIncident });
const draft = addDraft(hub, { onMove: (latlng) => setFormPoint(pointOf(latlng), { findAddress: true }) });
addLegend(hub);

function loadMapLayers() {
  addCommunes(hub, root.dataset.communesUrl)
    .then((loaded) => {
      communes = loaded;
      updateWhere();
    })
    .catch(showMapNotice)
    .finally(() => {
      cameras = addCameras(hub, {
        url: root.dataset.camerasUrl, labels, extent: communes && communes.bounds, onError: showMapNotice,
      });
    });
}

// --- The drawer: the creation form or an incident's panel, beside the map.

function showDrawer(view) {
  root.classList.toggle("has-drawer", view !== null);
  createView.hidden = view !== "create";
  incidentView.hidden = view !== "incident";
  // The map's width changed with the grid: let Leaflet measure it again.
  window.requestAnimationFrame(() => hub.map.invalidateSize({ pan: false }));
}

function closeDrawer() {
  deselect();
  draft.hide();
  setMessage("");
  showDrawer(null);
  hub.element.focus({ preventScroll: true });
}

function deselect() {
  selectedId = null;
  panel = null;
  video.close();
  ptz.close();
  captures.close();
  incidentView.replaceChildren();
  delete incidentView.dataset.version;
  rows.select(null);
  incidentMarkers.select(null);
}

drawer.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-drawer]")) closeDrawer();
});

// --- The list and the incident markers.

function isLive(incident) {
  return liveStatuses.has(incident.status);
}

function render(freshId = null) {
  const shown = store.values().filter(isLive).sort(byNewest);
  rows.render(shown, { freshId, selectedId });
  incidentMarkers.sync(shown);
  incidentMarkers.select(selectedId);
  count.textContent = shown.length ? `(${shown.length})` : "";
  empty.hidden = shown.length > 0;
  empty.textContent = "Aucun incident en cours.";
}

function showListError(text) {
  listError.textContent = text;
  listError.hidden = !text;
}

async function loadSnapshot() {
  try {
    const applied = await store.loadSnapshot(() => api(root.dataset.incidentsUrl));
    if (!applied) return;
    showListError("");
    render();
  } catch (err) {
    showListError(`Liste indisponible. ${err.message}`);
  }
}

// --- Creating an incident: a click on the map, then the form.

function startCreate(point) {
  if (selectedId !== null) deselect();
  if (createView.hidden) setMessage("");
  showDrawer("create");
  setFormPoint(point, { findAddress: true });
  form.elements.nature.focus({ preventScroll: true });
}

/** The point of the incident (and of a Croix-Rouge alert); ``findAddress``: propose its address. */
function setFormPoint({ lat, lon }, { findAddress = false } = {}) {
  form.elements.lat.value = String(lat);
  form.elements.lon.value = String(lon);
  draft.show(lat, lon);
  updateWhere();
  if (findAddress) proposeAddress(root.dataset.addressReverseUrl, { lat, lon }, [incidentAddress, alertAddress]);
}

// --- Addresses: proposed for the point clicked, or searched (the point then moves there).

function placeAt(result, other) {
  const [lon, lat] = result.location.coordinates;
  setFormPoint({ lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) });
  other.propose(result.label);
  hub.map.panInside([lat, lon], { padding: [60, 60] });
}

const incidentAddress = addressField(form.elements.address, {
  searchUrl: root.dataset.addressSearchUrl,
  hint: document.getElementById("f-address-hint"),
  onPick: (result) => placeAt(result, alertAddress),
});
const alertAddress = addressField(document.getElementById("alert-address"), {
  searchUrl: root.dataset.addressSearchUrl,
  hint: document.getElementById("alert-address-hint"),
  onPick: (result) => placeAt(result, incidentAddress),
});

function formPoint() {
  const lat = Number.parseFloat(form.elements.lat.value);
  const lon = Number.parseFloat(form.elements.lon.value);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return null;
  return { lat, lon };
}

function updateWhere() {
  const point = formPoint();
  if (!point || !communes) {
    where.textContent = "";
    return;
  }
  const commune = communes.communeAt(point.lat, point.lon);
  where.className = commune ? "where" : "where warn";
  where.textContent = commune
    ? `Commune : ${commune.name}`
    : "Hors de la zone couverte : le centre refusera ce point.";
}

for (const field of [form.elements.lat, form.elements.lon]) {
  field.addEventListener("input", () => {
    const point = formPoint();
    if (point) draft.show(point.lat, point.lon);
    updateWhere();
  });
}

async function loadNatures() {
  const select = form.elements.nature;
  try {
    const natures = await api(root.dataset.naturesUrl);
    const options = natures.map(({ code, label }) => new Option(label, code));
    select.replaceChildren(new Option("— choisir —", ""), ...options);
  } catch (err) {
    select.replaceChildren(new Option("Nomenclature indisponible", ""));
    setMessage(err.message, "error");
  }
}

let createKey = null; // one Idempotency-Key per incident being created: a repeat is not a second incident
let createBody = "";

async function submit(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const button = form.querySelector("button[type=submit]");
  const fields = form.elements;
  const point = formPoint();
  const body = {
    nature: fields.nature.value,
    priority: Number(fields.priority.value),
    description: fields.description.value.trim(),
    address: fields.address.value.trim(),
    location: { type: "Point", coordinates: [point.lon, point.lat] },
  };
  const serialised = JSON.stringify(body);
  if (serialised !== createBody) {
    createKey = idempotencyKey();
    createBody = serialised;
  }
  button.disabled = true;
  setMessage("Création…");
  try {
    const incident = await api(root.dataset.createUrl, {
      method: "POST", body, headers: { "Idempotency-Key": createKey },
    });
    createBody = "";
    // Shown at once, even if the event stream is down; the event, when it comes, is the same.
    store.upsert(incident);
    render(incident.id);
    fields.description.value = "";
    fields.address.value = "";
    draft.hide();
    openIncident(incident.id, { keepMessage: true });
    setMessage(`Incident ${incident.reference} créé.`, "ok");
  } catch (err) {
    setMessage(`Création refusée. ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", submit);

// --- The incident panel.

const TRANSITION_LABELS = { engaged: "Engager", closed: "Clore", cancelled: "Annuler l'incident" };
const TRANSITION_ORDER = ["engaged", "closed", "cancelled"];
const FINAL = new Set(["closed", "cancelled"]);
const CONFIRM_LABELS = { closed: "Confirmer la clôture", cancelled: "Confirmer l'annulation" };

function openIncident(id, { keepMessage = false } = {}) {
  if (!keepMessage) setMessage("");
  draft.hide();
  if (!panel || panel.id !== id) buildPanel(id);
  selectedId = id;
  rows.select(id);
  incidentMarkers.select(id);
  showDrawer("incident");
  const known = store.get(id);
  if (known) {
    renderSummary(known);
    window.requestAnimationFrame(() => incidentMarkers.focus(known));
  }
  panel.title.focus({ preventScroll: true });
  loadDetail(id);
}

function buildPanel(id) {
  const title = h("h2", { id: "panel-title", tabindex: "-1", text: "Incident" });
  const journalList = h("ol", { class: "journal", "aria-label": "Main courante" });
  const sections = {
    summary: h("div", { class: "panel-summary" }),
    actions: h("div", { class: "panel-actions" }),
    cameras: h("section", { class: "panel-section", "aria-labelledby": "cameras-title" }),
    sharing: h("section", { class: "panel-section", "aria-labelledby": "sharing-title" }),
  };
  const journal = new JournalView(journalList, labels, { decorate: captures.decorate });
  panel = { id, detail: null, journal, sections, title, keys: {}, seq: 0 };
  captures.open(id, () => journal.render());
  incidentView.replaceChildren(
    h("div", { class: "drawer-head" }, title,
      h("button", { type: "button", class: "icon-button", "data-close-drawer": true,
        "aria-label": "Fermer", title: "Fermer (Échap)", text: "×" })),
    sections.summary,
    sections.actions,
    sections.cameras,
    video.open(id),
    sections.sharing,
    h("section", { class: "panel-section", "aria-labelledby": "journal-title" },
      h("h3", { id: "journal-title", text: "Main courante" }),
      journalList,
      noteForm({
        url: incidentUrl(id, "journal/"),
        onAdded: (entry) => journal.append(entry),
      })),
  );
}

/** Each part is rebuilt only when what it shows changed: focus and half-typed input survive. */
function renderPart(name, key, build) {
  if (panel.keys[name] === key) return;
  panel.keys[name] = key;
  panel.sections[name].replaceChildren(...[].concat(build()).filter(Boolean));
}

function renderSummary(incident) {
  panel.title.textContent = incident.reference;
  renderPart("summary", JSON.stringify([incident.version, incident.status, incident.shared_with]),
    () => incidentSummary(incident, labels));
}

function renderPanel(detail) {
  panel.detail = detail;
  incidentView.dataset.version = String(detail.version); // what the buttons will send
  renderSummary(detail);
  renderActions(detail);
  renderCameras(detail);
  video.update(detail);
  renderSharing(detail);
  panel.journal.set(detail.journal || []);
}

async function loadDetail(id) {
  if (!panel || panel.id !== id) return;
  const seq = ++panel.seq;
  try {
    const detail = await api(incidentUrl(id));
    if (!panel || panel.id !== id || seq !== panel.seq) return;
    store.upsert(stripDetail(detail));
    render();
    renderPanel(detail);
    if (!panel.scrolled) {
      panel.scrolled = true;
      panel.journal.scrollToEnd();
    }
  } catch (err) {
    if (panel && panel.id === id) setMessage(`Incident indisponible. ${err.message}`, "error");
  }
}

let detailTimer = null;
let detailWanted = 0;
/** Reload the open incident soon, unless it is at `version` by then (our own answer came). */
function scheduleDetail(id, version = Infinity) {
  // Several events follow one change (updated, then journal.appended…): one reload.
  detailWanted = Math.max(detailWanted, version);
  window.clearTimeout(detailTimer);
  detailTimer = window.setTimeout(() => {
    const wanted = detailWanted;
    detailWanted = 0;
    if (panel && panel.id === id && panel.detail && panel.detail.version >= wanted) return;
    loadDetail(id);
  }, 150);
}

function stripDetail(detail) {
  const { journal, cameras: attached, suggested_cameras: suggested, ...incident } = detail;
  return incident;
}

/** A write from the panel; a stale version is said plainly and the incident reloaded. */
async function act(id, call, done) {
  try {
    const answer = await call();
    if (!panel || panel.id !== id) return;
    if (answer && answer.journal) {
      store.upsert(stripDetail(answer));
      render();
      renderPanel(answer);
    } else if (answer) {
      store.upsert(answer);
      render();
      loadDetail(id);
    }
    if (done) setMessage(done, "ok");
    return true;
  } catch (err) {
    setMessage(err.message, "error");
    if (err.code === "stale_version" || err.status === 409) loadDetail(id);
    return false;
  }
}

function renderActions(detail) {
  const allowed = TRANSITION_ORDER.filter((status) => (transitions[detail.status] || []).includes(status));
  // Rebuilt when the status or the priority changes, not for a mere new version: an open
  // confirmation survives a reload. The version sent is the one of what is on screen now.
  renderPart("actions", JSON.stringify([detail.status, detail.priority]), () => {
    const id = detail.id;
    const version = () => (panel && panel.id === id && panel.detail ? panel.detail.version : detail.version);
    const confirmBox = h("div", { class: "confirm", hidden: true });
    const buttons = allowed.map((status) => h("button", {
      type: "button",
      class: `action action-${status}`,
      text: TRANSITION_LABELS[status] || labels.status[status] || status,
      on: {
        click: () => {
          if (!FINAL.has(status)) {
            act(id, () => api(incidentUrl(id, "transitions/"), { method: "POST", body: { status, version: version() } }),
              `Statut : ${labels.status[status]}.`);
            return;
          }
          // Closed and cancelled are final: one more click, with an optional word for the journal.
          const comment = h("input", { type: "text", id: "transition-comment", maxlength: "500",
            placeholder: "Motif ou bilan (facultatif)" });
          confirmBox.replaceChildren(
            h("label", { for: "transition-comment", text: `${TRANSITION_LABELS[status]} : commentaire pour la main courante` }),
            comment,
            h("div", { class: "form-row" },
              h("button", { type: "button", class: "danger-solid", text: CONFIRM_LABELS[status], on: {
                click: () => act(id, () => api(incidentUrl(id, "transitions/"), {
                  method: "POST", body: { status, version: version(), comment: comment.value.trim() },
                }), `Statut : ${labels.status[status]}.`),
              } }),
              h("button", { type: "button", class: "secondary", "data-cancel-confirm": true, text: "Ne rien changer",
                on: { click: () => { confirmBox.hidden = true; } } })));
          confirmBox.hidden = false;
          comment.focus();
        },
      },
    }));
    const priority = h("select", { id: "panel-priority", disabled: FINAL.has(detail.status) },
      Object.entries(labels.priority).map(([value, label]) =>
        h("option", { value, selected: Number(value) === detail.priority, text: label })));
    priority.addEventListener("change", async () => {
      const changed = await act(id, () => api(incidentUrl(id), {
        method: "PATCH", body: { version: version(), priority: Number(priority.value) },
      }), "Priorité modifiée.");
      if (!changed && panel && panel.detail) priority.value = String(panel.detail.priority); // as it stands
    });
    return [
      h("div", { class: "form-row" },
        h("label", { for: "panel-priority", class: "inline-label", text: "Priorité" }), priority,
        buttons.length ? buttons : h("span", { class: "muted", text: "Incident terminé : plus de changement de statut." })),
      confirmBox,
    ];
  });
}

function bearingText(degrees) {
  const points = ["N", "NE", "E", "SE", "S", "SO", "O", "NO"];
  return `${Math.round(degrees)}° ${points[Math.round(degrees / 45) % 8]}`;
}

function renderCameras(detail) {
  const suggested = detail.suggested_cameras || [];
  const attached = new Set(detail.cameras || []);
  renderPart("cameras", JSON.stringify([suggested, [...attached], video.factsVersion()]), () => {
    const head = h("h3", { id: "cameras-title" }, "Caméras suggérées",
      attached.size ? h("span", { class: "count", text: ` · ${attached.size} associée${attached.size > 1 ? "s" : ""}` }) : null);
    if (!suggested.length) {
      return [head, h("p", { class: "muted", text: "Aucune caméra ne couvre ce point." })];
    }
    return [head, h("ol", { class: "camera-list" }, suggested.map((camera) => {
      const flags = [];
      if (!camera.authorised) flags.push(h("span", { class: "flag flag-unauthorised", text: "non autorisée" }));
      if (camera.status !== "online") {
        flags.push(h("span", { class: "flag flag-down", text: labels.camera_status[camera.status] || camera.status }));
      }
      const aim = [];
      if (camera.in_view) aim.push("dans le champ");
      if (camera.turn_to !== null && camera.turn_to !== undefined) aim.push(`orienter à ${bearingText(camera.turn_to)}`);
      if (camera.preset !== null && camera.preset !== undefined) aim.push(`préréglage ${camera.preset}`);
      const isAttached = attached.has(camera.camera_id);
      const drive = camera.kind === "ptz" && !FINAL.has(detail.status) ? h("button", {
        type: "button", class: "secondary compact", text: "Piloter", dataset: { ptz: "open" },
        "aria-label": `Piloter la caméra ${camera.code} (vue en direct, orientation, préréglages)`,
        on: { click: () => ptz.open({ cameraId: camera.camera_id, code: camera.code, incidentId: detail.id }) },
      }) : null;
      return h("li", { class: `camera-item${camera.authorised ? "" : " unauthorised"}${camera.status === "online" ? "" : " down"}`,
        dataset: { cameraId: String(camera.camera_id), code: camera.code } },
      h("div", { class: "camera-main" },
        h("strong", { class: "reference", text: camera.code }),
        h("span", { class: "camera-kind", text: labels.camera_kind[camera.kind] || camera.kind }),
        flags),
      h("div", { class: "camera-facts" },
        h("span", { text: `${Math.round(camera.distance_m)} m` }),
        h("span", { text: `cap ${bearingText(camera.bearing)}` }),
        aim.length ? h("span", { class: "camera-aim", text: aim.join(" · ") }) : null),
      isAttached
        ? h("span", { class: "camera-actions" },
          h("span", { class: "attached", text: "Associée ✓" }),
          drive,
          // Only a recorded camera has a picture to capture (the hub says which are).
          FINAL.has(detail.status) || !video.recorded(camera.camera_id) ? null : h("button", {
            type: "button", class: "secondary compact", text: "Capture",
            "aria-label": `Verser une capture d'image de ${camera.code} à la main courante`,
            on: { click: (event) => snapshot(detail.id, camera, event.currentTarget) } }))
        : h("span", { class: "camera-actions" },
          h("button", { type: "button", class: "secondary compact", text: "Associer",
            "aria-label": `Associer la caméra ${camera.code}`,
            on: { click: (event) => {
              event.currentTarget.disabled = true;
              act(detail.id, () => api(incidentUrl(detail.id, "cameras/"), {
                method: "POST", body: { camera: camera.camera_id },
              }), `Caméra ${camera.code} associée.`);
            } } }),
          drive));
    }))];
  });
}

/** The latest recorded picture of the camera, masked, into the incident's main courante
 * (POST /api/streaming/cameras/<id>/snapshots/; the journal line comes back as an event). */
async function snapshot(incidentId, camera, button) {
  button.disabled = true;
  try {
    const url = root.dataset.snapshotUrl.replace("/0/", `/${camera.camera_id}/`);
    const taken = await api(url, { method: "POST", body: { incident: incidentId } });
    const at = new Date(taken.taken_at).toLocaleTimeString("fr-FR");
    setMessage(`Capture de ${camera.code} (image de ${at}) versée à la main courante.`, "ok");
    if (panel && panel.id === incidentId) loadDetail(incidentId);
  } catch (err) {
    setMessage(`Capture de ${camera.code} impossible : ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

function renderSharing(detail) {
  renderPart("sharing", JSON.stringify([detail.shared_with, detail.status]), () => {
    const shared = detail.shared_with || [];
    const head = h("h3", { id: "sharing-title", text: "Partage" });
    const current = shared.length
      ? h("ul", { class: "share-list" }, shared.map((code) => h("li", { dataset: { agency: code } },
        h("span", { text: agencyName(code) }),
        h("button", { type: "button", class: "secondary compact", text: "Retirer",
          "aria-label": `Retirer le partage avec ${agencyName(code)}`,
          on: { click: () => act(detail.id, () => api(incidentUrl(detail.id, `shares/${encodeURIComponent(code)}/`),
            { method: "DELETE" }), `Partage avec ${agencyName(code)} retiré.`) } }))))
      : h("p", { class: "muted", text: "Partagé avec aucun service." });
    if (FINAL.has(detail.status)) return [head, current];
    const available = agencies.filter((agency) => !shared.includes(agency.code));
    const groups = new Map();
    for (const agency of available) {
      if (!groups.has(agency.kind_label)) groups.set(agency.kind_label, []);
      groups.get(agency.kind_label).push(agency);
    }
    const select = h("select", { id: "share-agency", required: true },
      h("option", { value: "", text: "— choisir un service —" }),
      [...groups].map(([label, members]) => h("optgroup", { label },
        members.map((agency) => h("option", { value: agency.code,
          text: agency.video ? agency.name : `${agency.name} (alertes seules, sans vidéo)` })))));
    const shareForm = h("form", { class: "share-form" },
      h("label", { for: "share-agency", text: "Partager avec" }),
      h("div", { class: "form-row" }, select, h("button", { type: "submit", class: "primary compact", text: "Partager" })));
    shareForm.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!select.value) return;
      const code = select.value;
      act(detail.id, () => api(incidentUrl(detail.id, "shares/"), { method: "POST", body: { agency: code } }),
        `Incident partagé avec ${agencyName(code)}.`);
    });
    return [head, current, available.length ? shareForm : null];
  });
}

// --- Live events.

function onEvent(frame) {
  const data = frame.data || {};
  if (field) field.onEvent(frame);
  video.onEvent(frame);
  captures.onEvent(frame);
  ptz.onEvent(frame);
  switch (frame.type) {
    case "incident.created":
    case "incident.updated":
    case "incident.shared": {
      store.upsert(data.incident);
      render(frame.type === "incident.created" ? data.incident.id : null);
      if (panel && panel.id === data.incident.id) {
        const current = store.get(data.incident.id);
        renderSummary(current);
        if (panel.detail && current.version > panel.detail.version) {
          // Status, priority and sharing are in the event: shown now; the rest on reload.
          const merged = { ...panel.detail, ...current };
          renderActions(merged);
          renderSharing(merged);
        }
        if (!panel.detail || data.incident.version > panel.detail.version) {
          scheduleDetail(panel.id, data.incident.version);
        }
      }
      break;
    }
    case "incident.unshared": {
      const known = store.get(data.incident_id);
      if (known) store.patch(data.incident_id, { shared_with: known.shared_with.filter((code) => code !== data.agency) });
      render();
      if (panel && panel.id === data.incident_id) scheduleDetail(panel.id);
      break;
    }
    case "journal.appended":
      if (panel && panel.id === data.incident_id) panel.journal.append(entryFromEvent(data));
      break;
    default:
      if (frame.type.startsWith("camera.") && cameras) cameras.refresh();
      break;
  }
}

function onResync() {
  loadSnapshot();
  video.reload();
  captures.reload();
  ptz.reload();
  if (field) field.onResync();
  if (panel) loadDetail(panel.id);
  if (cameras) cameras.refresh();
}

// --- Keyboard: Échap closes, N creates at the centre of the map.

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    if (event.target instanceof Element && event.target.closest(".ptz-panel")) {
      ptz.close(); // hands the camera back
      return;
    }
    const confirmBox = incidentView.querySelector(".confirm:not([hidden])");
    if (confirmBox) {
      confirmBox.hidden = true;
      return;
    }
    if (hub.map.closePopup && document.querySelector(".leaflet-popup")) {
      hub.map.closePopup();
      return;
    }
    if (!root.classList.contains("has-drawer")) return;
    closeDrawer();
    return;
  }
  if ((event.key === "n" || event.key === "N") && !event.ctrlKey && !event.metaKey && !event.altKey
      && !typing(event.target)) {
    event.preventDefault();
    startCreate(pointOf(hub.map.getCenter()));
  }
});
document.getElementById("new-incident").addEventListener("click", () => startCreate(pointOf(hub.map.getCenter())));

// The operator comes back to this screen: the cameras may have changed meanwhile (a 304 if not).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && cameras) cameras.refresh();
});

// --- Start.

showDrawer("create");
{
  const point = formPoint();
  if (point) draft.show(point.lat, point.lon);
}
// The incidents first (docs/realtime.md: the snapshot, then the stream), the map's layers meanwhile.
const firstSnapshot = loadSnapshot();
// Units, radio and Croix-Rouge alerts; an alert is placed where an incident would be.
const field = fieldConsole({ map: hub.map, pointNow: () => formPoint() || pointOf(hub.map.getCenter()) });
loadNatures();
loadMapLayers();
// (A snapshot that hangs must not keep the live stream away: 5 s at most.)
Promise.race([firstSnapshot, new Promise((resolve) => { window.setTimeout(resolve, 5000); })]).then(() => {
  connectEvents({ onEvent, onResync, onStatus: connectionStatus(document.getElementById("connection")) });
});
