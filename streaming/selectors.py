"""Who may watch which camera: the one rule that REST, pages, the event stream and the
video endpoints all call (docs/architecture.md)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from cameras.models import Authorisation, Camera, PrivacyMask
from cameras.selectors import valid_authorisations
from incidents.choices import IncidentStatus
from incidents.models import Incident
from partners.choices import AgencyKind, Role
from partners.models import Member
from realtime.events import local_iso
from streaming.models import Grant, GrantEnd, MaskLift, Viewing, Wall

# A grant lets images through only while its incident is in progress.
LIVE_INCIDENT_STATUSES = (IncidentStatus.OPEN, IncidentStatus.ENGAGED)


def _shared_with_grant_agency() -> Exists:
    return Exists(Incident.shared_with.through.objects.filter(
        incident_id=OuterRef("incident_id"), agency_id=OuterRef("agency_id")))


def active_grants(*, now=None) -> QuerySet[Grant]:
    """Grants that let images through now: not revoked nor ended, not past their expiry, their
    incident open or engaged and still shared with the agency. The one rule the watchdog, WHEP
    and the pages apply: closing the incident or ending the sharing cuts the images at once."""
    now = now or timezone.now()
    return Grant.objects.filter(_shared_with_grant_agency(), revoked_at__isnull=True, ended_at__isnull=True,
                                expires_at__gt=now, incident__status__in=LIVE_INCIDENT_STATUSES)


def with_sharing(qs: QuerySet[Grant]) -> QuerySet[Grant]:
    """Grants annotated with ``shared`` (their incident is still shared with their agency), so that
    ``grant_end`` needs no query per grant."""
    return qs.annotate(shared=_shared_with_grant_agency())


def grant_end(grant: Grant, *, now=None) -> tuple[str, dt.datetime] | None:
    """Why and since when ``grant`` lets no images through, or None while it is active.

    Mirrors ``active_grants`` for one grant; the end is the stored one once the hub announced it
    (``grant_revoke``, ``grants_end_sweep``), otherwise derived from the grant and its incident."""
    now = now or timezone.now()
    if grant.revoked_at is not None:
        return GrantEnd.REVOKED, grant.revoked_at
    if grant.ended_at is not None:
        return grant.end_reason or GrantEnd.EXPIRED, grant.ended_at
    if grant.expires_at <= now:
        return GrantEnd.EXPIRED, grant.expires_at
    if grant.incident.status not in LIVE_INCIDENT_STATUSES:
        return GrantEnd.INCIDENT_CLOSED, min(grant.incident.updated_at, now)
    shared = getattr(grant, "shared", None)
    if shared is None:
        shared = grant.incident.shared_with.filter(pk=grant.agency_id).exists()
    if not shared:
        return GrantEnd.UNSHARED, now
    return None


def grant_viewers(grant_ids) -> dict[int, list[dict]]:
    """Who watches each grant now (its open viewings), first come first."""
    viewers: dict[int, list[dict]] = defaultdict(list)
    rows = (Viewing.objects.filter(grant_id__in=list(grant_ids), ended_at__isnull=True)
            .select_related("viewer").order_by("started_at", "id"))
    for viewing in rows:
        user = viewing.viewer
        assert viewing.grant_id is not None  # filtered on grant_id__in
        viewers[viewing.grant_id].append({
            "username": user.get_username(), "name": user.get_full_name() or user.get_username(),
            "since": local_iso(viewing.started_at)})
    return viewers


def viewing_ended(session: str, user_id: int) -> bool:
    """``user_id`` watched through WHEP session ``session``, and that viewing has ended (its end
    journalled): a hang-up that comes after it is answered as done."""
    return Viewing.objects.filter(session=session, viewer_id=user_id, ended_at__isnull=False).exists()


def authorisation_end(valid_until: dt.date) -> dt.datetime:
    """The instant an authorisation valid until ``valid_until`` (included) stops: midnight after it,
    in the centre's time zone."""
    return timezone.make_aware(dt.datetime.combine(valid_until + dt.timedelta(days=1), dt.time.min))


def authorisation_ends(camera_ids, *, now=None) -> dict[int, dict[str, dt.datetime]]:
    """For each camera, per service kind, the end of the authorisation in force that lets that
    service receive its images the longest."""
    now = now or timezone.now()
    ends: dict[int, dict[str, dt.datetime]] = defaultdict(dict)
    rows = (Authorisation.cameras.through.objects
            .filter(camera_id__in=list(camera_ids),
                    authorisation__in=valid_authorisations(timezone.localdate(now)))
            .values_list("camera_id", "authorisation__recipients", "authorisation__valid_until"))
    for camera_id, recipients, valid_until in rows:
        end = authorisation_end(valid_until)
        ends[camera_id].setdefault("", end)
        ends[camera_id][""] = max(ends[camera_id][""], end)
        for kind in recipients:
            ends[camera_id][kind] = max(ends[camera_id].get(kind, end), end)
    return ends


# Which of some cameras are recorded: the recordings app says (it registers this when it starts;
# it imports this app, never the reverse). None registered: no camera is.
_recorded_cameras: Callable[[Iterable[int]], set[int]] = lambda camera_ids: set()  # noqa: E731


def recorded_cameras_register(recorded: Callable[[Iterable[int]], set[int]]) -> None:
    global _recorded_cameras
    _recorded_cameras = recorded


def camera_video_facts(camera_ids, *, now=None) -> list[dict]:
    """What the console needs to act on cameras' images: whether a prefectoral authorisation is in
    force and until when for each service, and whether the camera is recorded (a recording plan, or
    recordings kept: a capture can be taken)."""
    now = now or timezone.now()
    ids = list(dict.fromkeys(camera_ids))
    cameras = Camera.objects.filter(pk__in=ids)
    recorded = _recorded_cameras(ids)
    ends = authorisation_ends(ids, now=now)
    facts = []
    for camera in sorted(cameras, key=lambda c: ids.index(c.pk)):
        camera_ends = ends.get(camera.pk, {})
        facts.append({
            "id": camera.pk, "code": camera.code, "name": camera.name, "kind": camera.kind,
            "status": camera.status, "authorised": "" in camera_ends,
            "authorisation_ends": {kind: local_iso(end)
                                   for kind, end in sorted(camera_ends.items()) if kind},
            "recorded": camera.pk in recorded,
        })
    return facts


def habilitation_valid(member: Member, day=None) -> bool:
    """A named habilitation, in force today."""
    day = day or timezone.localdate()
    return bool(member.habilitation_reference) and \
        (member.habilitation_valid_from is None or member.habilitation_valid_from <= day) and \
        (member.habilitation_valid_until is None or day <= member.habilitation_valid_until)


def camera_view_denial(member: Member | None, camera: Camera, *, now=None) -> str | None:
    """Why ``member`` may not watch ``camera`` now, or None when they may.

    Deny by default. The Croix-Rouge never; no camera without a prefectoral
    authorisation in force; the centre's operators and supervisors otherwise may;
    a partner agent only with a habilitation in force, for a camera whose
    authorisation lists its service, under an active grant to its agency.
    """
    now = now or timezone.now()
    day = timezone.localdate(now)
    if member is None or not member.user.is_active:
        return "not_a_member"
    if member.agency.kind == AgencyKind.CRF:
        return "crf_never_receives_video"
    authorisations = valid_authorisations(day).filter(cameras=camera)
    if not authorisations.exists():
        return "no_valid_authorisation"
    if member.is_centre_staff:
        return None
    if member.role != Role.PARTNER_AGENT:
        return "role_cannot_view_video"
    if not habilitation_valid(member, day):
        return "no_valid_habilitation"
    if not authorisations.filter(recipients__contains=[member.agency.kind]).exists():
        return "service_not_listed_in_authorisation"
    if not active_grants(now=now).filter(camera=camera, agency=member.agency).exists():
        return "no_active_grant"
    return None


def denial_message(reason: str) -> str:
    """``camera_view_denial``'s reason, for people."""
    messages = {
        "not_a_member": gettext("this account may not receive images"),
        "crf_never_receives_video": gettext("the Croix-Rouge never receives video images"),
        "no_valid_authorisation": gettext("no prefectoral authorisation in force covers this camera"),
        "role_cannot_view_video": gettext("this role may not receive images"),
        "no_valid_habilitation": gettext("no habilitation in force"),
        "service_not_listed_in_authorisation": gettext(
            "the camera's authorisation does not list this service among its recipients"),
        "no_active_grant": gettext("no grant of this camera to this service in progress"),
    }
    return messages.get(reason, reason)


def refusal_text(reason: str) -> str:
    """``camera_view_denial``'s reason, told to the viewer whose player was refused."""
    texts = {
        "not_a_member": gettext("Your account may not receive images."),
        "crf_never_receives_video": gettext(
            "The Croix-Rouge never receives video images (article L252-3 of the Code de la sécurité "
            "intérieure)."),
        "no_valid_authorisation": gettext("No prefectoral authorisation in force covers this camera."),
        "role_cannot_view_video": gettext("Your role may not receive images."),
        "no_valid_habilitation": gettext("Your habilitation is not in force."),
        "service_not_listed_in_authorisation": gettext(
            "The prefectoral authorisation of this camera does not list your service among its recipients."),
        "no_active_grant": gettext("No grant of this camera to your service is in progress."),
    }
    return texts.get(reason, reason)


def video_refusal(member: Member | None, camera: Camera | None, *, now=None) -> str | None:
    """What the video endpoint tells ``member`` about a camera id (``camera`` None: no such camera).

    Camera ids are sequential, so outside the centre the answer must not depend on the camera
    unless the member's agency holds a grant on it: the reasons that are the member's own
    come first (``not_a_member``, ``crf_never_receives_video``, ``role_cannot_view_video``,
    ``no_valid_habilitation``), then ``no_active_grant`` for any camera, existing or not,
    without an active grant to the member's agency; only a granted camera gets
    :func:`camera_view_denial`'s reason. The centre, which reads the registry, gets
    :func:`camera_view_denial` itself (the caller answers 404 for a missing camera).
    """
    now = now or timezone.now()
    if member is None or not member.user.is_active:
        return "not_a_member"
    if member.is_centre_staff:
        return camera_view_denial(member, camera, now=now) if camera is not None else None
    if member.agency.kind == AgencyKind.CRF:
        return "crf_never_receives_video"
    if member.role != Role.PARTNER_AGENT:
        return "role_cannot_view_video"
    if not habilitation_valid(member, timezone.localdate(now)):
        return "no_valid_habilitation"
    if camera is None or not active_grants(now=now).filter(camera=camera, agency=member.agency).exists():
        return "no_active_grant"
    return camera_view_denial(member, camera, now=now)


def grants_visible_to(member: Member | None) -> QuerySet[Grant]:
    qs = with_sharing(Grant.objects.select_related("camera", "agency", "incident", "granted_by"))
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role == Role.PARTNER_AGENT and member.agency.kind != AgencyKind.CRF:
        return qs.filter(agency=member.agency)
    return qs.none()


def viewing_grant(member: Member, camera: Camera, *, now=None) -> Grant | None:
    """The grant under which a partner agent watches ``camera`` (the one that lasts longest);
    None for the centre's staff, who need none."""
    if member.is_centre_staff:
        return None
    return active_grants(now=now).filter(camera=camera, agency=member.agency).order_by("-expires_at").first()


def preset_cache_key(camera_id: int) -> str:
    return f"video:preset:{camera_id}"


def camera_current_preset(camera_id: int) -> int | None:
    """The PTZ preset the camera was last reported in (``streaming.services.camera_preset_report``),
    or None when it is off its presets (only the camera-wide masks apply)."""
    return cache.get(preset_cache_key(camera_id))


def off_presets_cache_key(camera_id: int) -> str:
    return f"video:ptz-off-presets:{camera_id}"


def camera_off_presets(camera_id: int) -> bool:
    """Whether a PTZ camera is being driven outside its presets (set by the PTZ app before a
    move, cleared once a preset is reached): its partners' picture is then blanked, since no
    one knows which private areas it shows."""
    return bool(cache.get(off_presets_cache_key(camera_id)))


Polygon = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class MasksInForce:
    """The privacy masks to paint on a camera's picture now.

    ``partners``: every mask of the camera and of its current preset, lifted or not
    (what leaves for a partner is always masked); ``centre``: the same without the
    masks a supervisor lifted for now.
    """

    partners: tuple[Polygon, ...]
    centre: tuple[Polygon, ...]
    # A PTZ camera moving outside its presets: partners get a blank picture, not a masked one.
    partners_blank: bool = False

    @property
    def any(self) -> bool:
        return bool(self.partners) or self.partners_blank


def masks_now(camera_id: int) -> MasksInForce:
    """The masks to paint on a camera's picture now: its preset's and the camera-wide ones,
    partners blanked while a PTZ camera is driven outside its presets."""
    return masks_in_force(camera_id, preset=camera_current_preset(camera_id),
                          partners_blank=camera_off_presets(camera_id))


def masks_in_force(camera_id: int, *, preset: int | None = None, now=None,
                   partners_blank: bool = False) -> MasksInForce:
    now = now or timezone.now()
    scope = Q(preset__isnull=True)
    if preset is not None:
        scope |= Q(preset__number=preset)
    masks = list(PrivacyMask.objects.filter(scope, camera_id=camera_id).order_by("id")
                 .values_list("id", "polygon"))
    lifted = set(MaskLift.objects.filter(mask__camera_id=camera_id, mask__liftable=True,
                                         ended_at__isnull=True, until__gt=now)
                 .values_list("mask_id", flat=True))

    def polygon(points) -> Polygon:
        return tuple((float(x), float(y)) for x, y in points)

    return MasksInForce(partners=tuple(polygon(p) for _, p in masks),
                        centre=tuple(polygon(p) for pk, p in masks if pk not in lifted),
                        partners_blank=partners_blank)


# --- The video wall.

DEFAULT_WALL = "principal"


def default_wall_label() -> str:
    return gettext("Main wall")


def wall_named(name: str) -> Wall | None:
    """The wall called ``name``; the centre's main wall exists before anyone sets a tile on it
    (it is then empty and not yet written)."""
    wall = Wall.objects.filter(name=name).first()
    if wall is None and name == DEFAULT_WALL:
        wall = Wall(name=DEFAULT_WALL, label=default_wall_label())
    return wall


def walls() -> list[Wall]:
    found = list(Wall.objects.all())
    if not any(wall.name == DEFAULT_WALL for wall in found):
        found.insert(0, Wall(name=DEFAULT_WALL, label=default_wall_label()))
    return found


def wall_layout(wall: Wall) -> dict:
    """A wall and what each of its tiles shows (empty tiles left out)."""
    tiles = []
    if wall.pk:
        for tile in wall.tiles.select_related("camera", "set_by").filter(position__lte=wall.size):
            tiles.append({"position": tile.position, "camera_id": tile.camera_id,
                          "camera_code": tile.camera.code, "camera_name": tile.camera.name,
                          "set_by": tile.set_by.get_username(), "set_at": local_iso(tile.set_at)})
    return {"name": wall.name, "label": wall.label, "columns": wall.columns, "rows": wall.rows,
            "tiles": tiles, "updated_at": local_iso(wall.updated_at) if wall.pk else None}


def camera_by_reference(reference: str | int) -> Camera | None:
    """A camera by its id or its code (``95014-s001-ptz``)."""
    text = str(reference).strip()
    if not text:
        return None
    if text.isdigit():
        return Camera.objects.filter(pk=int(text)).first() or Camera.objects.filter(code=text).first()
    return Camera.objects.filter(code=text).first()


# Who may open each page of the streaming app: the views refuse the others, and the hub's
# menu (config/navigation.py) shows a page to those only.


def may_open_feeds(member: Member | None) -> bool:
    """``/portail/flux/``: partner agents of a service that may receive images (never the
    Croix-Rouge, CSI L252-3); whether a feed plays is decided per grant and habilitation."""
    return (member is not None and member.role == Role.PARTNER_AGENT
            and member.agency.kind != AgencyKind.CRF and not member.is_centre_staff)


def may_open_wall(member: Member | None) -> bool:
    """``/mur/``: the centre's staff."""
    return member is not None and member.is_centre_staff
