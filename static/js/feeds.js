/*
 * The partner portal's live feeds (templates/streaming/feeds.html): the cameras the
 * centre shares with the member's agency right now (GET /api/streaming/grants/?active=1),
 * each playing over WHEP. A grant created or revoked reaches the page as an event
 * (grant.created / grant.revoked on /ws/events/): the tile appears, or stops with a
 * message. ?camera=<id> opens that camera too (a link from an incident): without a
 * grant, the hub refuses and the tile says why.
 */
import { connectEvents } from "./events.js";
import { MESSAGES, hangUpOnLeave, videoTile } from "./video.js";

const root = document.getElementById("feeds");
const grid = document.getElementById("feed-grid");
const empty = document.getElementById("feeds-empty");
const notice = document.getElementById("feeds-notice");
const connection = document.getElementById("connection");
const iceServers = JSON.parse(document.getElementById("ice-servers").textContent);
const whepUrl = (camera) => root.dataset.whepTemplate.replace("/0/", `/${camera}/`);
const tiles = new Map(); // camera id -> {element, player, grants:Set}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString("fr-FR", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit" });
}

function refreshEmpty() {
  empty.hidden = tiles.size > 0;
}

function open(camera, { title, subtitle }) {
  let tile = tiles.get(camera);
  if (tile && !["cut", "ended", "refused", "error", "unavailable"].includes(tile.element.dataset.state)) return tile;
  if (tile) tile.element.remove();
  tile = videoTile({ title, subtitle, url: whepUrl(camera), iceServers });
  tile.element.dataset.camera = String(camera);
  tile.grants = new Set();
  tiles.set(camera, tile);
  grid.append(tile.element);
  refreshEmpty();
  tile.player.start();
  return tile;
}

function openGrant(grant) {
  const tile = open(grant.camera, {
    title: grant.camera_name,
    subtitle: `${grant.incident_reference} · jusqu'à ${timeOf(grant.expires_at)}`,
  });
  tile.grants.add(grant.id);
}

function endGrant(grant) {
  const tile = tiles.get(grant.camera_id);
  if (!tile) return;
  tile.grants.delete(grant.id);
  if (tile.grants.size === 0) {
    tile.player.stop({ state: "cut", message: "Le centre a mis fin au renvoi d'images." });
  }
}

async function load() {
  try {
    const response = await fetch(root.dataset.grantsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(String(response.status));
    for (const grant of await response.json()) openGrant(grant);
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
    if (frame.type === "grant.created") {
      const g = frame.data.grant;
      openGrant({ id: g.id, camera: g.camera_id, camera_name: g.camera_name,
                  incident_reference: g.incident_reference, expires_at: g.expires_at });
    } else if (frame.type === "grant.revoked") {
      endGrant(frame.data.grant);
    }
  },
  onStatus(label, state) {
    connection.textContent = label;
    connection.dataset.state = state;
  },
});

hangUpOnLeave(() => [...tiles.values()].map((tile) => tile.player));
empty.textContent = MESSAGES.connecting;
load();
