// @ts-check
/*
 * The hub's map (Leaflet, served from static/vendor): a background, then communes, cameras
 * with their fields of view, incidents. Used by the operator console and the partner portal.
 *
 * The background comes from the sources the hub is configured with (geo/basemap.py, in the
 * page as JSON "map-basemap"), tried in order: an online tile server (Plan IGN v2 by
 * default), then the PMTiles archive the hub serves itself (closed networks). A source
 * whose tiles fail is given up for the next one, and the map says so; when none draws,
 * a notice says that too: never a silent black map. Everything else comes from our own
 * data, so the map stays whole without a background. Styling is done with CSS classes
 * (static/css/console.css), never with style attributes: the pages run under a strict
 * Content-Security-Policy.
 */
import { h } from "./lib/dom.js";
import { describeError } from "./lib/http.js";

const L = window.L;

/** @typedef {import("leaflet").Map} LeafletMap */
/** @typedef {import("leaflet").LatLng} LatLng */
/** @typedef {import("./lib/incidents.js").Incident} Incident */
/**
 * A background the hub is configured with (geo/basemap.py).
 * @typedef {{kind: string, url: string, label: string, attribution?: string, maxNativeZoom?: number}} BasemapSource
 */
/**
 * The map of a page and what it holds.
 * @typedef {{map: LeafletMap, layers: import("leaflet").Control.Layers, element: HTMLElement,
 *   background: ReturnType<typeof addBasemap>}} HubMap
 */
/** @typedef {{[field: string]: any, code: string, kind: string, status: string, authorised: boolean}} CameraProps */
/** @typedef {{type: "Feature", geometry: any, properties: CameraProps}} CameraFeature */

/** Fields of view are drawn from this zoom on, for the cameras in view. */
export const FOV_MIN_ZOOM = 16;
/** From this zoom on, camera markers cluster only with the cameras of the same site. */
const SITE_ONLY_ZOOM = 17;
const MAX_FOV_DRAWN = 600;
const CAMERA_REFRESH_MS = 60_000;
const MAX_BBOX_DEGREES = 1.0; // the hub's HUB_MAX_BBOX_DEGREES default
/** A background whose last this many tiles all failed is given up. */
const TILE_FAILURES = 6;

/** @type {[number, number]} */
const DEFAULT_CENTRE = [48.9883, 2.3222]; // Montmorency, until the communes are loaded

/**
 * The background sources rendered into the page (geo.basemap.basemap_sources).
 * @returns {BasemapSource[]}
 */
export function basemapSources() {
  const element = document.getElementById("map-basemap");
  try {
    return element ? JSON.parse(element.textContent) || [] : [];
  } catch {
    return [];
  }
}

/** @param {unknown} text */
function escapeHtml(text) {
  return String(text || "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A failure of ours, said in French. */
class BasemapError extends Error {}

/** @type {Record<number, string>} */
const TILE_TYPES = { 2: "image/png", 3: "image/jpeg", 4: "image/webp", 5: "image/avif" };

/**
 * A raster PMTiles archive as a Leaflet layer, read with the vendored pmtiles library
 * (HTTP range requests). Unlike the library's own Leaflet adapter, every tile that cannot
 * be read is reported ("tileerror"): that is how the map knows its background is missing.
 */
/** @param {string} url */
function pmtilesLayer(url) {
  const archive = window.pmtiles ? new window.pmtiles.PMTiles(url) : null;
  const ready = (archive ? archive.getHeader() : Promise.reject(new BasemapError("lecteur PMTiles absent"))).then((header) => {
    const type = TILE_TYPES[header.tileType];
    if (!type) throw new BasemapError("archive de tuiles vectorielles, illisible ici");
    return { header, type };
  });
  let attribution = "";
  /** @typedef {HTMLImageElement & {abort?: () => void}} Tile */
  const Layer = /** @type {new (options: import("leaflet").GridLayerOptions) => import("leaflet").GridLayer} */ (L.GridLayer.extend({
    getAttribution() { return attribution; },
    /**
     * @param {import("leaflet").Coords} coords
     * @param {import("leaflet").DoneCallback} done
     */
    createTile(coords, done) {
      /** @type {Tile} */
      const tile = document.createElement("img");
      tile.alt = "";
      const controller = new AbortController();
      tile.abort = () => controller.abort();
      ready
        .then(({ type }) => archive.getZxy(coords.z, coords.x, coords.y, controller.signal).then((found) => {
          if (!found) { // outside the archive: nothing to draw there, and nothing wrong
            tile.onload = () => done(null, tile);
            tile.src = L.Util.emptyImageUrl; // an <img> without a picture shows its outline
            return;
          }
          const src = URL.createObjectURL(new Blob([found.data], { type }));
          tile.onload = () => { URL.revokeObjectURL(src); done(null, tile); };
          tile.onerror = () => { URL.revokeObjectURL(src); done(new BasemapError("tuile illisible"), tile); };
          tile.src = src;
        }))
        .catch((err) => { if (!err || err.name !== "AbortError") done(err, tile); });
      return tile;
    },
    // Leaflet's own (private) hook when a tile leaves the view: its read is abandoned too.
    /**
     * @this {{_tiles: Record<string, {el: Tile}>}}
     * @param {string} key
     */
    _removeTile(key) {
      const known = this._tiles[key];
      if (known && known.el.abort) known.el.abort();
      /** @type {any} */ (L.GridLayer.prototype)._removeTile.call(this, key);
    },
  }));
  /** @typedef {import("leaflet").GridLayer & {_map?: LeafletMap, options: import("leaflet").GridLayerOptions}} Grid */
  const layer = /** @type {Grid} */ (new Layer({ maxZoom: 19, maxNativeZoom: 15, minNativeZoom: 0 }));
  ready.then(({ header }) => {
    layer.options.minNativeZoom = header.minZoom;
    layer.options.maxNativeZoom = header.maxZoom;
    if (layer._map) layer.redraw();
    return archive.getMetadata();
  }).then((metadata) => {
    attribution = escapeHtml(metadata && metadata.attribution);
    if (layer._map && layer._map.attributionControl && attribution) layer._map.attributionControl.addAttribution(attribution);
  }).catch(() => {}); // the tiles report it
  return layer;
}

/**
 * @param {BasemapSource} source
 * @returns {import("leaflet").GridLayer}
 */
function basemapLayer(source) {
  if (source.kind === "pmtiles") return pmtilesLayer(source.url);
  return L.tileLayer(source.url, {
    maxZoom: 19,
    maxNativeZoom: source.maxNativeZoom || 19,
    attribution: escapeHtml(source.attribution),
  });
}

/** Why a tile did not come, in French (the pmtiles library says it in English). */
/** @param {unknown} err */
function failureReason(err) {
  if (!(err instanceof Error)) return "aucune tuile reçue";
  const status = /response code: (\d+)/i.exec(err.message);
  if (status) return status[1] === "404" ? "fichier absent du hub" : `erreur ${status[1]}`;
  if (err instanceof TypeError) return "serveur injoignable";
  if (err instanceof BasemapError) return err.message;
  return "archive illisible";
}

/**
 * The background: each configured source as a base layer of the layer control (and "Sans
 * fond de carte"), the first one shown. A source whose last TILE_FAILURES tiles failed
 * is given up for the next one not given up yet; the notice on the map says which and why.
 */
/**
 * @param {LeafletMap} map
 * @param {import("leaflet").Control.Layers} layers
 * @param {BasemapSource[]} sources
 */
function addBasemap(map, layers, sources) {
  // Under the layer control (same corner, added after it): beside the choice it is about,
  // and never over it, however narrow the map.
  const notice = h("p", { class: "basemap-notice", role: "status", hidden: true });
  const Notice = L.Control.extend({ options: { position: "topright" }, onAdd: () => notice });
  new Notice().addTo(map);
  L.DomEvent.disableClickPropagation(notice);
  /** @param {string} text @param {string} [kind] */
  const say = (text, kind) => {
    notice.textContent = text || "";
    notice.className = `basemap-notice leaflet-control${kind ? ` ${kind}` : ""}`;
    notice.hidden = !text;
  };
  const container = map.getContainer();
  if (!sources.length) {
    container.classList.add("no-tiles");
    map.attributionControl.addAttribution("Aucun fond de carte configuré");
    return { sources: [], notice };
  }
  const entries = sources.map((source) => ({
    source, layer: basemapLayer(source), failed: false, loads: 0, recentErrors: 0, reason: "",
  }));
  const none = L.layerGroup();
  for (const entry of entries) {
    layers.addBaseLayer(entry.layer, entry.source.label);
    entry.layer.on("tileload", () => {
      entry.loads += 1;
      entry.recentErrors = 0;
      if (entry.failed) { // it came back (the network, the file)
        entry.failed = false;
        say("");
      }
    });
    entry.layer.on("tileerror", (event) => {
      entry.recentErrors += 1;
      entry.reason = failureReason(event.error);
      if (entry.recentErrors === TILE_FAILURES && !entry.failed) giveUp(entry);
    });
  }
  layers.addBaseLayer(none, "Sans fond de carte");

  /** @typedef {typeof entries[number]} Entry */
  /** @param {Entry} entry */
  function show(entry) {
    for (const other of entries) if (other !== entry && map.hasLayer(other.layer)) map.removeLayer(other.layer);
    if (map.hasLayer(none)) map.removeLayer(none);
    entry.recentErrors = 0;
    map.addLayer(entry.layer);
  }

  /** @param {Entry} entry */
  function giveUp(entry) {
    entry.failed = true;
    const why = entry.reason ? ` (${entry.reason})` : "";
    const next = entries.find((other) => !other.failed);
    if (next && map.hasLayer(entry.layer)) {
      show(next);
      say(`${entry.source.label} injoignable${why} : ${next.source.label} affiché.`, "info");
    } else if (map.hasLayer(entry.layer)) {
      say(`Fond de carte indisponible : ${entry.source.label} ne répond pas${why}. `
        + "Les communes, caméras et incidents restent affichés.", "warn");
    }
  }

  // Chosen in the layer control, or by giveUp (which then says why): what the notice
  // said was about the background shown before.
  map.on("baselayerchange", (event) => {
    const chosen = entries.find((entry) => entry.layer === event.layer);
    container.classList.toggle("has-basemap", Boolean(chosen));
    container.classList.toggle("no-tiles", !chosen);
    say("");
    if (chosen) chosen.recentErrors = 0;
  });
  show(entries[0]);
  return { sources: entries, notice };
}

/**
 * @param {HTMLElement} element
 * @param {{basemap?: BasemapSource[], onClick?: ((latlng: LatLng) => void) | null}} [options]
 * @returns {HubMap}
 */
export function createHubMap(element, { basemap = basemapSources(), onClick = null } = {}) {
  const map = L.map(element, {
    center: DEFAULT_CENTRE,
    zoom: 13,
    minZoom: 9,
    maxZoom: 19,
    zoomSnap: 0.5,
    keyboard: true,
  });
  // Panes, stacked by CSS (.leaflet-<name>-pane): communes under everything, the
  // fields of view under the camera markers, incidents above all markers.
  for (const name of ["communes", "fov", "labels", "draft", "incidents"]) map.createPane(name);

  const layers = L.control.layers(null, null, { collapsed: false, position: "topright" }).addTo(map);
  const background = addBasemap(map, layers, basemap);

  // A click that closes a popup is not a click to create an incident there.
  let popupOpen = false;
  let swallowClick = false;
  map.on("popupopen", () => { popupOpen = true; });
  map.on("popupclose", () => { window.setTimeout(() => { popupOpen = false; }, 0); });
  map.on("preclick", () => { swallowClick = popupOpen; });
  if (onClick) {
    map.on("click", (event) => {
      if (swallowClick) {
        swallowClick = false;
        return;
      }
      onClick(event.latlng);
    });
  }
  return { map, layers, element, background };
}

// --- Communes: boundaries and names, and which one holds a point.

/** @typedef {number[][]} Ring */

/** @param {Ring} ring @param {number} x @param {number} y */
function ringContains(ring, x, y) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * @param {{type: string, coordinates: any}} geometry
 * @returns {Ring[][]}
 */
function polygonsOf(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return [geometry.coordinates];
  if (geometry.type === "MultiPolygon") return geometry.coordinates;
  return [];
}

/** @param {{type: string, coordinates: any}} geometry @param {number} lon @param {number} lat */
function geometryContains(geometry, lon, lat) {
  return polygonsOf(geometry).some(([outer, ...holes]) =>
    ringContains(outer, lon, lat) && !holes.some((hole) => ringContains(hole, lon, lat)));
}

/**
 * @param {{geometry: any}} feature
 * @param {import("leaflet").Polygon} layer
 */
function labelPoint(feature, layer) {
  const centre = layer.getBounds().getCenter();
  if (geometryContains(feature.geometry, centre.lng, centre.lat)) return centre;
  // A concave commune: the average of the vertices of its largest ring.
  const rings = polygonsOf(feature.geometry).map((polygon) => polygon[0]);
  const ring = rings.sort((a, b) => b.length - a.length)[0] || [];
  const sum = ring.reduce((acc, [x, y]) => [acc[0] + x, acc[1] + y], [0, 0]);
  return ring.length ? L.latLng(sum[1] / ring.length, sum[0] / ring.length) : centre;
}

/**
 * The communes (GET /api/geo/communes/, GeoJSON) under everything, with their names.
 * @param {HubMap} hub
 * @param {string} url
 */
export async function addCommunes(hub, url) {
  const response = await fetch(url, { headers: { Accept: "application/geo+json, application/json" }, credentials: "same-origin" });
  if (!response.ok) throw new Error(`Communes indisponibles (erreur ${response.status}).`);
  const data = await response.json();
  /** @type {Array<{geometry: any, properties: {[field: string]: any, name: string}}>} */
  const features = data.features || [];
  const labels = L.layerGroup();
  const shapes = L.geoJSON(data, {
    pane: "communes",
    interactive: false, // a click inside a commune is a click on the map
    style: () => ({ className: "commune-shape" }),
    onEachFeature(feature, layer) {
      const label = h("span", { text: feature.properties.name });
      labels.addLayer(L.marker(labelPoint(feature, /** @type {import("leaflet").Polygon} */ (layer)), {
        pane: "labels",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: "commune-label", html: label, iconSize: null }),
      }));
    },
  });
  const group = L.featureGroup([shapes, labels]).addTo(hub.map);
  hub.layers.addOverlay(group, "Communes");
  const bounds = shapes.getBounds();
  if (bounds.isValid()) hub.map.fitBounds(bounds, { padding: [12, 12] });

  return {
    bounds,
    features,
    /**
     * The commune holding the point, or null when it is outside the service area.
     * @param {number} lat
     * @param {number} lon
     */
    communeAt(lat, lon) {
      const found = features.find((feature) => geometryContains(feature.geometry, lon, lat));
      return found ? found.properties : null;
    },
  };
}

// --- Cameras: clustered markers, fields of view above FOV_MIN_ZOOM.

/** @param {CameraProps} props */
function cameraClasses(props) {
  const classes = [`kind-${props.kind}`];
  if (props.status !== "online") classes.push("camera-down");
  if (!props.authorised) classes.push("camera-unauthorised");
  return classes.join(" ");
}

/** @type {Record<string, string>} */
const KIND_LETTERS = { ptz: "P", panoramic: "360", fixed: "F", nomadic: "N" };
/** @type {Map<string, import("leaflet").DivIcon>} */
const iconCache = new Map();

/** @param {CameraProps} props */
function cameraIcon(props) {
  const key = `${props.kind}|${props.status !== "online"}|${props.authorised}`;
  if (!iconCache.has(key)) {
    const letter = KIND_LETTERS[props.kind] || "?";
    iconCache.set(key, L.divIcon({
      className: `camera-marker ${cameraClasses(props)}`,
      html: `<span>${letter}</span>`,
      iconSize: [20, 20],
      iconAnchor: [10, 10],
      popupAnchor: [0, -10],
    }));
  }
  return iconCache.get(key);
}

/** @param {import("leaflet").MarkerCluster} cluster */
function clusterIcon(cluster) {
  const children = cluster.getAllChildMarkers();
  const flagged = children.filter((marker) => /** @type {FlaggedOptions} */ (marker.options).flagged).length;
  const count = cluster.getChildCount();
  const size = count < 10 ? "small" : count < 100 ? "medium" : "large";
  const html = flagged
    ? `<span>${count}</span><b class="cluster-flag" title="${flagged} à vérifier">!</b>`
    : `<span>${count}</span>`;
  return L.divIcon({ className: `camera-cluster cluster-${size}${flagged ? " has-flag" : ""}`, html,
    iconSize: [40, 40] });
}

/** @typedef {import("leaflet").MarkerOptions & {flagged?: boolean}} FlaggedOptions a camera to check */

/**
 * @param {CameraProps} props
 * @param {{camera_kind: Record<string, string>, camera_status: Record<string, string>}} labels
 */
function cameraPopup(props, labels) {
  const warnings = [];
  if (!props.authorised) warnings.push(h("li", { class: "warn-unauthorised", text: "Sans autorisation préfectorale en vigueur" }));
  if (props.status !== "online") {
    warnings.push(h("li", { class: "warn-down", text: labels.camera_status[props.status] || props.status }));
  }
  return h("div", { class: "camera-popup" },
    h("strong", { class: "reference", text: props.code }),
    h("div", { text: props.name }),
    h("dl", {},
      h("dt", { text: "Type" }), h("dd", { text: labels.camera_kind[props.kind] || props.kind }),
      h("dt", { text: "État" }), h("dd", { text: labels.camera_status[props.status] || props.status }),
      h("dt", { text: "Orientation" }), h("dd", { text: `${Math.round(props.heading)}°, angle ${Math.round(props.angle)}°` }),
      h("dt", { text: "Portée" }), h("dd", { text: `${Math.round(props.range_m)} m` }),
      props.masked ? [h("dt", { text: "Masques" }), h("dd", { text: "zones privées masquées" })] : null),
    warnings.length ? h("ul", { class: "camera-warnings" }, warnings) : null);
}

/** @param {number} value @param {number} step @param {(x: number) => number} round */
function snap(value, step, round) {
  return Number((round(value / step) * step).toFixed(4));
}

/**
 * The camera layer, from GET <url>?bbox= as GeoJSON. The whole service area is asked
 * for when it fits the hub's bbox limit (2,000 cameras: clustered below zoom 17), else
 * the view, snapped to a grid so that small moves ask for the same box again. Each
 * box's answer is kept with its ETag: a refresh sends If-None-Match and a 304 reuses it.
 */
/**
 * @param {HubMap} hub
 * @param {object} options
 * @param {string} options.url
 * @param {{camera_kind: Record<string, string>, camera_status: Record<string, string>}} options.labels
 * @param {import("leaflet").LatLngBounds | null} [options.extent] the service area, when known
 * @param {(err: Error) => void} [options.onError]
 */
export function addCameras(hub, { url, labels, extent = null, onError = () => {} }) {
  const { map } = hub;
  const clusters = L.markerClusterGroup({
    chunkedLoading: true,
    // Zoomed in, only the cameras of one site (same mast, same point) stay together:
    // a click spreads them out (spiderfy).
    maxClusterRadius: (zoom) => (zoom >= SITE_ONLY_ZOOM ? 12 : 60),
    showCoverageOnHover: false,
    spiderfyOnMaxZoom: true,
    iconCreateFunction: clusterIcon,
  }).addTo(map);
  const fov = L.layerGroup().addTo(map);
  hub.layers.addOverlay(clusters, "Caméras");
  hub.layers.addOverlay(fov, `Champs de vision (zoom ≥ ${FOV_MIN_ZOOM})`);

  const cache = new Map(); // bbox → {etag, features}
  /** @type {CameraFeature[] | null} the features drawn */
  let shown = null;
  /** @type {Promise<void> | null} */
  let inFlight = null;

  function bbox() {
    if (extent && extent.isValid()) {
      const padded = extent.pad(0.05);
      const box = [snap(padded.getWest(), 0.01, Math.floor), snap(padded.getSouth(), 0.01, Math.floor),
        snap(padded.getEast(), 0.01, Math.ceil), snap(padded.getNorth(), 0.01, Math.ceil)];
      if (box[2] - box[0] <= MAX_BBOX_DEGREES && box[3] - box[1] <= MAX_BBOX_DEGREES) return box;
    }
    const view = map.getBounds().pad(0.5);
    const box = [snap(view.getWest(), 0.05, Math.floor), snap(view.getSouth(), 0.05, Math.floor),
      snap(view.getEast(), 0.05, Math.ceil), snap(view.getNorth(), 0.05, Math.ceil)];
    // Too wide a view (zoomed far out): the middle of it, within the limit.
    for (const [lo, hi] of [[0, 2], [1, 3]]) {
      if (box[hi] - box[lo] > MAX_BBOX_DEGREES) {
        const mid = (box[lo] + box[hi]) / 2;
        box[lo] = Number((mid - MAX_BBOX_DEGREES / 2).toFixed(4));
        box[hi] = Number((mid + MAX_BBOX_DEGREES / 2).toFixed(4));
      }
    }
    return box;
  }

  /** @param {CameraFeature[]} features */
  function draw(features) {
    if (features === shown) return;
    shown = features;
    const markers = features.map((feature) => {
      const [lon, lat] = feature.geometry.coordinates;
      const props = feature.properties;
      /** @type {FlaggedOptions} */
      const options = {
        icon: cameraIcon(props),
        keyboard: false, // 2,000 tab stops would make the page unusable by keyboard
        title: `${props.code} — ${labels.camera_kind[props.kind] || props.kind}`,
        flagged: !props.authorised || props.status !== "online",
      };
      return L.marker([lat, lon], options).bindPopup(() => cameraPopup(props, labels));
    });
    clusters.clearLayers();
    clusters.addLayers(markers);
    drawFov();
  }

  function drawFov() {
    fov.clearLayers();
    if (!shown || map.getZoom() < FOV_MIN_ZOOM) return;
    const view = map.getBounds().pad(0.3);
    const inView = [];
    for (const feature of shown) {
      const [lon, lat] = feature.geometry.coordinates;
      if (feature.properties.fov && view.contains([lat, lon])) {
        inView.push({ type: "Feature", geometry: feature.properties.fov, properties: feature.properties });
        if (inView.length >= MAX_FOV_DRAWN) break;
      }
    }
    fov.addLayer(L.geoJSON(/** @type {import("geojson").FeatureCollection} */ ({ type: "FeatureCollection", features: inView }), {
      pane: "fov",
      interactive: false,
      style: (feature) => ({ className: `fov-shape ${cameraClasses(feature.properties)}` }),
    }));
  }

  async function refresh() {
    if (inFlight) return inFlight;
    const box = bbox();
    const key = box.join(",");
    const cached = cache.get(key);
    /** @type {Record<string, string>} */
    const headers = { Accept: "application/geo+json, application/json" };
    if (cached && cached.etag) headers["If-None-Match"] = cached.etag;
    inFlight = (async () => {
      try {
        const response = await fetch(`${url}?bbox=${key}`, { headers, credentials: "same-origin", cache: "no-store" });
        if (response.status === 304 && cached) {
          draw(cached.features);
          return;
        }
        if (!response.ok) {
          throw new Error(response.status === 401 ? describeError(401, null)
            : `Caméras indisponibles (erreur ${response.status}).`);
        }
        const data = await response.json();
        const entry = { etag: response.headers.get("ETag"), features: data.features || [] };
        cache.delete(key);
        cache.set(key, entry);
        while (cache.size > 6) cache.delete(cache.keys().next().value); // oldest box first
        draw(entry.features);
      } catch (err) {
        onError(err);
      } finally {
        inFlight = null;
      }
    })();
    return inFlight;
  }

  /** @type {string | null} */
  let lastKey = null;
  map.on("moveend", () => {
    const key = bbox().join(",");
    if (key !== lastKey) {
      lastKey = key;
      refresh();
    } else {
      drawFov();
    }
  });
  map.on("overlayadd", (event) => { if (event.layer === fov) drawFov(); });
  window.setInterval(refresh, CAMERA_REFRESH_MS);
  lastKey = bbox().join(",");
  refresh();
  return { refresh, clusters, fov, get count() { return shown ? shown.length : 0; } };
}

// --- Incidents: one marker each, coloured by priority, ringed when engaged.

/**
 * The incidents' markers, above everything; `sync(incidents)` shows exactly these.
 * @param {HubMap} hub
 * @param {object} options
 * @param {(id: number) => void} options.onSelect
 * @param {import("./incident-ui.js").Labels} options.labels
 * @param {number} [options.focusZoom]
 */
export function addIncidents(hub, { onSelect, labels, focusZoom = FOV_MIN_ZOOM }) {
  const group = L.layerGroup().addTo(hub.map);
  hub.layers.addOverlay(group, "Incidents");
  /** @type {Map<number, {marker: import("leaflet").Marker, key: string}>} */
  const markers = new Map();
  /** @type {number | null} */
  let selectedId = null;

  /** @param {Incident} incident */
  function icon(incident) {
    return L.divIcon({
      className: `incident-marker priority-${incident.priority} status-${incident.status}`,
      html: `<span>${Number(incident.priority)}</span>`,
      iconSize: [32, 32],
      iconAnchor: [16, 16],
      tooltipAnchor: [16, 0],
    });
  }

  /** @param {Incident} incident */
  function tooltip(incident) {
    return h("div", { class: "incident-tooltip" },
      h("strong", { class: "reference", text: incident.reference }),
      h("div", { text: `${incident.nature_label} — ${labels.priority[String(incident.priority)] || ""}` }),
      h("div", { text: `${labels.status[incident.status] || incident.status} · ${incident.commune_name}` }));
  }

  /** @param {Incident} incident */
  function set(incident) {
    const [lon, lat] = incident.location.coordinates;
    const key = `${incident.priority}|${incident.status}|${incident.version}`;
    const known = markers.get(incident.id);
    if (known) {
      if (known.key === key) return;
      known.marker.setLatLng([lat, lon]);
      known.marker.setIcon(icon(incident));
      known.marker.setTooltipContent(tooltip(incident));
      known.key = key;
    } else {
      const marker = L.marker([lat, lon], {
        icon: icon(incident),
        pane: "incidents",
        keyboard: true, // few, and each opens the incident panel with Entrée
        title: `${incident.reference} — ${incident.nature_label}`,
        riseOnHover: true,
      });
      marker.bindTooltip(tooltip(incident), { direction: "right", className: "hub-tooltip" });
      marker.on("click", () => onSelect(incident.id));
      marker.on("add", () => mark(incident.id));
      marker.addTo(group);
      markers.set(incident.id, { marker, key });
    }
    mark(incident.id);
  }

  /** @param {number} id */
  function mark(id) {
    const known = markers.get(id);
    const element = known && known.marker.getElement();
    if (element) element.classList.toggle("selected", id === selectedId);
    if (known) known.marker.setZIndexOffset(id === selectedId ? 1000 : 0);
  }

  /** @param {number} id */
  function remove(id) {
    const known = markers.get(id);
    if (!known) return;
    group.removeLayer(known.marker);
    markers.delete(id);
  }

  return {
    /** Show exactly these incidents. */
    /** Exactly these incidents on the map. @param {Incident[]} incidents */
    sync(incidents) {
      const ids = new Set();
      for (const incident of incidents) {
        ids.add(incident.id);
        set(incident);
      }
      for (const id of [...markers.keys()]) if (!ids.has(id)) remove(id);
    },
    /** @param {number | null} id */
    select(id) {
      const previous = selectedId;
      selectedId = id;
      if (previous !== null) mark(previous);
      if (id !== null) mark(id);
    },
    /** Bring the incident into view (on the console, zoomed in enough to see the fields of view). */
    /** @param {Incident} incident */
    focus(incident) {
      const [lon, lat] = incident.location.coordinates;
      if (hub.map.getZoom() < focusZoom - 1) hub.map.setView([lat, lon], focusZoom);
      else hub.map.panInside([lat, lon], { padding: [40, 40] });
    },
    /** @param {number} id */
    has(id) { return markers.has(id); },
  };
}

// --- The point of the incident being created: a draggable cross.

/**
 * The marker of the incident being created; dragged, it moves the form's point.
 * @param {HubMap} hub
 * @param {{onMove: (latlng: LatLng) => void}} options
 */
export function addDraft(hub, { onMove }) {
  const marker = L.marker(DEFAULT_CENTRE, {
    pane: "draft",
    draggable: true,
    keyboard: false, // the latitude and longitude fields are the keyboard's way
    title: "Point du nouvel incident (déplaçable)",
    icon: L.divIcon({ className: "draft-marker", html: "<span></span>", iconSize: [34, 34], iconAnchor: [17, 17] }),
  });
  marker.on("dragend", () => onMove(marker.getLatLng()));
  return {
    /** @param {number} lat @param {number} lon */
    show(lat, lon) {
      marker.setLatLng([lat, lon]);
      if (!hub.map.hasLayer(marker)) marker.addTo(hub.map);
    },
    hide() { marker.remove(); },
  };
}

// --- A legend of the colours, for the night shift that did not write the CSS.

/**
 * @param {HubMap} hub
 * @param {{cameras?: boolean}} [options] `cameras`: false where the page has none (the portal)
 */
export function addLegend(hub, { cameras = true } = {}) {
  const Legend = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd() {
      /** @param {string} cls @param {string} text */
      const item = (cls, text) => h("li", {}, h("span", { class: `legend-swatch ${cls}`, "aria-hidden": "true" }), text);
      const box = h("details", { class: "map-legend" },
        h("summary", { text: "Légende" }),
        h("ul", {},
          item("incident-swatch priority-1", "Incident, priorité urgente (1)"),
          item("incident-swatch priority-2", "Incident, priorité haute (2)"),
          item("incident-swatch priority-3", "Incident, priorité normale (3)"),
          item("incident-swatch priority-3 status-engaged", "Incident engagé (anneau blanc)"),
          cameras ? [
            item("camera-swatch", "Caméra en service"),
            item("camera-swatch camera-down", "Caméra hors ligne ou en maintenance"),
            item("camera-swatch camera-unauthorised", "Caméra sans autorisation en vigueur"),
          ] : null));
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    },
  });
  new Legend().addTo(hub.map);
}

/**
 * A point of the map, as the forms and the API take it (6 decimals: 0.1 m).
 * @param {{lat: number, lng: number}} latlng
 */
export function pointOf(latlng) {
  return { lat: Number(latlng.lat.toFixed(6)), lon: Number(latlng.lng.toFixed(6)) };
}
