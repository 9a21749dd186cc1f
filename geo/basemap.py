"""The map's background: the sources the pages try, and the offline basemap we draw.

Pages try the sources in the order :func:`basemap_sources` gives (docs/map.md): the tile
URL (Plan IGN v2 by default), then the PMTiles archive the hub serves itself. For closed
networks without a basemap of their own, :func:`render_basemap` draws one from our data
(commune areas and boundaries, and the kilometre grid of Lambert-93, the French official
projection) as raster tiles in a PMTiles v3 archive, written by the ``pmtiles`` package
(Protomaps' reference writer). The communes' names are not drawn: the map's "Communes"
layer writes them above, at the same place, and two renderings of one name blur into
each other. Nor are camera sites: the archive is served to partner agencies too, who
get no camera data.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from django.conf import settings
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import LineString, MultiPolygon, Polygon
from django.urls import reverse
from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from geo.models import Commune

TILE = 256
# Tiles are drawn this many times larger, then reduced: Pillow draws polygons without
# anti-aliasing, the reduction smooths their edges.
SUPERSAMPLE = 2

# A dark plan, in the consoles' colours (static/css/console.css): the territory lighter than
# what lies around it, neighbouring communes in different tints, boundaries that stay
# readable under the markers, a faint grid.
OUTSIDE = (11, 16, 22)  # --map-bg: the same dark beyond the archive
TINTS = [(32, 45, 58), (38, 50, 46), (47, 43, 58), (50, 47, 37), (30, 48, 60), (54, 40, 44)]
BOUNDARY = (110, 130, 152)
GRID = (52, 67, 84)
GRID_M = 1000
# From this zoom on the grid is drawn (a square is then about 40 pixels wide).
GRID_MIN_ZOOM = 12


@dataclass(frozen=True)
class BasemapSource:
    """One background the pages may draw, as map.js expects it."""

    kind: str  # "tiles" (an XYZ URL template) or "pmtiles" (an archive URL)
    label: str
    url: str
    attribution: str = ""
    max_native_zoom: int = 19

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "label": self.label, "url": self.url,
                "attribution": self.attribution, "maxNativeZoom": self.max_native_zoom}


def basemap_sources() -> list[dict[str, object]]:
    """The backgrounds configured, in the order to try them; empty when none is."""
    sources = []
    if settings.HUB_MAP_TILE_URL:
        sources.append(BasemapSource(kind="tiles", label=settings.HUB_MAP_TILE_LABEL,
                                     url=settings.HUB_MAP_TILE_URL,
                                     attribution=settings.HUB_MAP_TILE_ATTRIBUTION,
                                     max_native_zoom=settings.HUB_MAP_TILE_MAX_ZOOM))
    if settings.HUB_MAP_PMTILES:
        # The deepest zoom and the attribution are in the archive: map.js reads them there.
        sources.append(BasemapSource(kind="pmtiles", label=settings.HUB_MAP_PMTILES_LABEL,
                                     url=reverse("basemap-file")))
    return [source.as_dict() for source in sources]


# --- Web Mercator (EPSG:3857), in pixels of the whole world at a zoom.


def world_pixel(lon: float, lat: float, zoom: int, scale: int = 1) -> tuple[float, float]:
    size = TILE * scale * 2 ** zoom
    lat = max(min(lat, 85.05112878), -85.05112878)
    x = (lon + 180.0) / 360.0 * size
    sin = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)) * size
    return x, y


def tile_range(bounds: tuple[float, float, float, float], zoom: int) -> tuple[int, int, int, int]:
    """First and last column and row of the tiles covering ``bounds`` (lon/lat) at ``zoom``."""
    west, south, east, north = bounds
    x0, y0 = world_pixel(west, north, zoom)
    x1, y1 = world_pixel(east, south, zoom)
    last = 2 ** zoom - 1
    return (max(int(x0 // TILE), 0), max(int(y0 // TILE), 0),
            min(int(x1 // TILE), last), min(int(y1 // TILE), last))


# --- What is drawn.


@dataclass
class _Commune:
    name: str
    boundary: MultiPolygon
    tint: tuple[int, int, int]


def _communes() -> list[_Commune]:
    """The communes, each with a tint that its neighbours do not have (greedy colouring)."""
    rows = list(Commune.objects.order_by("-population", "insee_code"))
    tints: dict[int, int] = {}
    for commune in rows:
        taken = {tints[other.pk] for other in rows
                 if other.pk in tints and commune.boundary.distance(other.boundary) < 1e-6}
        tints[commune.pk] = next(i for i in range(len(TINTS) + len(rows)) if i not in taken)
    return [_Commune(name=c.name, boundary=c.boundary, tint=TINTS[tints[c.pk] % len(TINTS)])
            for c in rows]


@dataclass(frozen=True)
class BasemapSummary:
    path: Path
    tiles: int
    distinct_tiles: int
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float]
    size_bytes: int


def _grid(bounds: tuple[float, float, float, float]) -> list[list[tuple[float, float]]]:
    """The Lambert-93 (EPSG:2154) kilometre lines over ``bounds``, as lon/lat polylines (a
    vertex every 250 m: straight in Lambert-93 is very slightly curved in Web Mercator)."""
    to_l93 = CoordTransform(SpatialReference(4326), SpatialReference(2154))
    to_wgs = CoordTransform(SpatialReference(2154), SpatialReference(4326))
    west, south, east, north = bounds
    box = LineString([(west, south), (east, south), (east, north), (west, north), (west, south)], srid=4326)
    box.transform(to_l93)
    x0, y0, x1, y1 = box.extent
    first_x, first_y = math.floor(x0 / GRID_M) * GRID_M, math.floor(y0 / GRID_M) * GRID_M
    lines = []
    for x in range(first_x, math.ceil(x1) + GRID_M, GRID_M):
        lines.append([(x, y) for y in range(first_y, math.ceil(y1) + GRID_M, GRID_M // 4)])
    for y in range(first_y, math.ceil(y1) + GRID_M, GRID_M):
        lines.append([(x, y) for x in range(first_x, math.ceil(x1) + GRID_M, GRID_M // 4)])
    result = []
    for points in lines:
        line = LineString(points, srid=2154)
        line.transform(to_wgs)
        result.append([(x, y) for x, y in line.coords])
    return result


def _polygons(boundary: MultiPolygon) -> list[Polygon]:
    """The parts of a commune's boundary (typed: the stubs yield bare geometries)."""
    return [cast(Polygon, part) for part in boundary]


class _Renderer:
    def __init__(self, communes: list[_Commune], grid: list[list[tuple[float, float]]]) -> None:
        self.communes = communes
        self.grid = grid
        self.boxes = [c.boundary.extent for c in communes]

    def tile(self, zoom: int, x: int, y: int) -> bytes:
        s = SUPERSAMPLE
        size = TILE * s
        origin_x, origin_y = x * size, y * size
        image = Image.new("RGB", (size, size), OUTSIDE)
        draw = ImageDraw.Draw(image)

        def pixels(ring) -> list[tuple[float, float]]:
            return [(px - origin_x, py - origin_y)
                    for px, py in (world_pixel(lon, lat, zoom, s) for lon, lat in ring)]

        west, north = self._lonlat(origin_x, origin_y, zoom)
        east, south = self._lonlat(origin_x + size, origin_y + size, zoom)
        near = [c for c, (w, so, e, n) in zip(self.communes, self.boxes, strict=True)
                if w <= east and e >= west and so <= north and n >= south]
        line = max(2, round(s * (1.0 if zoom < 13 else 1.6)))
        for commune in near:
            for polygon in _polygons(commune.boundary):
                outer, *holes = polygon
                draw.polygon(pixels(outer.coords), fill=commune.tint)
                for hole in holes:
                    draw.polygon(pixels(hole.coords), fill=OUTSIDE)
        if zoom >= GRID_MIN_ZOOM:
            for grid_line in self.grid:
                draw.line(pixels(grid_line), fill=GRID, width=s)
        for commune in near:
            for polygon in _polygons(commune.boundary):
                for ring in polygon:
                    draw.line(pixels(ring.coords), fill=BOUNDARY, width=line, joint="curve")
        image = image.resize((TILE, TILE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.quantize(colors=48, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        return out.getvalue()

    @staticmethod
    def _lonlat(px: float, py: float, zoom: int) -> tuple[float, float]:
        size = TILE * SUPERSAMPLE * 2 ** zoom
        lon = px / size * 360.0 - 180.0
        lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * py / size))))
        return lon, lat


def _tiles_in_order(bounds: tuple[float, float, float, float], min_zoom: int,
                    max_zoom: int) -> Iterator[tuple[int, int, int, int]]:
    """(tile id, z, x, y) in increasing tile id: the archive is then "clustered" (tiles in
    the order of its directory), as readers expect of a well-made one."""
    for zoom in range(min_zoom, max_zoom + 1):
        x0, y0, x1, y1 = tile_range(bounds, zoom)
        ids = sorted((zxy_to_tileid(zoom, x, y), x, y)
                     for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
        for tile_id, x, y in ids:
            yield tile_id, zoom, x, y


def render_basemap(path: Path, *, min_zoom: int = 9, max_zoom: int = 15,
                   margin_m: float = 2000) -> BasemapSummary:
    """Draw the territory's basemap into a PMTiles archive at ``path`` (replaced whole: the
    archive is written beside it, then renamed, so a hub serving it never reads half a file).

    Deeper than ``max_zoom``, the pages enlarge the deepest tiles.
    """
    if not 0 <= min_zoom <= max_zoom <= 20:
        raise ValueError("zooms must satisfy 0 <= min_zoom <= max_zoom <= 20")
    communes = _communes()
    if not communes:
        raise ValueError("no commune to draw: load the communes first")
    west = min(c.boundary.extent[0] for c in communes)
    south = min(c.boundary.extent[1] for c in communes)
    east = max(c.boundary.extent[2] for c in communes)
    north = max(c.boundary.extent[3] for c in communes)
    dlat = margin_m / 111_000
    dlon = margin_m / (111_000 * math.cos(math.radians((south + north) / 2)))
    bounds = (west - dlon, south - dlat, east + dlon, north + dlat)

    renderer = _Renderer(communes, _grid(bounds))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    count = 0
    try:
        with partial.open("wb") as out:
            writer = Writer(out)
            for tile_id, zoom, x, y in _tiles_in_order(bounds, min_zoom, max_zoom):
                writer.write_tile(tile_id, renderer.tile(zoom, x, y))
                count += 1
            centre_lon, centre_lat = (west + east) / 2, (south + north) / 2
            writer.finalize(
                {"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                 "min_lon_e7": round(bounds[0] * 1e7), "min_lat_e7": round(bounds[1] * 1e7),
                 "max_lon_e7": round(bounds[2] * 1e7), "max_lat_e7": round(bounds[3] * 1e7),
                 "center_zoom": min(max(12, min_zoom), max_zoom),
                 "center_lon_e7": round(centre_lon * 1e7), "center_lat_e7": round(centre_lat * 1e7)},
                {"name": "Fond de carte du territoire (généré par le hub)",
                 "attribution": "Fond généré par le hub : communes, carroyage Lambert-93 de 1 km",
                 "description": "Communes (surfaces, limites) et carroyage kilométrique "
                                "Lambert-93, dessinés par geo.basemap.render_basemap. Sans rues "
                                "ni bâtiments.",
                 "type": "baselayer", "format": "png"})
            distinct = len(writer.hash_to_offset)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return BasemapSummary(path=path, tiles=count, distinct_tiles=distinct, min_zoom=min_zoom,
                          max_zoom=max_zoom, bounds=bounds, size_bytes=path.stat().st_size)
