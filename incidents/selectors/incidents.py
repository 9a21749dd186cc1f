"""Who may see which incident, who hears of it, the incidents listed (with their filters), and who
opens the console and the portal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from django.contrib.gis.geos import Polygon
from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from cameras.api import parse_bbox
from config.errors import DomainError
from incidents.choices import IncidentStatus
from incidents.models import Incident
from partners.choices import AgencyKind, Role
from partners.models import Member
from realtime import audiences
from realtime.audiences import Audience


def incidents_visible_to(member: Member | None) -> QuerySet[Incident]:
    """Deny by default: the centre sees every incident; a partner agent or a field unit
    those shared with its agency; everyone else none."""
    # The commune's boundary is never shown with an incident: do not load it.
    qs = Incident.objects.select_related("nature", "commune").defer("commune__boundary")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        return qs.filter(shared_with=member.agency)
    return qs.none()


def incident_audience(incident: Incident, *, camera_data: bool = False) -> Audience:
    """The centre, and the members of every agency the incident is shared with.

    ``camera_data``: the event names cameras; the Croix-Rouge, which never gets
    video nor camera identifiers, is left out.
    """
    agencies = incident.shared_with.all()
    if camera_data:
        agencies = agencies.exclude(kind=AgencyKind.CRF)
    return audiences.agencies(agencies.values_list("code", flat=True))


# The filters of ``GET /api/incidents/`` (the API declares them in its OpenAPI schema).
INCIDENT_FILTERS: tuple[tuple[str, str], ...] = (
    ("status", "Comma list of open, engaged, closed, cancelled."),
    ("nature", "Nature code (`/api/natures/`)."),
    ("commune", "INSEE code of the commune."),
    ("bbox", "min_lon,min_lat,max_lon,max_lat (WGS 84)."),
    ("since", "ISO 8601 date-time: created at or after."),
    ("until", "ISO 8601 date-time: created before."),
    ("q", "Text in the reference, description or address (first 200 characters)."),
)
INCIDENT_LIMIT = ("limit", "At most this many (100; 1 to 500).")


def _time(raw: str | None, field: str) -> dt.datetime | None:
    if raw is None:
        return None
    try:  # well formed, yet not a date (February 30th): ValueError
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise DomainError(gettext("A date and time, e.g. 2026-11-26T21:00:00+01:00."), field=field)
    return value


def statuses_parsed(raw: str | None, known: list[str]) -> list[str] | None:
    """A comma list of statuses among ``known`` (None when not given); unknown ones are refused."""
    if not raw:
        return None
    statuses = raw.split(",")
    unknown = set(statuses) - set(known)
    if unknown:
        raise DomainError(gettext("Unknown status: %(status)s.")
                          % {"status": ", ".join(sorted(unknown))}, field="status")
    return statuses


def incident_list(*, member: Member | None, filters: Mapping[str, str]) -> QuerySet[Incident]:
    """The incidents ``member`` may see that match ``filters`` (the query string): ``status``
    (comma list), ``nature``, ``commune`` (INSEE), ``bbox``, ``since``/``until`` (ISO 8601),
    ``q`` (reference, description, address); newest first, at most ``limit`` (100, up to 500).
    A malformed filter is refused (400) naming it."""
    qs = incidents_visible_to(member).prefetch_related("shared_with")
    statuses = statuses_parsed(filters.get("status"), IncidentStatus.values)
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    if filters.get("nature"):
        qs = qs.filter(nature__code=filters["nature"])
    if filters.get("commune"):
        qs = qs.filter(commune__insee_code=filters["commune"])
    bbox = parse_bbox(filters.get("bbox"))
    if bbox:
        qs = qs.filter(location__within=Polygon.from_bbox(bbox))
    since, until = _time(filters.get("since"), "since"), _time(filters.get("until"), "until")
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if filters.get("q"):
        q = filters["q"][:200]
        qs = qs.filter(Q(reference__icontains=q) | Q(description__icontains=q) | Q(address__icontains=q))
    try:
        limit = min(max(int(filters.get("limit", 100)), 1), 500)
    except ValueError as exc:
        raise DomainError(gettext("A whole number."), field="limit") from exc
    return qs.order_by("-created_at", "-id")[:limit]


# Who may open each page of the incidents app: the views refuse the others, and the hub's
# menu (config/navigation.py) shows a page to those only (the tablet's rule is in
# ``selectors.units``, the Croix-Rouge desk's in ``selectors.alerts``).

# Members who read the incidents shared with their agency on the portal.
PORTAL_ROLES = frozenset({Role.PARTNER_AGENT, Role.FIELD_UNIT})


def may_open_console(member: Member | None) -> bool:
    """``/console/``: the centre's operators, supervisors and administrators."""
    return member is not None and member.is_centre_staff


def may_open_portal(member: Member | None) -> bool:
    """``/portail/incidents/``: partner agents and field units (the centre has the console)."""
    return member is not None and not member.is_centre_staff and member.role in PORTAL_ROLES

