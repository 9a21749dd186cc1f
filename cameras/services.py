"""Every write of the camera registry.

Geometry is derived here and nowhere else: a camera's field of view and its
coverage are recomputed in the same transaction as any change of position,
heading, angle, range or presets.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import GEOSException, GEOSGeometry, Point, Polygon
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.choices import CameraKind, CameraStatus, Purpose
from cameras.models import Authorisation, Camera, CameraRelocation, PrivacyMask, PtzPreset
from config.errors import DomainError
from geo.geometry import sector
from geo.selectors import in_service_area
from partners.choices import VIDEO_CAPABLE_KINDS, AgencyKind


class OutsideServiceArea(DomainError):
    """The point is outside the communes the centre serves."""

    code = "outside_service_area"


class NotNomadic(DomainError):
    """Only nomadic cameras can be moved."""

    code = "not_nomadic"


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DomainError(_("Must be a finite number."), field=field)
    return float(value)


def validate_heading(value: object, field: str = "heading") -> float:
    heading = _number(value, field)
    if not 0 <= heading < 360:
        raise DomainError(_("A heading is from 0 to less than 360 degrees."), field=field)
    return heading


def validate_angle(value: object, field: str = "angle") -> float:
    angle = _number(value, field)
    if not 0 < angle <= 360:
        raise DomainError(_("An angle is more than 0 and at most 360 degrees."), field=field)
    return angle


def validate_range(value: object, field: str = "range_m") -> float:
    range_m = _number(value, field)
    if range_m <= 0:
        raise DomainError(_("A range is more than 0 metres."), field=field)
    if range_m > 5000:
        raise DomainError(_("Beyond 5 km, a camera sees nothing useful."), field=field)
    return range_m


def validate_location(point: Point, field: str = "location") -> Point:
    if not in_service_area(point):
        raise OutsideServiceArea(_("This point is outside the service area."), field=field)
    return point


def validate_mask_polygon(points: object, field: str = "polygon") -> list[list[float]]:
    """A mask polygon: at least 3 ``[x, y]`` points in 0..1, simple (not self-intersecting),
    with an area. The ring may be given closed or open."""
    if not isinstance(points, list) or len(points) < 3:
        raise DomainError(_("A polygon needs at least 3 [x, y] points."), field=field)
    if len(points) > 200:
        raise DomainError(_("A polygon has at most 200 points."), field=field)
    ring: list[list[float]] = []
    for index, point in enumerate(points):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise DomainError(_("Point %(index)d is not an [x, y] pair.") % {"index": index}, field=field)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                   for v in point):
            raise DomainError(_("Point %(index)d is not two finite numbers.") % {"index": index}, field=field)
        x, y = (float(v) for v in point)
        if not (0 <= x <= 1 and 0 <= y <= 1):
            raise DomainError(_("Point %(index)d (%(x)s, %(y)s) is outside the image (0 to 1).")
                              % {"index": index, "x": x, "y": y}, field=field)
        ring.append([x, y])
    if ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(ring) < 3:
        raise DomainError(_("A polygon needs at least 3 distinct points."), field=field)
    try:
        polygon = Polygon([*map(tuple, ring), tuple(ring[0])])
    except (GEOSException, ValueError, TypeError) as exc:
        raise DomainError(_("These points do not make a polygon."), field=field) from exc
    if not polygon.valid:
        raise DomainError(_("This polygon crosses itself or is not closed (%(reason)s).")
                          % {"reason": polygon.valid_reason}, field=field)
    if polygon.area <= 0:
        raise DomainError(_("The polygon has no area."), field=field)
    return ring


def camera_geometry(*, camera: Camera, presets: Sequence[PtzPreset] = ()) -> tuple[Polygon, Polygon]:
    """The field of view and the coverage of ``camera`` (not saved)."""
    fov = sector(camera.location, heading=camera.heading, angle=camera.angle, range_m=camera.range_m)
    if camera.kind != CameraKind.PTZ:
        return fov, fov
    coverage: GEOSGeometry = sector(camera.location, heading=0, angle=360, range_m=camera.range_m)
    for preset in presets:
        coverage = coverage.union(preset.fov)
    if coverage.geom_type != "Polygon":
        # A preset longer than the pan reach still touches it at the camera:
        # the union is connected; keep its envelope of parts as one polygon.
        coverage = coverage.convex_hull
    coverage.srid = 4326
    return fov, cast(Polygon, coverage)


def camera_geometry_refresh(*, camera: Camera, save: bool = True) -> Camera:
    """Recompute ``fov`` and ``coverage`` from the camera's parameters and presets."""
    presets = list(camera.presets.all()) if camera.pk else []
    for preset in presets:
        preset.fov = sector(camera.location, heading=preset.heading, angle=preset.angle,
                            range_m=preset.range_m)
        if save:
            preset.save(update_fields=["fov"])
    camera.fov, camera.coverage = camera_geometry(camera=camera, presets=presets)
    if save:
        camera.save()
    return camera


@transaction.atomic
def camera_update(*, camera: Camera, heading: object = None, angle: object = None,
                  range_m: object = None, status: str | None = None, name: str | None = None,
                  stream_uri: str | None = None, retention_days: object = None) -> Camera:
    """Change a camera's parameters; its geometry follows. Nothing is saved on bad input."""
    camera = Camera.objects.select_for_update(no_key=True).get(pk=camera.pk)
    if heading is not None:
        camera.heading = validate_heading(heading)
    if angle is not None:
        camera.angle = validate_angle(angle)
    if range_m is not None:
        camera.range_m = validate_range(range_m)
    if status is not None:
        if status not in CameraStatus.values:
            raise DomainError(_("Unknown status: one of %(statuses)s.")
                              % {"statuses": ", ".join(CameraStatus.values)},
                              field="status")
        camera.status = status
    if name is not None:
        if not name.strip():
            raise DomainError(_("A camera needs a name."), field="name")
        camera.name = name.strip()
    if stream_uri is not None:
        camera.stream_uri = validate_stream_uri(stream_uri)
    if retention_days is not None:
        camera.retention_days = validate_retention(camera=camera, days=retention_days)
    return camera_geometry_refresh(camera=camera)


# ``synthetic:`` optionally followed by a size and a frame rate (streaming.sources.synthetic_spec).
_SYNTHETIC = re.compile(r"synthetic:(?:\d{1,4}x\d{1,4})?(?:@\d{1,3})?")


def validate_stream_uri(value: str) -> str:
    """A camera's stream is ``rtsp://`` or ``rtsps://`` with a host, or the ``synthetic:`` test
    pattern (empty: no stream). Anything else (``file://``, ``http://``, a path) would have the
    video pipeline open it with FFmpeg, which reads local files and many protocols."""
    if value == "":
        return value
    if len(value) > 500 or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise DomainError(_("A stream address has no spaces nor control characters."), field="stream_uri")
    if value.lower().startswith("synthetic:"):
        if _SYNTHETIC.fullmatch(value.lower()):
            return value
        raise DomainError(_("A test pattern is synthetic: or synthetic:640x360@15."), field="stream_uri")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in {"rtsp", "rtsps"} or not parts.hostname:
        raise DomainError(_("A camera stream is an rtsp:// or rtsps:// address (or synthetic:)."),
                          field="stream_uri")
    return value


def validate_retention(*, camera: Camera, days: object) -> int:
    """Retention is at most 30 days (CSI, L252-5) and at most what the authorisation allows."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise DomainError(_("Retention is a whole number of days, at least 1."), field="retention_days")
    limit = min([settings.HUB_MAX_RETENTION_DAYS,
                 *camera.authorisations.values_list("retention_days", flat=True)])
    if days > limit:
        raise DomainError(_("Retention cannot exceed %(limit)d days for this camera.") % {"limit": limit},
                          field="retention_days")
    return days


@transaction.atomic
def camera_relocate(*, camera: Camera, location: Point, heading: object, reason: str,
                    moved_by: User | None = None) -> Camera:
    """Move a nomadic camera; the move is kept in its history and its coverage follows."""
    camera = Camera.objects.select_for_update(no_key=True).get(pk=camera.pk)
    if camera.kind != CameraKind.NOMADIC:
        raise NotNomadic(_("Only nomadic cameras can be moved."), field="camera")
    validate_location(location)
    new_heading = validate_heading(heading)
    if not reason or not reason.strip():
        raise DomainError(_("Say why the camera moves."), field="reason")
    CameraRelocation.objects.create(
        camera=camera, from_location=camera.location, to_location=location,
        from_heading=camera.heading, to_heading=new_heading, moved_by=moved_by,
        reason=reason.strip()[:500])
    camera.location, camera.heading = location, new_heading
    return camera_geometry_refresh(camera=camera)


@transaction.atomic
def preset_set(*, camera: Camera, number: int, name: str, heading: object, angle: object,
               range_m: object) -> PtzPreset:
    """Create or change a PTZ preset; the camera's coverage follows."""
    if camera.kind != CameraKind.PTZ:
        raise DomainError(_("Only PTZ cameras have presets."), field="camera")
    heading, angle, range_m = (validate_heading(heading), validate_angle(angle),
                               validate_range(range_m))
    preset, _created = PtzPreset.objects.update_or_create(
        camera=camera, number=number,
        defaults={"name": name, "heading": heading, "angle": angle, "range_m": range_m,
                  "fov": sector(camera.location, heading=heading, angle=angle, range_m=range_m)},
    )
    camera_geometry_refresh(camera=Camera.objects.get(pk=camera.pk))
    preset.refresh_from_db()
    return preset


@transaction.atomic
def mask_create(*, camera: Camera, polygon: object, label: str = "", liftable: bool = False,
                preset: PtzPreset | None = None,
                created_by: User | None = None) -> PrivacyMask:
    """Hide a private area of a camera's picture (for one preset, or for the whole camera)."""
    ring = validate_mask_polygon(polygon)
    if preset is not None and preset.camera_id != camera.pk:
        raise DomainError(_("This preset belongs to another camera."), field="preset")
    mask = PrivacyMask.objects.create(camera=camera, preset=preset, polygon=ring,
                                      label=label.strip()[:200], liftable=liftable,
                                      created_by=created_by)
    Camera.objects.filter(pk=camera.pk).update(updated_at=mask.updated_at)
    return mask


@transaction.atomic
def mask_delete(*, mask: PrivacyMask) -> None:
    camera_id = mask.camera_id
    mask.delete()
    Camera.objects.filter(pk=camera_id).update(updated_at=timezone.now())


@transaction.atomic
def authorisation_create(*, order_number: str, valid_from: dt.date, valid_until: dt.date,
                         purposes: Sequence[str], recipients: Sequence[str],
                         cameras: Sequence[Camera], retention_days: int = 14,
                         issued_by: str = "Préfecture du Val-d'Oise") -> Authorisation:
    """Record a prefectoral authorisation for some cameras."""
    if valid_until < valid_from:
        raise DomainError(_("The authorisation ends before it starts."), field="valid_until")
    if not 1 <= retention_days <= settings.HUB_MAX_RETENTION_DAYS:
        raise DomainError(_("Retention is between 1 and %(max)d days.")
                          % {"max": settings.HUB_MAX_RETENTION_DAYS},
                          field="retention_days")
    unknown = set(purposes) - set(Purpose.values)
    if not purposes or unknown:
        raise DomainError(_("Unknown or missing purposes: %(purposes)s.")
                          % {"purposes": ", ".join(sorted(unknown))},
                          field="purposes")
    bad = [r for r in recipients if r not in VIDEO_CAPABLE_KINDS or r == AgencyKind.CSU]
    if bad:
        raise DomainError(_("These services cannot receive images: %(services)s.")
                          % {"services": ", ".join(bad)},
                          field="recipients")
    authorisation = Authorisation.objects.create(
        order_number=order_number, valid_from=valid_from, valid_until=valid_until,
        purposes=list(purposes), recipients=list(recipients), retention_days=retention_days,
        issued_by=issued_by)
    authorisation.cameras.set(cameras)
    return authorisation
