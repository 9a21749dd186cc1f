"""Who may watch which camera: the one rule that REST, pages, the event stream and the
video endpoints all call (DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from cameras.models import Camera, PrivacyMask
from cameras.selectors import valid_authorisations
from partners.choices import AgencyKind, Role
from partners.models import Member
from streaming.models import Grant, MaskLift


def active_grants(*, now=None) -> QuerySet[Grant]:
    now = now or timezone.now()
    return Grant.objects.filter(revoked_at__isnull=True, expires_at__gt=now)


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
    qs = Grant.objects.select_related("camera", "agency", "incident")
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

    @property
    def any(self) -> bool:
        return bool(self.partners)


def masks_in_force(camera_id: int, *, preset: int | None = None, now=None) -> MasksInForce:
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
                        centre=tuple(polygon(p) for pk, p in masks if pk not in lifted))
