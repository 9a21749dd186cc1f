"""Pages of the incidents app: the operator console and the partner portal's incidents.

The pages render the frame; their data comes from the REST API and ``/ws/events/``
(static/js/console.js, static/js/portal.js), so a page, a program and a tablet read
the same answers. What a page needs that the API does not serve (labels, the list of
partner agencies, the allowed transitions) is rendered into it with ``json_script``.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from cameras.choices import CameraKind, CameraStatus
from geo.basemap import basemap_sources
from incidents.alarms import alarms_in_force
from incidents.choices import (
    AlertCondition,
    AlertOutcome,
    AlertStatus,
    IncidentStatus,
    JournalKind,
    Priority,
    RadioPriority,
    UnitStatus,
)
from incidents.selectors.alerts import may_open_alerts
from incidents.selectors.incidents import may_open_console, may_open_portal
from incidents.selectors.units import unit_of
from incidents.services.incidents import TRANSITIONS
from partners.choices import VIDEO_CAPABLE_KINDS, AgencyKind
from partners.models import Agency
from partners.selectors import member_of

# Statuses listed under "Incidents en cours".
LIVE_STATUSES = [str(status) for status in (IncidentStatus.OPEN, IncidentStatus.ENGAGED)]

def _labels() -> dict[str, dict[str, str]]:
    """French labels of the codes the API returns, for the pages' scripts."""
    return {
        "priority": {str(value): str(label) for value, label in Priority.choices},
        "status": {value: str(label) for value, label in IncidentStatus.choices},
        "journal": {value: str(label) for value, label in JournalKind.choices},
        # Short forms: they sit in narrow table cells.
        "camera_kind": {CameraKind.PTZ: _("PTZ"), CameraKind.PANORAMIC: _("Panoramique"),
                        CameraKind.FIXED: _("Fixe"), CameraKind.NOMADIC: _("Nomade")},
        "camera_status": {value: str(label) for value, label in CameraStatus.choices},
    }


def _field_labels() -> dict[str, dict[str, str]]:
    """French labels of the radio, unit and Croix-Rouge alert codes, for static/js/field-ui.js
    (the console, the tablet and the Croix-Rouge desk): the browser translates no code itself."""
    return {
        "radio_priority": {value: str(label) for value, label in RadioPriority.choices},
        "unit_status": {value: str(label) for value, label in UnitStatus.choices},
        "alert_status": {value: str(label) for value, label in AlertStatus.choices},
        "alert_condition": {value: str(label) for value, label in AlertCondition.choices},
        "alert_outcome": {value: str(label) for value, label in AlertOutcome.choices},
    }


def _alarm_texts() -> dict[str, str]:
    """The French sentences of the technical alarm strip (static/js/tech-alarms.js fills in the
    ``{name}`` fields)."""
    return {
        "unrecorded_one": _("Recording interrupted: 1 camera without a recorder ({cameras})"),
        "unrecorded_many": _("Recording interrupted: {count} cameras without a recorder ({cameras})"),
        "storage": _("Recordings' storage unavailable since {time}"),
        "storage_pending": _("Recordings' storage unavailable since {time} — {pending} segments waiting"),
        "node_lost_record": _("Recording node lost: {name}"),
        "node_lost_video": _("Video node lost: {name}"),
    }


def _agencies() -> list[dict[str, object]]:
    """The partner agencies an incident may be shared with (never the centre itself)."""
    return [
        {"code": agency.code, "name": agency.name, "kind": agency.kind,
         "kind_label": str(AgencyKind(agency.kind).label),
         "video": agency.kind in VIDEO_CAPABLE_KINDS}
        for agency in Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "name")
    ]


@login_required
@ensure_csrf_cookie  # console.js reads the csrftoken cookie to POST to the API
def console(request: HttpRequest) -> HttpResponse:
    """``/console/`` — the operator console (centre staff only): the live map, the incidents
    in progress, creation by a click on the map, the incident panel."""
    member = member_of(request.user)
    if not may_open_console(member):
        raise PermissionDenied(_("The console is for the centre's operators and supervisors."))
    return render(request, "incidents/console.html", {
        "member": member,
        "live_statuses": ",".join(LIVE_STATUSES),
        "labels": _labels(),
        "field_labels": _field_labels(),
        "agencies": _agencies(),
        # The centre's technical alarms in force (recording, storage, nodes): live updates by events.
        "tech_alarms": alarms_in_force(),
        "alarm_texts": _alarm_texts(),
        "transitions": {str(status): sorted(str(to) for to in targets)
                        for status, targets in TRANSITIONS.items()},
        "priorities": Priority.choices,
        "default_priority": Priority.NORMAL,
        "basemap": basemap_sources(),
        # The ICE servers of the PTZ panel's live view (what streaming's pages give theirs).
        "ice_servers": [{key: value for key, value in server.items()
                         if key in {"urls", "username", "credential"}}
                        for server in settings.HUB_WEBRTC_ICE_SERVERS],
    })


@login_required
@ensure_csrf_cookie  # portal.js posts journal notes
def portal_incidents(request: HttpRequest) -> HttpResponse:
    """``/portail/incidents/`` — a partner agency's incidents: those the centre shares with it,
    live; read-only except for the notes its members add to the journal.

    What each member may see is decided by the API (``incidents_visible_to``): the page
    only asks. The centre's staff have the console instead.
    """
    member = member_of(request.user)
    if member is not None and member.is_centre_staff:
        return redirect("console")
    if not may_open_portal(member):
        raise PermissionDenied(_("The portal is for the partner services' agents."))
    return render(request, "incidents/portal.html", {
        "member": member,
        "live_statuses": ",".join(LIVE_STATUSES),
        "labels": _labels(),
        "agency_names": {agency.code: agency.name for agency in Agency.objects.all()},
        "basemap": basemap_sources(),
    })


@login_required
@ensure_csrf_cookie  # tablet.js posts statuses, positions, acknowledgements
def tablet(request: HttpRequest) -> HttpResponse:
    """``/terrain/`` — a field unit's tablet: its incidents, its nets and messages (acknowledge),
    its status, its position (browser geolocation), alerts. Writes wait in the browser while
    offline and go with an ``Idempotency-Key`` when the network is back."""
    member = member_of(request.user)
    unit = unit_of(member)  # may_open_tablet
    if unit is None or member is None:
        raise PermissionDenied(
            _("The tablet is for field units (no unit is assigned to you)."))
    return render(request, "incidents/tablet.html", {
        "member": member, "unit": unit, "is_crf": member.agency.kind == AgencyKind.CRF,
        "live_statuses": ",".join(LIVE_STATUSES),
        "field_labels": _field_labels(),
        "position_seconds": 15,
    })


@login_required
@ensure_csrf_cookie  # alerts.js posts acknowledgements and the rest
def portal_alerts(request: HttpRequest) -> HttpResponse:
    """``/portail/alertes/`` — the Croix-Rouge desk: the alerts the centre raises, live; acknowledge,
    send a unit, close. Nothing about cameras is ever on it."""
    member = member_of(request.user)
    if member is not None and member.is_centre_staff:
        return redirect("console")
    if not may_open_alerts(member):
        raise PermissionDenied(_("The alerts are for the Croix-Rouge."))
    return render(request, "incidents/alerts.html", {"member": member, "field_labels": _field_labels()})
