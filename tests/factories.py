"""Small builders for test data. Keyword-only, sensible defaults, real services where they exist."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.choices import CameraKind, Purpose
from cameras.models import Authorisation, Camera, Site
from cameras.services import authorisation_create, camera_geometry_refresh, preset_set
from geo.geometry import destination
from geo.models import Commune
from partners.choices import AgencyKind
from partners.models import Agency, Member
from partners.services import api_token_issue, member_create

_seq = itertools.count(1)

# Montmorency's approximate centre.
CENTRE = Point(2.3222, 48.9883, srid=4326)


def offset(point: Point, *, bearing: float, metres: float) -> Point:
    """The point ``metres`` away from ``point`` along ``bearing`` (degrees from north)."""
    lon, lat = destination(point.x, point.y, bearing, metres)
    return Point(lon, lat, srid=4326)


def make_commune(*, insee_code: str = "95428", name: str = "Montmorency",
                 centre: Point = CENTRE, half_side_m: float = 1000) -> Commune:
    corners = [offset(offset(centre, bearing=b1, metres=half_side_m), bearing=b2, metres=half_side_m)
               for b1, b2 in ((0, 270), (0, 90), (180, 90), (180, 270))]
    ring = [(p.x, p.y) for p in corners] + [(corners[0].x, corners[0].y)]
    return Commune.objects.create(insee_code=insee_code, name=name, postcode="95160",
                                  population=21763,
                                  boundary=MultiPolygon(Polygon(ring, srid=4326), srid=4326))


def make_agency(*, kind: str = AgencyKind.CSU, code: str | None = None,
                commune_insee: str = "") -> Agency:
    code = code or f"{kind.lower()}-{next(_seq)}"
    if kind == AgencyKind.PM and not commune_insee:
        commune_insee = "95428"
    agency, _ = Agency.objects.get_or_create(
        code=code, defaults={"kind": kind, "name": f"Agency {code}", "commune_insee": commune_insee})
    return agency


def make_member(*, role: str = "operator", agency: Agency | None = None,
                username: str | None = None, password: str = "correct horse battery", **extra) -> Member:
    if agency is None:
        agency = make_agency(kind=AgencyKind.CSU, code="csu") if role in {
            "operator", "supervisor", "admin", "auditor"} else make_agency(kind=AgencyKind.PN)
    return member_create(username=username or f"{role}-{next(_seq)}", password=password,
                         agency_code=agency.code, role=role, **extra)


def make_site(*, commune: Commune, location: Point = CENTRE, code: str | None = None) -> Site:
    code = code or f"site-{next(_seq)}"
    return Site.objects.create(code=code, name=f"Site {code}", commune=commune, location=location)


def make_camera(*, site: Site | None = None, commune: Commune | None = None,
                location: Point | None = None, kind: str = CameraKind.FIXED, heading: float = 0,
                angle: float = 90, range_m: float = 100, code: str | None = None,
                presets: list[dict] | None = None) -> Camera:
    if site is None:
        site = make_site(commune=commune or Commune.objects.first(), location=location or CENTRE)
    camera = Camera(code=code or f"cam-{next(_seq)}", name="Test camera", site=site, kind=kind,
                    stream_uri="synthetic:", location=location or site.location, heading=heading,
                    angle=angle, range_m=range_m)
    camera_geometry_refresh(camera=camera, save=False)
    camera.save()
    for preset in presets or []:
        preset_set(camera=camera, **preset)
    camera.refresh_from_db()
    return camera


def make_authorisation(*, cameras: list[Camera], valid_from: dt.date | None = None,
                       valid_until: dt.date | None = None, order_number: str | None = None,
                       recipients: list[str] | None = None) -> Authorisation:
    """A prefectoral authorisation for ``cameras``, through the real service (in force a year
    around today unless told otherwise)."""
    today = timezone.localdate()
    return authorisation_create(
        order_number=order_number or f"AP-TEST-{next(_seq)}",
        valid_from=valid_from or today - dt.timedelta(days=365),
        valid_until=valid_until or today + dt.timedelta(days=365), purposes=[Purpose.PUBLIC_SAFETY],
        recipients=recipients or [AgencyKind.PN, AgencyKind.PM], cameras=cameras)


class TokenClient(APIClient):
    """An API client that speaks JSON and can authenticate as a member with a bearer token."""

    # Bodies given as Python data are sent as JSON (nested lists do not survive multipart).
    default_format = "json"

    def as_member(self, member: Member) -> TokenClient:
        raw, _ = api_token_issue(user=member.user)
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return self

    def generic(self, method, path, data="", content_type="application/json", **kwargs):
        return super().generic(method, path, data, content_type, **kwargs)


def make_unit(*, agency: Agency | None = None, callsign: str | None = None,
              member: Member | bool = True):
    """A field unit through the real service; ``member=True`` gives it a field-unit member
    of its agency who drives its tablet (``unit.member``)."""
    from incidents.services.units import unit_create

    agency = agency or make_agency(kind=AgencyKind.PN)
    if member is True:
        member = make_member(role="field_unit", agency=agency)
    return unit_create(by=None, callsign=callsign or f"U{next(_seq)}", agency=agency, member=member or None)
