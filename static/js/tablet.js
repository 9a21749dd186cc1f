// @ts-check
/*
 * The field unit's tablet (/terrain/). Built for a flaky mobile network:
 * - every write goes through a queue kept in localStorage, each with its own Idempotency-Key,
 *   sent in order when the network answers; a write the hub refuses (4xx) is dropped and
 *   shown, one the network lost is sent again with the same key, so it takes effect once;
 * - the event stream resumes from the last id it saw (lib/events.js);
 * - its incidents are the one incident store's (lib/incidents.js), as on the console and portal.
 * An urgent or flash message waiting for this unit's acknowledgement, and (Croix-Rouge units)
 * an alert nobody has acknowledged yet, ring until they are answered (alerting.js).
 */
import { Alarm } from "./alerting.js";
import { alertCard, RadioLog } from "./field-ui.js";
import { byId, connectionStatus, h } from "./lib/dom.js";
import { connectAfter } from "./lib/events.js";
import { api, ApiError, detailText, idempotencyKey } from "./lib/http.js";
import { IncidentStore, byNewest } from "./lib/incidents.js";

/** @typedef {import("./lib/incidents.js").Incident} Incident */
/** @typedef {{key: string, url: string, body: object}} QueuedWrite */

const root = byId("tablet");
const unitId = Number(root.dataset.unit);
let callsign = root.dataset.callsign;
const isCrf = root.dataset.crf === "1";
const QUEUE_KEY = `csu.tablet.queue.${unitId}`;
const positionEvery = Number(root.dataset.positionSeconds || 15) * 1000;
const queueState = byId("queue-state");
const alarm = new Alarm();
const positionState = byId("position-state");
const tabletNotice = byId("tablet-notice");

// --- The offline queue.

/** @returns {QueuedWrite[]} */
function readQueue() {
  try {
    return JSON.parse(window.localStorage.getItem(QUEUE_KEY) || "[]");
  } catch {
    return [];
  }
}

/** @param {QueuedWrite[]} queue */
function writeQueue(queue) {
  try {
    window.localStorage.setItem(QUEUE_KEY, JSON.stringify(queue));
  } catch { /* storage full or disabled: memory only */ }
  queueState.textContent = queue.length ? `${queue.length} envoi(s) en attente de réseau` : "";
  root.dataset.queued = String(queue.length);
}

let flushing = false;

/**
 * @param {string} url
 * @param {object} body
 */
function enqueue(url, body) {
  const queue = readQueue();
  queue.push({ key: idempotencyKey(), url, body });
  writeQueue(queue);
  flush();
}

async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (;;) {
      const queue = readQueue();
      if (!queue.length) break;
      const item = queue[0];
      try {
        await api(item.url, { method: "POST", body: item.body, headers: { "Idempotency-Key": item.key } });
      } catch (err) {
        if (err instanceof ApiError && (err.status === 0 || err.status >= 500 || err.status === 401)) {
          break; // offline, or the hub restarting: the same write, with the same key, later
        }
        positionState.textContent = `Refusé : ${err.message}`;
      }
      writeQueue(readQueue().filter((q) => q.key !== item.key));
    }
  } finally {
    flushing = false;
  }
}

window.addEventListener("online", flush);
window.setInterval(flush, 10000);
writeQueue(readQueue());

// --- Status.

/** @type {NodeListOf<HTMLButtonElement>} */
const statusButtons = document.querySelectorAll("#status-buttons button");
/** @param {string} status */
function showStatus(status) {
  root.dataset.status = status;
  statusButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.status === status)));
}
statusButtons.forEach((button) => button.addEventListener("click", () => {
  showStatus(button.dataset.status);
  enqueue(`/api/units/${unitId}/status/`, { status: button.dataset.status });
}));
showStatus(root.dataset.status);

// --- Position, throttled: on the event socket when it is open (acknowledged there), else, or
// when no answer comes, by the POST of the offline queue (the hub keeps the same fix once).

const SOCKET_ANSWER_MS = 10000;
const SOCKET_WAIT_MS = 5000;
/** @type {import("./lib/events.js").EventStream | null} */
let events = null;
/**
 * A position sent on the socket, waiting for its answer.
 * @typedef {{location: import("./lib/incidents.js").Point, at: string, accuracy?: number | null}} Fix
 * @type {Map<string, {body: Fix, timer: number}>}
 */
const onSocket = new Map();

/** @param {Fix} body */
function postPosition(body) {
  enqueue(`/api/units/${unitId}/position/`, body);
}

/**
 * @param {Fix} body
 * @param {number} [waited] ms already waited for the socket
 */
function sendPosition(body, waited = 0) {
  const id = idempotencyKey();
  const [lon, lat] = body.location.coordinates;
  const sent = events && events.send({ type: "unit.position", id, lat, lon, at: body.at,
    accuracy: body.accuracy ?? undefined });
  if (!sent) {
    if (waited < SOCKET_WAIT_MS) { // the socket is opening (page start, a reconnection): wait a little
      window.setTimeout(() => sendPosition(body, waited + 500), 500);
      return;
    }
    postPosition(body);
    positionState.textContent = "Position transmise.";
    return;
  }
  const timer = window.setTimeout(() => { // the socket died before answering
    onSocket.delete(id);
    postPosition(body);
  }, SOCKET_ANSWER_MS);
  onSocket.set(id, { body, timer });
}

/** @param {import("./lib/events.js").Reply} frame */
function positionAnswer(frame) {
  const waiting = onSocket.get(frame.id);
  if (!waiting) return;
  window.clearTimeout(waiting.timer);
  onSocket.delete(frame.id);
  if (frame.type === "ack") {
    positionState.textContent = "Position transmise.";
  } else if (frame.error === "unavailable" || frame.error === "too_many" || frame.error === "server_error") {
    postPosition(waiting.body); // the hub could not take it now: the queue sends it again
  } else {
    positionState.textContent = `Refusé : ${detailText(frame.detail)}`;
  }
}

let lastSent = 0;
if (navigator.geolocation) {
  navigator.geolocation.watchPosition((pos) => {
    const now = Date.now();
    if (now - lastSent < positionEvery) return;
    lastSent = now;
    sendPosition({
      location: { type: "Point", coordinates: [pos.coords.longitude, pos.coords.latitude] },
      at: new Date(pos.timestamp || now).toISOString(),
      accuracy: pos.coords.accuracy,
    });
  }, () => { positionState.textContent = "Position indisponible (géolocalisation refusée ou absente)."; },
  { enableHighAccuracy: true, maximumAge: 10000 });
}

// --- Radio.

const log = new RadioLog(byId("tablet-radio"), {
  ackFor: callsign,
  onAck: (m) => {
    log.upsert({ ...m, pending: m.pending.filter((c) => c !== callsign) });
    enqueue(`/api/radio/messages/${m.id}/ack/`, {});
  },
  onChange: (m, row) => alarm.set(`radio:${m.id}`, m.priority !== "routine" && m.pending.includes(callsign),
    { level: m.priority, element: row }),
});

/** @type {HTMLFormElement} */
const replyForm = byId("reply-form");
const replyFields = /** @type {HTMLFormControlsCollection & {net: HTMLSelectElement, priority: HTMLSelectElement,
  text: HTMLTextAreaElement}} */ (replyForm.elements);
replyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  enqueue("/api/radio/messages/", {
    net: Number(replyFields.net.value),
    priority: replyFields.priority.value,
    text: replyFields.text.value,
  });
  replyFields.text.value = "";
  replyFields.priority.value = "routine";
});

// --- The unit itself: renamed, retired, or its tablet handed to someone else (by a supervisor).

/** @param {{id: number, callsign: string, status: string, member: string, retired_at: string | null}} unit */
function unitUpdated(unit) {
  if (unit.retired_at || unit.member !== root.dataset.username) {
    tabletNotice.textContent = unit.retired_at
      ? `L'unité ${unit.callsign} a été retirée du service : cette tablette n'y est plus rattachée.`
      : `La tablette de ${unit.callsign} a été confiée à un autre membre.`;
    tabletNotice.hidden = false;
    root.dataset.detached = "1";
    return;
  }
  if (unit.callsign !== callsign) {
    callsign = unit.callsign;
    root.dataset.callsign = callsign;
    log.ackFor = callsign;
    byId("tablet-callsign").textContent = callsign;
    document.title = document.title.replace(/^[^—]*—/, `${callsign} —`);
  }
  showStatus(unit.status);
}

// --- Incidents and alerts.

const incidentList = byId("tablet-incidents");
const alertList = byId("tablet-alerts");
/** @type {Map<number, HTMLElement>} */
const alertRows = new Map();
// The incidents this unit may see, in progress: the same store and events as the console's.
const store = new IncidentStore({ agency: root.dataset.agency || null });
const liveStatuses = new Set(root.dataset.liveStatuses.split(","));
/** @type {Map<number, {key: string, row: HTMLElement}>} */
const incidentRows = new Map();

/** @param {Incident} incident */
function incidentRow(incident) {
  const key = `${incident.version}|${incident.reference}`;
  const known = incidentRows.get(incident.id);
  if (known && known.key === key) return known.row;
  const row = h("li", { dataset: { incident: String(incident.id) } },
    h("strong", { text: incident.reference }), ` ${incident.nature_label} — ${incident.commune_name}`,
    incident.address ? ` (${incident.address})` : "");
  incidentRows.set(incident.id, { key, row });
  return row;
}

function renderIncidents() {
  const shown = store.values().filter((incident) => liveStatuses.has(incident.status)).sort(byNewest);
  const ids = new Set(shown.map((incident) => incident.id));
  for (const id of incidentRows.keys()) if (!ids.has(id)) incidentRows.delete(id);
  incidentList.replaceChildren(...shown.map(incidentRow));
}

/** @param {import("./field-ui.js").Alert} alert */
function showAlert(alert) {
  const actions = [];
  if (alert.status === "raised" || alert.status === "acknowledged") {
    actions.push(h("button", { type: "button", class: "primary", text: "Je prends en charge",
      on: { click: () => enqueue(`/api/alerts/${alert.id}/take-charge/`, {}) } }));
  }
  const row = alertCard(alert, actions);
  const old = alertRows.get(alert.id);
  if (old) old.replaceWith(row);
  else alertList.prepend(row);
  alertRows.set(alert.id, row);
  alarm.set(`alert:${alert.id}`, alert.status === "raised", { level: alert.escalated_at ? "flash" : "urgent", element: row });
}

async function loadSnapshot() {
  try {
    /** @type {[Array<{id: number, name: string}>, import("./field-ui.js").RadioMessage[], unknown]} */
    const [nets, messages] = await Promise.all([
      api("/api/radio/nets/"), api("/api/radio/messages/"),
      store.loadSnapshot(() => api(`/api/incidents/?status=${root.dataset.liveStatuses}`)).then(renderIncidents)]);
    replyFields.net.replaceChildren(...nets.map((n) => h("option", { value: String(n.id), text: n.name })));
    messages.forEach((m) => log.upsert(m));
    if (isCrf) (await api("/api/alerts/?status=raised,acknowledged,taken_charge")).reverse().forEach(showAlert);
  } catch (err) {
    positionState.textContent = err.message;
  }
}

/** @param {import("./lib/events.js").EventFrame} frame */
function onEvent(frame) {
  if (store.apply(frame)) {
    renderIncidents();
    return;
  }
  const data = frame.data || {};
  switch (frame.type) {
    case "radio.message": log.upsert(data.message, { resend: data.resend }); break;
    case "radio.acknowledged": log.acknowledged(data); break;
    case "radio.escalated": log.escalated(data.message); break;
    case "unit.status":
    case "unit.engaged":
      if (data.unit.id === unitId) showStatus(data.unit.status);
      break;
    case "unit.updated": if (data.unit.id === unitId) unitUpdated(data.unit); break;
    case "alert.raised": if (isCrf) showAlert(data.alert); break;
    case "alert.updated": if (isCrf) showAlert(data.alert); break;
    default: break;
  }
}

connectAfter(loadSnapshot(), { onEvent, onResync: loadSnapshot, onReply: positionAnswer,
  onStatus: connectionStatus(byId("connection")) }).then((stream) => {
  events = stream;
  flush();
});
