// @ts-check
/*
 * The operators' video wall (templates/streaming/wall.html): a grid of tiles, each playing
 * one camera over WHEP. The shared wall's layout is kept on the server (GET
 * /api/streaming/walls/<name>/); when an operator sends a camera to a tile from the console,
 * `wall.updated` arrives on /ws/events/ and only the tiles that changed are re-opened.
 * With ?cameras=… the page shows those cameras instead and follows nothing.
 */
import { byId, connectionStatus, readJson } from "./lib/dom.js";
import { connectEvents } from "./lib/events.js";
import { api } from "./lib/http.js";
import { hangUpOnLeave, videoTile } from "./video.js";

/** @typedef {{position: number, camera_id: number, camera_name: string, camera_code: string}} WallTile */
/** @typedef {{name: string, columns: number, rows: number, tiles: WallTile[], updated_at?: string}} Layout */
/** @typedef {{cameraId: number | null, element: HTMLElement, player: import("./video.js").WhepPlayer | null}} Shown */

const root = byId("wall");
const grid = byId("wall-grid");
const connection = byId("connection");
/** @type {RTCIceServer[]} */
const iceServers = readJson("ice-servers");
const wallName = root.dataset.wallName;
/** @type {Map<number, Shown>} position → what the tile shows */
const tiles = new Map();
/** @type {Layout} */
let layout = readJson("wall-layout");

/**
 * @param {number} position
 * @returns {Shown}
 */
function emptyTile(position) {
  const element = document.createElement("article");
  element.className = "video-tile wall-empty";
  element.dataset.position = String(position);
  element.dataset.state = "empty";
  const text = document.createElement("p");
  text.className = "wall-empty-text";
  text.textContent = `Tuile ${position} · libre`;
  element.append(text);
  return { cameraId: null, element, player: null };
}

/**
 * @param {number} position
 * @param {WallTile} tile
 * @returns {Shown}
 */
function cameraTile(position, tile) {
  const made = videoTile({
    title: tile.camera_name,
    subtitle: `${position} · ${tile.camera_code}`,
    url: root.dataset.whepTemplate.replace("/0/", `/${tile.camera_id}/`),
    iceServers,
  });
  made.element.dataset.position = String(position);
  made.element.dataset.camera = String(tile.camera_id);
  made.element.dataset.code = tile.camera_code;
  made.player.start();
  return { cameraId: tile.camera_id, element: made.element, player: made.player };
}

/**
 * Show `next`; a tile whose camera did not change keeps playing.
 * @param {Layout} next
 */
function apply(next) {
  layout = next;
  grid.style.setProperty("--columns", String(layout.columns));
  grid.style.setProperty("--rows", String(layout.rows));
  const wanted = new Map(layout.tiles.map((tile) => [tile.position, tile]));
  const size = layout.columns * layout.rows;
  const elements = [];
  for (let position = 1; position <= size; position += 1) {
    const tile = wanted.get(position) || null;
    let current = tiles.get(position);
    if (!current || current.cameraId !== (tile ? tile.camera_id : null)) {
      if (current && current.player) current.player.stop();
      current = tile ? cameraTile(position, tile) : emptyTile(position);
      tiles.set(position, current);
    }
    elements.push(current.element);
  }
  for (const [position, current] of tiles) {
    if (position > size) {
      if (current.player) current.player.stop();
      tiles.delete(position);
    }
  }
  grid.replaceChildren(...elements);
}

async function reload() {
  if (!root.dataset.wallUrl) return;
  try {
    apply(await api(root.dataset.wallUrl));
  } catch {
    /* the next event or resync brings it */
  }
}

apply(layout);
hangUpOnLeave(() => [...tiles.values()].map((tile) => tile.player).filter(Boolean));

if (wallName) {
  connectEvents({
    onEvent(frame) {
      if (frame.type === "wall.updated" && frame.data.wall.name === wallName) apply(frame.data.wall);
    },
    onResync: reload,
    onStatus: connectionStatus(connection),
  });
  reload(); // what changed between the page's rendering and the stream's opening
} else {
  connection.textContent = "sélection fixe";
  connection.dataset.state = "static";
}
