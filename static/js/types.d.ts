/*
 * The globals of the vendored libraries (static/vendor/), loaded by classic <script> tags before
 * our modules. Leaflet and Leaflet.markercluster have their published types (package.json);
 * pmtiles and OpenLayers are declared here, only as far as our files use them.
 */
/// <reference types="leaflet" />
/// <reference types="leaflet.markercluster" />

/** pmtiles 4.5 (static/vendor/pmtiles): a PMTiles archive read over HTTP range requests. */
declare namespace pmtiles {
  interface Header {
    tileType: number;
    minZoom: number;
    maxZoom: number;
    [field: string]: unknown;
  }
  interface RangeResponse {
    data: ArrayBuffer;
  }
  class PMTiles {
    constructor(url: string);
    getHeader(): Promise<Header>;
    getMetadata(): Promise<{ attribution?: string; [field: string]: unknown } | null>;
    getZxy(z: number, x: number, y: number, signal?: AbortSignal): Promise<RangeResponse | undefined>;
  }
}

/** OpenLayers (static/vendor/ol), on Django's admin map widget only (admin-map.js). */
declare namespace ol {
  type Options = Record<string, unknown>;
  class Base {
    constructor(options?: Options);
    [method: string]: any;
  }
  namespace source { class XYZ extends Base {} class Vector extends Base {} }
  namespace layer { class Tile extends Base {} class Vector extends Base {} class Group extends Base {} }
  namespace format { class GeoJSON extends Base {} }
  namespace style { class Style extends Base {} class Stroke extends Base {} class Fill extends Base {} }
}

/** What geo/widgets.py gives admin-map.js: the background's sources, the communes' URL. */
interface AdminMapConfig {
  sources: Array<{ kind: string; url: string; attribution?: string; maxNativeZoom?: number }>;
  communes: string;
}

/** Django admin's jQuery (django.jQuery) with select2, on the admin's unit form (admin-unit.js). */
declare const django: {
  jQuery: {
    (ready: () => void): void;
    (element: Element): {
      select2(options: { ajax: { data: (params: { term?: string; page?: number }) => object } }): void;
      val(value: string | null): { trigger(event: string): void };
    };
  };
};

interface Window {
  L: typeof import("leaflet");
  pmtiles?: typeof pmtiles;
  /** admin-map.js: the background of Django's OpenLayers widget, called by its template. */
  hubAdminBaseLayer?: (config: AdminMapConfig, notice: HTMLElement | null) => ol.layer.Group;
  /** Safari before 14.1. */
  webkitAudioContext?: typeof AudioContext;
}
