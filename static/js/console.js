// @ts-check
/*
 * The operator console (templates/incidents/console.html): the live map, the
 * incidents in progress beside it, creation by a click on the map, the incident
 * panel (status, suggested cameras, sharing, main courante).
 *
 * The data is a snapshot from the REST API merged with the events of /ws/events/
 * (lib/events.js) by the incident store (lib/incidents.js): what every operator does
 * appears on every console at once, and the incident an operator has open follows the
 * changes others make to it.
 */
import { addressField, proposeAddress } from "./address.js";
import { captureGallery } from "./captures.js";
import { fieldConsole } from "./field-console.js";
import { grantsPanel } from "./grants-panel.js";
import {
  DetailLoader, IncidentList, JournalView, entryFromEvent, incidentSummary, journalList, journalSection, messageLine,
  panelHead, panelTitle,
} from "./incident-ui.js";
import { byId, connectionStatus, h, readJson } from "./lib/dom.js";
import { connectAfter } from "./lib/events.js";
import { api, idempotencyKey } from "./lib/http.js";
import { IncidentStore, byNewest, incidentOf } from "./lib/incidents.js";
import { ptzPanel } from "./ptz-panel.js";
import { techAlarms } from "./tech-alarms.js";
import {
  addCameras, addCommunes, addDraft, addIncidents, addLegend, createHubMap, pointOf,
} from "./map.js";

/** @typedef {import("./lib/incidents.js").Incident} Incident */
/**
 * A camera the hub suggests for an incident (GET /api/incidents/<id>/, "suggested_cameras").
 * @typedef {{camera_id: number, code: string, kind: string, status: string, authorised: boolean,
 *   distance_m: number, bearing: number, in_view: boolean, turn_to: number | null,
 *   preset: number | null}} SuggestedCamera
 */
/**
 * @typedef {Incident & {journal?: import("./lib/incidents.js").JournalEntry[], cameras?: number[],
 *   suggested_cameras?: SuggestedCamera[]}} Detail
 */
/** @typedef {{code: string, name: string, kind: string, kind_label: string, video: boolean}} Agency */
/**
 * The fields of the creation form (templates/incidents/console.html).
 * @typedef {HTMLFormControlsCollection & {nature: HTMLSelectElement, priority: HTMLSelectElement,
 *   description: HTMLTextAreaElement, address: HTMLInputElement, lat: HTMLInputElement,
 *   lon: HTMLInputElement}} CreateFields
 */

const root = byId("console");
const alarms = techAlarms(byId("tech-alarms"));
/** @type {import("./incident-ui.js").Labels & {camera_status: Record<string, string>,
 *   camera_kind: Record<string, string>}} */
const labels = readJson("console-labels");
/** @type {Agency[]} */
const agencies = readJson("console-agencies");
/** @type {Record<string, string[]>} */
const transitions = readJson("console-transitions");
const agencyByCode = new Map(agencies.map((agency) => [agency.code, agency]));
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));
/** @param {number} id @param {string} [suffix] */
const incidentUrl = (id, suffix = "") => `${root.dataset.incidentBaseUrl}${id}/${suffix}`;

const createView = byId("create-view");
const incidentView = byId("incident-view");
/** @type {HTMLFormElement} */
const form = byId("incident-form");
const fields = /** @type {CreateFields} */ (form.elements);
const where = byId("f-where");
const setMessage = messageLine(byId("form-message"));
const mapNotice = byId("map-notice");

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
const list = new IncidentList(labels, { onOpen: openIncident, agencyName });
/** @type {number | null} the incident whose panel is open */
let selectedId = null;
/**
 * @typedef {"summary" | "actions" | "cameras" | "sharing"} PartName
 * @type {{id: number, detail: Detail | null, journal: JournalView, sections: Record<PartName, HTMLElement>,
 *   title: HTMLElement, keys: Partial<Record<PartName, string>>, scrolled: boolean} | null}
 */
let panel = null;
/** @type {Awaited<ReturnType<typeof addCommunes>> | null} */
let communes = null;
/** @type {ReturnType<typeof addCameras> | null} */
let cameras = null;

const detailLoader = new DetailLoader({
  url: (id) => incidentUrl(id),
  isOpen: (id) => panel !== null && panel.id === id,
  version: () => (panel && panel.detail ? panel.detail.version : null),
  onDetail: (/** @type {Detail} */ answer) => {
    store.upsert(incidentOf(answer));
    render();
    renderPanel(answer);
    if (!panel.scrolled) {
      panel.scrolled = true;
      panel.journal.scrollToEnd();
    }
  },
  onError: (err) => setMessage(`Incident indisponible. ${err.message}`, "error"),
});

/** @param {string} code */
function agencyName(code) {
  const agency = agencyByCode.get(code);
  return agency ? agency.name : code;
}

/** @param {unknown} [err] */
function showMapNotice(err) {
  mapNotice.textContent = err ? String(err instanceof Error ? err.message : err) : "";
  mapNotice.hidden = !err;
}

// --- The map.

const hub = createHubMap(byId("map"), {
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

/** @param {"create" | "incident" | null} view */
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
  list.select(null);
  incidentMarkers.select(null);
}

byId("drawer").addEventListener("click", (event) => {
  if (/** @type {Element} */ (event.target).closest("[data-close-drawer]")) closeDrawer();
});

// --- The list and the incident markers.

/** @param {Incident} incident */
function isLive(incident) {
  return liveStatuses.has(incident.status);
}

/** @param {number | null} [freshId] */
function render(freshId = null) {
  const shown = store.values().filter(isLive).sort(byNewest);
  list.render(shown, { counted: shown.length, freshId, selectedId, emptyText: "Aucun incident en cours." });
  incidentMarkers.sync(shown);
  incidentMarkers.select(selectedId);
}

async function loadSnapshot() {
  if (await list.load(store, () => api(root.dataset.incidentsUrl))) render();
}

// --- Creating an incident: a click on the map, then the form.

/** @param {{lat: number, lon: number}} point */
function startCreate(point) {
  if (selectedId !== null) deselect();
  if (createView.hidden) setMessage("");
  showDrawer("create");
  setFormPoint(point, { findAddress: true });
  fields.nature.focus({ preventScroll: true });
}

/**
 * The point of the incident (and of a Croix-Rouge alert); ``findAddress``: propose its address.
 * @param {{lat: number, lon: number}} point
 * @param {{findAddress?: boolean}} [options]
 */
function setFormPoint({ lat, lon }, { findAddress = false } = {}) {
  fields.lat.value = String(lat);
  fields.lon.value = String(lon);
  draft.show(lat, lon);
  updateWhere();
  if (findAddress) proposeAddress(root.dataset.addressReverseUrl, { lat, lon }, [incidentAddress, alertAddress]);
}

// --- Addresses: proposed for the point clicked, or searched (the point then moves there).

/**
 * @param {import("./address.js").AddressResult} result
 * @param {import("./address.js").AddressField} other
 */
function placeAt(result, other) {
  const [lon, lat] = result.location.coordinates;
  setFormPoint({ lat: Number(lat.toFixed(6)), lon: Number(lon.toFixed(6)) });
  other.propose(result.label);
  hub.map.panInside([lat, lon], { padding: [60, 60] });
}

const incidentAddress = addressField(fields.address, {
  searchUrl: root.dataset.addressSearchUrl,
  hint: byId("f-address-hint"),
  onPick: (result) => placeAt(result, alertAddress),
});
const alertAddress = addressField(byId("alert-address"), {
  searchUrl: root.dataset.addressSearchUrl,
  hint: byId("alert-address-hint"),
  onPick: (result) => placeAt(result, incidentAddress),
});

function formPoint() {
  const lat = Number.parseFloat(fields.lat.value);
  const lon = Number.parseFloat(fields.lon.value);
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

for (const field of [fields.lat, fields.lon]) {
  field.addEventListener("input", () => {
    const point = formPoint();
    if (point) draft.show(point.lat, point.lon);
    updateWhere();
  });
}

async function loadNatures() {
  const select = fields.nature;
  try {
    /** @type {Array<{code: string, label: string}>} */
    const natures = await api(root.dataset.naturesUrl);
    const options = natures.map(({ code, label }) => new Option(label, code));
    select.replaceChildren(new Option("— choisir —", ""), ...options);
  } catch (err) {
    select.replaceChildren(new Option("Nomenclature indisponible", ""));
    setMessage(err.message, "error");
  }
}

/** @type {string | null} one Idempotency-Key per incident being created: a repeat is not a second incident */
let createKey = null;
let createBody = "";

/** @param {SubmitEvent} event */
async function submit(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  /** @type {HTMLButtonElement} */
  const button = form.querySelector("button[type=submit]");
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
    /** @type {Incident} */
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

/** @type {Record<string, string>} */
const TRANSITION_LABELS = { engaged: "Engager", closed: "Clore", cancelled: "Annuler l'incident" };
const TRANSITION_ORDER = ["engaged", "closed", "cancelled"];
const FINAL = new Set(["closed", "cancelled"]);
/** @type {Record<string, string>} */
const CONFIRM_LABELS = { closed: "Confirmer la clôture", cancelled: "Confirmer l'annulation" };

/**
 * @param {number} id
 * @param {{keepMessage?: boolean}} [options]
 */
function openIncident(id, { keepMessage = false } = {}) {
  if (!keepMessage) setMessage("");
  draft.hide();
  if (!panel || panel.id !== id) buildPanel(id);
  selectedId = id;
  list.select(id);
  incidentMarkers.select(id);
  showDrawer("incident");
  const known = store.get(id);
  if (known) {
    renderSummary(known);
    window.requestAnimationFrame(() => incidentMarkers.focus(known));
  }
  panel.title.focus({ preventScroll: true });
  detailLoader.load(id);
}

/** @param {number} id */
function buildPanel(id) {
  const title = panelTitle();
  const sections = {
    summary: h("div", { class: "panel-summary" }),
    actions: h("div", { class: "panel-actions" }),
    cameras: h("section", { class: "panel-section", "aria-labelledby": "cameras-title" }),
    sharing: h("section", { class: "panel-section", "aria-labelledby": "sharing-title" }),
  };
  const journal = new JournalView(journalList(), labels, { decorate: captures.decorate });
  panel = { id, detail: null, journal, sections, title, keys: {}, scrolled: false };
  captures.open(id, () => journal.render());
  incidentView.replaceChildren(
    panelHead(title),
    sections.summary,
    sections.actions,
    sections.cameras,
    video.open(id),
    sections.sharing,
    journalSection(journal, incidentUrl(id, "journal/")),
  );
}

/**
 * Each part is rebuilt only when what it shows changed: focus and half-typed input survive.
 * @param {PartName} name
 * @param {string} key
 * @param {() => import("./lib/dom.js").Child | import("./lib/dom.js").Child[]} build
 */
function renderPart(name, key, build) {
  if (panel.keys[name] === key) return;
  panel.keys[name] = key;
  panel.sections[name].replaceChildren(...[build()].flat().filter((child) => child !== null && child !== undefined
    && child !== false).map((child) => (child instanceof Node ? child : String(child))));
}

/** @param {Incident} incident */
function renderSummary(incident) {
  panel.title.textContent = incident.reference;
  renderPart("summary", JSON.stringify([incident.version, incident.status, incident.shared_with]),
    () => incidentSummary(incident, labels));
}

/** @param {Detail} shown */
function renderPanel(shown) {
  panel.detail = shown;
  incidentView.dataset.version = String(shown.version); // what the buttons will send
  renderSummary(shown);
  renderActions(shown);
  renderCameras(shown);
  video.update(shown);
  renderSharing(shown);
  panel.journal.set(shown.journal || []);
}

/**
 * A write from the panel; a stale version is said plainly and the incident reloaded.
 * @param {number} id
 * @param {() => Promise<Detail | Incident | null>} call
 * @param {string} [done] what to say when it is done
 */
async function act(id, call, done) {
  try {
    const answer = await call();
    if (!panel || panel.id !== id) return false;
    if (answer && "journal" in answer && answer.journal) {
      store.upsert(incidentOf(answer));
      render();
      renderPanel(answer);
    } else if (answer) {
      store.upsert(answer);
      render();
      detailLoader.load(id);
    }
    if (done) setMessage(done, "ok");
    return true;
  } catch (err) {
    setMessage(err.message, "error");
    if (err.code === "stale_version" || err.status === 409) detailLoader.load(id);
    return false;
  }
}

/** @param {Detail} detail */
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

/** @param {number} degrees */
function bearingText(degrees) {
  const points = ["N", "NE", "E", "SE", "S", "SO", "O", "NO"];
  return `${Math.round(degrees)}° ${points[Math.round(degrees / 45) % 8]}`;
}

/** @param {Detail} detail */
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
            on: { click: (event) => snapshot(detail.id, camera, /** @type {HTMLButtonElement} */ (event.currentTarget)) } }))
        : h("span", { class: "camera-actions" },
          h("button", { type: "button", class: "secondary compact", text: "Associer",
            "aria-label": `Associer la caméra ${camera.code}`,
            on: { click: (event) => {
              /** @type {HTMLButtonElement} */ (event.currentTarget).disabled = true;
              act(detail.id, () => api(incidentUrl(detail.id, "cameras/"), {
                method: "POST", body: { camera: camera.camera_id },
              }), `Caméra ${camera.code} associée.`);
            } } }),
          drive));
    }))];
  });
}

/**
 * The latest recorded picture of the camera, masked, into the incident's main courante
 * (POST /api/streaming/cameras/<id>/snapshots/; the journal line comes back as an event).
 * @param {number} incidentId
 * @param {SuggestedCamera} camera
 * @param {HTMLButtonElement} button
 */
async function snapshot(incidentId, camera, button) {
  button.disabled = true;
  try {
    const url = root.dataset.snapshotUrl.replace("/0/", `/${camera.camera_id}/`);
    const taken = await api(url, { method: "POST", body: { incident: incidentId } });
    const at = new Date(taken.taken_at).toLocaleTimeString("fr-FR");
    setMessage(`Capture de ${camera.code} (image de ${at}) versée à la main courante.`, "ok");
    if (panel && panel.id === incidentId) detailLoader.load(incidentId);
  } catch (err) {
    setMessage(`Capture de ${camera.code} impossible : ${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

/** @param {Detail} detail */
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
    /** @type {Map<string, Agency[]>} */
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

/** @param {import("./lib/events.js").EventFrame} frame */
function onEvent(frame) {
  const data = frame.data || {};
  if (field) field.onEvent(frame);
  alarms.onEvent(frame);
  video.onEvent(frame);
  captures.onEvent(frame);
  ptz.onEvent(frame);
  const change = store.apply(frame);
  if (change) {
    render(change.type === "incident.created" ? change.id : null);
    if (!panel || panel.id !== change.id) return;
    if (change.kind === "patch") {
      detailLoader.schedule(panel.id);
      return;
    }
    const current = change.incident;
    renderSummary(current);
    if (panel.detail && current.version > panel.detail.version) {
      // Status, priority and sharing are in the event: shown now; the rest on reload.
      const merged = { ...panel.detail, ...current };
      renderActions(merged);
      renderSharing(merged);
    }
    if (!panel.detail || data.incident.version > panel.detail.version) {
      detailLoader.schedule(panel.id, data.incident.version);
    }
  } else if (frame.type === "journal.appended") {
    if (panel && panel.id === data.incident_id) panel.journal.append(entryFromEvent(data));
  } else if (frame.type.startsWith("camera.") && cameras) {
    cameras.refresh();
  }
}

function onResync() {
  loadSnapshot();
  alarms.reload();
  video.reload();
  captures.reload();
  ptz.reload();
  if (field) field.onResync();
  if (panel) detailLoader.load(panel.id);
  if (cameras) cameras.refresh();
}

// --- Keyboard: Échap closes, N creates at the centre of the map.

/** @param {EventTarget | null} target */
function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    if (event.target instanceof Element && event.target.closest(".ptz-panel")) {
      ptz.close(); // hands the camera back
      return;
    }
    /** @type {HTMLElement | null} */
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
byId("new-incident").addEventListener("click", () => startCreate(pointOf(hub.map.getCenter())));

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
const showStatus = connectionStatus(byId("connection"));
let wasDown = false;
/**
 * The connection's badge; and, back after a drop, the alarm strip reloads its state: the replay
 * brings the events missed, not how many segments wait now for the object store.
 * @param {string} label @param {import("./lib/events.js").StreamState} state
 */
function onStatus(label, state) {
  showStatus(label, state);
  if (state === "reconnecting") wasDown = true;
  else if (state === "open" && wasDown) {
    wasDown = false;
    alarms.reload();
  }
}
connectAfter(firstSnapshot, { onEvent, onResync, onStatus });
