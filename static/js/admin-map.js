// @ts-check
/*
 * The admin map widget's background (geo/widgets.py), for Django's OLMapWidget: the first
 * configured source that answers (the hub's own PMTiles archive first, then the deployment's
 * tile server), under the communes' outlines from /api/geo/communes/. Nothing comes from any
 * other host. A classic script, not a module: OLMapWidget.js and its inline caller are.
 *
 * The sentences shown come from the page (data-none, data-failed on the notice element).
 */
/* global ol, pmtiles */
"use strict";

(function () {
  /** @type {Record<number, string>} */
  const TILE_TYPES = { 2: "image/png", 3: "image/jpeg", 4: "image/webp", 5: "image/avif" };
  // A 1×1 transparent PNG: what a tile outside the archive shows (nothing, and no error).
  const EMPTY_TILE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

  /**
   * A raster PMTiles archive as an OpenLayers source; resolves once its header is read.
   * @param {string} url
   * @returns {Promise<ol.source.XYZ>}
   */
  function pmtilesSource(url) {
    const archive = new pmtiles.PMTiles(url);
    return archive.getHeader().then((header) => {
      const type = TILE_TYPES[header.tileType];
      if (!type) throw new Error("vector archive");
      const source = new ol.source.XYZ({
        minZoom: header.minZoom,
        maxZoom: header.maxZoom, // deeper, OpenLayers enlarges the deepest tiles
        url: "pmtiles://{z}/{x}/{y}",
        /** @param {any} tile an OpenLayers ImageTile */
        tileLoadFunction(tile) {
          const [z, x, y] = tile.getTileCoord();
          const image = tile.getImage();
          archive.getZxy(z, x, y).then((found) => {
            if (!found) { image.src = EMPTY_TILE; return; }
            const src = URL.createObjectURL(new Blob([found.data], { type }));
            image.addEventListener("load", () => URL.revokeObjectURL(src), { once: true });
            image.src = src;
          }).catch(() => tile.setState(3)); // ol.TileState.ERROR
        },
      });
      archive.getMetadata().then((metadata) => {
        if (metadata && metadata.attribution) source.setAttributions(String(metadata.attribution));
      }).catch(() => {});
      return source;
    });
  }

  /** @param {AdminMapConfig["sources"][number]} source */
  function tilesSource(source) {
    return Promise.resolve(new ol.source.XYZ({
      url: source.url,
      maxZoom: source.maxNativeZoom || 19,
      attributions: source.attribution || undefined,
    }));
  }

  /** The first source of `sources` that can be read, or a rejection when none can. */
  /** @param {AdminMapConfig["sources"]} sources */
  function firstReadable(sources) {
    return sources.reduce(
      (earlier, source) => earlier.catch(() => (source.kind === "pmtiles" ? pmtilesSource(source.url) : tilesSource(source))),
      Promise.reject(new Error("no source")));
  }

  /** @param {string} url */
  function communesLayer(url) {
    const source = new ol.source.Vector({ format: new ol.format.GeoJSON(), url });
    return new ol.layer.Vector({
      source,
      style: new ol.style.Style({
        stroke: new ol.style.Stroke({ color: "#1f4e79", width: 2 }),
        fill: new ol.style.Fill({ color: "rgba(31, 78, 121, 0.06)" }),
      }),
    });
  }

  window.hubAdminBaseLayer = function (config, notice) {
    const background = new ol.layer.Tile();
    /** @param {string | undefined} text */
    const say = (text) => { if (notice) { notice.textContent = text || ""; notice.hidden = !text; } };
    say("");
    if (!config.sources.length) {
      say(notice && notice.dataset.none);
    } else {
      firstReadable(config.sources)
        .then((source) => background.setSource(source))
        .catch(() => say(notice && notice.dataset.failed));
    }
    return new ol.layer.Group({ layers: [background, communesLayer(config.communes)] });
  };
}());
