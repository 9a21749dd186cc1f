/*
 * The operator's video wall (templates/streaming/wall.html): a grid of the cameras
 * named in the address (?cameras=12,40,7), each playing over WHEP. The centre sees
 * every camera under an authorisation in force, masks painted in.
 */
import { hangUpOnLeave, videoTile } from "./video.js";

const root = document.getElementById("wall");
const grid = document.getElementById("wall-grid");
const iceServers = JSON.parse(document.getElementById("ice-servers").textContent);
const cameras = JSON.parse(document.getElementById("wall-cameras").textContent);
const players = [];

grid.style.setProperty("--columns", String(Math.max(1, Math.ceil(Math.sqrt(cameras.length)))));

for (const camera of cameras) {
  const tile = videoTile({
    title: camera.name,
    subtitle: camera.code,
    url: root.dataset.whepTemplate.replace("/0/", `/${camera.id}/`),
    iceServers,
  });
  tile.element.dataset.camera = String(camera.id);
  grid.append(tile.element);
  players.push(tile.player);
  tile.player.start();
}
hangUpOnLeave(() => players);
