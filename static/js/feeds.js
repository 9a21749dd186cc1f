// @ts-check
/*
 * The partner portal's live feeds (templates/streaming/feeds.html): the cameras the
 * centre shares with the member's agency right now (GET /api/streaming/grants/: the active ones),
 * each playing over WHEP. Everything arrives live on /ws/events/: a new grant opens its
 * tile (grant.created; sent again when the centre extends it), and when a feed ends the
 * tile loses its picture and says when and why — stopped by the centre with its reason
 * (grant.revoked), expired, the incident closed or no longer shared (grant.ended, and at
 * once from incident.updated / incident.unshared). ?camera=<id> opens that camera too (a
 * link from an incident): without a grant, the hub refuses and the tile says why.
 */
import { PARIS, byId, connectionStatus, readJson } from "./lib/dom.js";
import { connectEvents } from "./lib/events.js";
import { api } from "./lib/http.js";
import { MESSAGES, hangUpOnLeave, videoTile } from "./video.js";

/**
 * A renvoi d'images as this page keeps it (the REST API's shape; fromEvent() turns an event's).
 * @typedef {{id: number, camera: number, camera_name: string, incident: number, incident_reference: string,
 *   expires_at: string, reason?: string, revoke_reason?: string, camera_id?: number,
 *   active?: boolean, end_reason?: string, ended_at?: string}} Grant
 */
/** @typedef {ReturnType<typeof videoTile> & {grants: Map<number, Grant>}} Tile */

const root = byId("feeds");
const grid = byId("feed-grid");
const empty = byId("feeds-empty");
const notice = byId("feeds-notice");
const connection = byId("connection");
/** @type {RTCIceServer[]} */
const iceServers = readJson("ice-servers");
const myAgency = root.dataset.agency;
/** @param {number} camera */
const whepUrl = (camera) => root.dataset.whepTemplate.replace("/0/", `/${camera}/`);
/** @type {Map<number, Tile>} camera id → its tile */
const tiles = new Map();
const ENDED_STATES = ["cut", "ended", "refused", "error", "unavailable"];
const FINAL_STATUSES = new Set(["closed", "cancelled"]);

const clock = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, hour: "2-digit", minute: "2-digit" });
/** @param {string} iso */
const timeOf = (iso) => clock.format(new Date(iso));

function refreshEmpty() {
  empty.hidden = tiles.size > 0;
}

/** @param {Grant} grant */
function subtitleOf(grant) {
  const parts = [grant.incident_reference, `jusqu'à ${timeOf(grant.expires_at)}`];
  if (grant.reason) parts.push(grant.reason);
  return parts.join(" · ");
}

/**
 * @param {number} camera
 * @param {Tile} tile
 */
function dismissButton(camera, tile) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tile-dismiss";
  button.textContent = "Retirer";
  button.setAttribute("aria-label", "Retirer ce flux terminé de la page");
  button.addEventListener("click", () => {
    tile.element.remove();
    if (tiles.get(camera) === tile) tiles.delete(camera);
    refreshEmpty();
  });
  return button;
}

/**
 * @param {number} camera
 * @param {{title: string, subtitle: string}} words
 * @returns {Tile}
 */
function open(camera, { title, subtitle }) {
  let tile = tiles.get(camera);
  if (tile && !ENDED_STATES.includes(tile.element.dataset.state) && !tile.element.dataset.ended) return tile;
  if (tile) tile.element.remove();
  tile = { ...videoTile({ title, subtitle, url: whepUrl(camera), iceServers }), grants: new Map() };
  tile.element.dataset.camera = String(camera);
  tiles.set(camera, tile);
  grid.append(tile.element);
  refreshEmpty();
  tile.player.start();
  return tile;
}

/** @param {Grant} grant */
function openGrant(grant) {
  const tile = open(grant.camera, { title: grant.camera_name, subtitle: subtitleOf(grant) });
  tile.grants.set(grant.id, grant);
  tile.element.dataset.grants = [...tile.grants.keys()].join(" ");
  tile.setSubtitle(subtitleOf(grant)); // an extension moves the end
}

/**
 * Why a grant ended, for the agent: when, and the reason the centre gave.
 * @param {Grant} grant
 * @param {string} reason
 * @param {string} at
 */
function endMessage(grant, reason, at) {
  const when = timeOf(at);
  switch (reason) {
    case "revoked":
      return grant.revoke_reason
        ? `Renvoi d'images arrêté par le centre à ${when}. Motif : ${grant.revoke_reason}`
        : `Renvoi d'images arrêté par le centre à ${when}.`;
    case "expired":
      return `Renvoi d'images échu à ${when} : la durée accordée par le centre est écoulée.`;
    case "incident_closed":
      return `Renvoi d'images arrêté à ${when} : l'incident ${grant.incident_reference} est terminé.`;
    case "unshared":
      return `Renvoi d'images arrêté à ${when} : l'incident ${grant.incident_reference} n'est plus partagé avec votre service.`;
    default:
      return MESSAGES.cut;
  }
}

/**
 * @param {Grant} grant
 * @param {string} reason
 * @param {string} at
 */
function endGrant(grant, reason, at) {
  const tile = tiles.get(grant.camera_id ?? grant.camera);
  if (!tile || !tile.grants.has(grant.id)) return;
  const known = { ...tile.grants.get(grant.id), ...grant };
  tile.grants.delete(grant.id);
  if (tile.grants.size > 0 || tile.element.dataset.ended) return; // another grant still covers the camera
  tile.end(endMessage(known, reason, at));
  tile.setSubtitle(known.incident_reference); // no "until" any more: it ended
  tile.element.dataset.endReason = reason;
  tile.element.append(dismissButton(grant.camera_id ?? grant.camera, tile));
}

/**
 * @param {number} incidentId
 * @param {string} reason
 * @param {string} at
 */
function endIncident(incidentId, reason, at) {
  for (const tile of [...tiles.values()]) {
    for (const grant of [...tile.grants.values()]) {
      if (grant.incident === incidentId) endGrant({ ...grant, camera_id: grant.camera }, reason, at);
    }
  }
}

/**
 * A grant as the REST API gives it, from an event's shape.
 * @param {{[field: string]: any}} g
 * @returns {Grant}
 */
function fromEvent(g) {
  return { id: g.id, camera: g.camera_id, camera_name: g.camera_name, incident: g.incident_id,
    incident_reference: g.incident_reference, expires_at: g.expires_at, reason: g.reason,
    revoke_reason: g.revoke_reason };
}

async function load() {
  try {
    /** @type {Grant[]} */
    const grants = await api(root.dataset.grantsUrl);
    // Every grant of the agency (newest first): the active ones play; one that ended while
    // the stream was away (a resync) says so on its tile.
    for (const grant of grants.reverse()) {
      if (grant.active) openGrant(grant);
      else endGrant(grant, grant.end_reason, grant.ended_at);
    }
    notice.hidden = true;
  } catch (error) {
    notice.textContent = `Impossible de charger les renvois d'images (${error.message}).`;
    notice.hidden = false;
  }
  const asked = Number.parseInt(new URLSearchParams(window.location.search).get("camera") || "", 10);
  if (Number.isSafeInteger(asked) && asked > 0 && !tiles.has(asked)) {
    open(asked, { title: `Caméra ${asked}`, subtitle: "" });
  }
  refreshEmpty();
}

connectEvents({
  onEvent(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "grant.created":
        if (!data.grant.ended_at) openGrant(fromEvent(data.grant));
        break;
      case "grant.revoked":
      case "grant.ended":
        endGrant(data.grant, data.grant.end_reason || "revoked", data.grant.ended_at || frame.at);
        break;
      case "incident.updated":
        // Closing the incident stops its images at once (the hub cuts them); say so now.
        if (FINAL_STATUSES.has(data.incident.status)) endIncident(data.incident.id, "incident_closed", frame.at);
        break;
      case "incident.unshared":
        if (data.agency === myAgency) endIncident(data.incident_id, "unshared", frame.at);
        break;
      default:
        break;
    }
  },
  onResync: load,
  onStatus: connectionStatus(connection),
});

hangUpOnLeave(() => [...tiles.values()].map((tile) => tile.player));
empty.textContent = MESSAGES.connecting;
load().then(() => {
  empty.textContent = "Aucun renvoi d'images en cours pour votre service.";
});
