"""Reads of the camera registry: coverage lookups and the map layer.

Both are single SQL statements on the spatial indexes: they run on every click
of an operator and every map refresh of every console.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from cameras.choices import CameraKind
from cameras.models import Authorisation, Camera
from geo.geojson import feature_collection
from geo.geometry import angle_between

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

log = logging.getLogger(__name__)

# How long a built layer stays in the cache (Redis) under its ETag. The ETag changes with the
# layer's content, so a longer time only costs memory: an old version is never served.
LAYER_CACHE_SECONDS = 15 * 60


def valid_authorisations(day=None) -> QuerySet[Authorisation]:
    day = day or timezone.localdate()
    return Authorisation.objects.filter(valid_from__lte=day, valid_until__gte=day)


class Authorised(TypedDict):
    authorised: bool


def cameras_with_authorisation(day=None) -> QuerySet[WithAnnotations[Camera, Authorised]]:
    """Cameras annotated with ``authorised``: whether a valid authorisation covers them today."""
    return Camera.objects.annotate(
        authorised=Exists(valid_authorisations(day).filter(cameras=OuterRef("pk"))))


@dataclass(frozen=True)
class CoverageHit:
    """A camera that can see a point, and what the operator needs to know to use it."""

    camera_id: int
    code: str
    name: str
    kind: str
    status: str
    distance_m: float
    bearing: float  # from the camera to the point, degrees from true north
    off_axis: float  # between the camera's current heading and the point
    in_view: bool  # inside the current field of view, without moving the camera
    preset: int | None  # a PTZ preset that sees the point, when one does
    turn_to: float | None  # for a PTZ camera not already looking there: the bearing to turn to
    authorised: bool
    score: float

    @property
    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# One statement: candidates from the GiST index on ``coverage``, then distance and
# bearing on the geography (metres, true north), the best preset and the
# authorisation status for each. ST_Azimuth is NULL when the point is the camera's own.
COVERAGE_SQL = """
SELECT c.id, c.code, c.name, c.kind, c.status, c.heading, c.range_m,
       ST_Distance(c.location::geography, p.g::geography) AS distance_m,
       coalesce(degrees(ST_Azimuth(c.location::geography, p.g::geography)), c.heading),
       ST_Covers(c.fov, p.g) AS in_view,
       (SELECT pr.number FROM cameras_ptzpreset pr
         WHERE pr.camera_id = c.id AND ST_Covers(pr.fov, p.g)
         ORDER BY pr.range_m, pr.number LIMIT 1) AS preset,
       EXISTS (SELECT 1 FROM cameras_authorisation_cameras ac
                 JOIN cameras_authorisation a ON a.id = ac.authorisation_id
                WHERE ac.camera_id = c.id AND a.valid_from <= %(day)s
                  AND a.valid_until >= %(day)s) AS authorised
FROM cameras_camera c,
     (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
WHERE ST_Covers(c.coverage, p.g)
"""


def coverage_at(point: Point, *, day=None) -> list[CoverageHit]:
    """The cameras that can see ``point``, best first.

    The score is ``distance / range + off_axis / 180``: a near camera looking
    straight at the point scores close to 0. For a PTZ camera, ``off_axis`` is
    how far it must turn from where it looks now; ``turn_to`` gives the bearing.
    Offline cameras are listed (the operator must know they exist) but after
    every online one.
    """
    with connection.cursor() as cursor:
        cursor.execute(COVERAGE_SQL, {"lon": point.x, "lat": point.y,
                                      "day": day or timezone.localdate()})
        rows = cursor.fetchall()
    hits = []
    for (camera_id, code, name, kind, status, heading, range_m, distance, bearing, in_view,
         preset, authorised) in rows:
        off_axis = angle_between(bearing, heading)
        is_ptz = kind == CameraKind.PTZ
        hits.append(CoverageHit(
            camera_id=camera_id, code=code, name=name, kind=kind, status=status,
            distance_m=round(distance, 1), bearing=round(bearing, 1), off_axis=round(off_axis, 1),
            in_view=in_view, preset=preset,
            turn_to=round(bearing, 1) if is_ptz and not in_view else None,
            authorised=authorised,
            score=round(distance / range_m + off_axis / 180.0, 4),
        ))
    hits.sort(key=lambda h: (h.status != "online", h.score, h.camera_id))
    return hits


# The map layer: one feature per camera (its position) with its field of view as
# a property, so the client draws both from one request.
_GEOJSON_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', c.id,
    'geometry', ST_AsGeoJSON(c.location, 6)::json,
    'properties', json_build_object(
        'code', c.code, 'name', c.name, 'kind', c.kind, 'status', c.status,
        'heading', c.heading, 'angle', c.angle, 'range_m', c.range_m,
        'site', s.code, 'commune', co.insee_code,
        'authorised', EXISTS (SELECT 1 FROM cameras_authorisation_cameras ac
                                JOIN cameras_authorisation a ON a.id = ac.authorisation_id
                               WHERE ac.camera_id = c.id AND a.valid_from <= %(day)s
                                 AND a.valid_until >= %(day)s),
        'masked', EXISTS (SELECT 1 FROM cameras_privacymask m WHERE m.camera_id = c.id),
        'fov', ST_AsGeoJSON(c.fov, 6)::json)) AS feature
FROM cameras_camera c
JOIN cameras_site s ON s.id = c.site_id
JOIN geo_commune co ON co.id = s.commune_id
WHERE %(bbox)s::boolean IS FALSE
   OR c.coverage && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326)
ORDER BY c.id
"""

# Everything the map layer depends on, summarised in one row: when none of it
# changes, the layer is the same and the client's copy (ETag) is still good.
_VERSION_SQL = """
SELECT (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM cameras_camera),
       (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM cameras_authorisation),
       (SELECT count(*) FROM cameras_authorisation_cameras),
       (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM cameras_privacymask)
"""


def camera_layer_etag(*, bbox: tuple[float, float, float, float] | None, day=None) -> str:
    """A strong validator of the camera layer for ``bbox``, cheap to compute."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL)
        version = cursor.fetchone()
    day = day or timezone.localdate()
    raw = repr((version, bbox, day.isoformat()))
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:32] + '"'


def camera_layer_geojson(*, bbox: tuple[float, float, float, float] | None, day=None) -> str:
    """The cameras (and their fields of view) whose coverage meets ``bbox``, as GeoJSON text."""
    xmin, ymin, xmax, ymax = bbox or (0, 0, 0, 0)
    return feature_collection(_GEOJSON_SQL, {
        "day": day or timezone.localdate(), "bbox": bbox is not None,
        "xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax})


def camera_layer_cached(*, bbox: tuple[float, float, float, float] | None, etag: str) -> str:
    """The layer of :func:`camera_layer_geojson`, kept in the cache under its ETag (a strong
    validator of the content: same ETag, same text), so that every console opening the map
    does not make PostgreSQL build the same 2 MB again. Without the cache, built each time."""
    key = f"camera-layer:{etag.strip(chr(34))}"
    try:
        text = cache.get(key)
    except Exception:  # Redis away: the map still works, from the database
        log.warning("camera layer cache unavailable", exc_info=True)
        return camera_layer_geojson(bbox=bbox)
    if text is None:
        text = camera_layer_geojson(bbox=bbox)
        try:
            cache.set(key, text, LAYER_CACHE_SECONDS)
        except Exception:
            log.warning("camera layer cache unavailable", exc_info=True)
    return text
