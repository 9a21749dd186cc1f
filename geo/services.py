"""Every write of the geo app: the communes import and the demo communes."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from django.contrib.gis.gdal.error import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon
from django.db import connection, transaction

from config.errors import DomainError
from geo.models import Commune

DEMO_COMMUNES_CSV = Path(__file__).resolve().parent / "data" / "plaine-vallee-communes.csv"

INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
# Property names used by the official sources: the geo API (code, nom, codesPostaux,
# population) and IGN ADMIN EXPRESS (INSEE_COM, NOM / NOM_COM, POPULATION).
CODE_KEYS = ("code", "insee", "code_insee", "codeInsee", "INSEE_COM", "insee_code")
NAME_KEYS = ("nom", "name", "NOM", "NOM_COM", "nom_commune")
POSTCODE_KEYS = ("codesPostaux", "code_postal", "postcode", "CODE_POST")
POPULATION_KEYS = ("population", "POPULATION")


class CommuneImportError(DomainError):
    """The file was refused; no commune was written."""

    code = "import_refused"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)


def _first(props: dict, keys: tuple[str, ...]):
    for key in keys:
        if props.get(key) not in (None, ""):
            return props[key]
    return None


def _parse_feature(index: int, feature: object) -> tuple[dict | None, list[str]]:
    """Check one feature; return the commune fields, or the list of what is wrong with it."""
    where = f"feature {index}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [f"{where}: not a GeoJSON Feature"]
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        return None, [f"{where}: properties must be an object"]
    problems = []
    code = _first(props, CODE_KEYS)
    name = _first(props, NAME_KEYS)
    if code is not None:
        code = str(code).strip()
        where = f"feature {index} ({code})"
    if code is None or not INSEE_RE.match(code):
        problems.append(f"{where}: missing or malformed INSEE code {code!r}")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: missing name")
    postcode = _first(props, POSTCODE_KEYS)
    if isinstance(postcode, list):
        postcode = postcode[0] if postcode else None
    population = _first(props, POPULATION_KEYS)
    if population is not None:
        try:
            population = int(population)
            if population < 0:
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"{where}: population is not a positive integer: {population!r}")
    geometry = feature.get("geometry")
    boundary = None
    if not isinstance(geometry, dict) or geometry.get("type") not in {"Polygon", "MultiPolygon"}:
        kind = geometry.get("type") if isinstance(geometry, dict) else geometry
        problems.append(f"{where}: geometry must be a Polygon or MultiPolygon, not {kind!r}")
    else:
        try:
            geom = GEOSGeometry(json.dumps(geometry), srid=4326)
        except (GEOSException, GDALException, ValueError, TypeError) as exc:
            problems.append(f"{where}: unreadable geometry ({exc})")
        else:
            if geom.empty:
                problems.append(f"{where}: empty geometry")
            elif not geom.valid:
                problems.append(f"{where}: invalid geometry ({geom.valid_reason})")
            else:
                xmin, ymin, xmax, ymax = geom.extent
                if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
                    problems.append(f"{where}: coordinates are not longitude/latitude (WGS 84)")
                else:
                    boundary = geom if geom.geom_type == "MultiPolygon" else MultiPolygon(geom, srid=4326)
    if problems:
        return None, problems
    return {"insee_code": code, "name": name.strip(), "postcode": str(postcode or "")[:5],
            "population": population, "boundary": boundary}, []


def communes_import(*, geojson: object) -> ImportReport:
    """Import communes from a GeoJSON FeatureCollection, all or nothing.

    Every feature is checked before anything is written; when one is wrong the
    whole file is refused with the list of every problem. Existing communes
    (same INSEE code) get the new name and boundary; a postcode or population
    missing from the file keeps the stored value.
    """
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection" \
            or not isinstance(geojson.get("features"), list):
        raise CommuneImportError(["the file is not a GeoJSON FeatureCollection"])
    parsed: list[dict] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, feature in enumerate(geojson["features"]):
        fields, feature_problems = _parse_feature(index, feature)
        problems.extend(feature_problems)
        if fields:
            if fields["insee_code"] in seen:
                problems.append(f"feature {index} ({fields['insee_code']}): same INSEE code as "
                                f"feature {seen[fields['insee_code']]}")
            seen[fields["insee_code"]] = index
            parsed.append(fields)
    if not geojson["features"]:
        problems.append("the file holds no feature")
    if problems:
        raise CommuneImportError(problems)
    report = ImportReport()
    with transaction.atomic():
        for fields in parsed:
            commune = Commune.objects.filter(insee_code=fields["insee_code"]).first()
            if commune is None:
                Commune.objects.create(approximate=False, **{
                    **fields, "population": fields["population"]})
                report.created.append(fields["insee_code"])
                continue
            commune.name, commune.boundary, commune.approximate = fields["name"], fields["boundary"], False
            if fields["postcode"]:
                commune.postcode = fields["postcode"]
            if fields["population"] is not None:
                commune.population = fields["population"]
            commune.save()
            report.updated.append(fields["insee_code"])
    return report


def read_demo_communes(path: Path = DEMO_COMMUNES_CSV) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [
            {"insee_code": row["insee_code"], "name": row["name"], "postcode": row["postcode"],
             "population": int(row["population"]), "lat": float(row["approx_lat"]),
             "lon": float(row["approx_lon"])}
            for row in csv.DictReader(handle)
        ]


# Voronoi cells of the town centres, in Lambert-93, clipped to the centres' convex
# hull grown by 2.5 km: a plausible, gap-free and non-overlapping tiling. The
# real boundaries are imported with import_communes.
_VORONOI_SQL = """
WITH centres AS (
    SELECT code, ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 2154) AS geom
    FROM unnest(%s::text[], %s::float8[], %s::float8[]) AS t(code, lon, lat)
),
hull AS (SELECT ST_Buffer(ST_ConvexHull(ST_Collect(geom)), 2500) AS geom FROM centres),
cells AS (
    SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(c.geom), 0, h.geom))).geom AS geom
    FROM centres c, hull h GROUP BY h.geom
)
SELECT c.code, ST_AsEWKB(ST_Multi(ST_Transform(ST_Intersection(cells.geom, h.geom), 4326)))
FROM cells JOIN centres c ON ST_Contains(cells.geom, c.geom), hull h
"""


@transaction.atomic
def demo_communes_ensure(*, rows: list[dict] | None = None) -> int:
    """Create the demo communes that do not exist yet; return how many were created.

    Idempotent: an existing commune (demo or imported) is left as it is.
    """
    rows = rows if rows is not None else read_demo_communes()
    missing = [r for r in rows if not Commune.objects.filter(insee_code=r["insee_code"]).exists()]
    if not missing:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_VORONOI_SQL, [[r["insee_code"] for r in rows], [r["lon"] for r in rows],
                                      [r["lat"] for r in rows]])
        cells = {code: cast(MultiPolygon, GEOSGeometry(memoryview(wkb))) for code, wkb in cursor.fetchall()}
    for row in missing:
        Commune.objects.create(
            insee_code=row["insee_code"], name=row["name"], postcode=row["postcode"],
            population=row["population"], boundary=cells[row["insee_code"]], approximate=True)
    return len(missing)
