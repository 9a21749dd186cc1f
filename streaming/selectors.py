"""Who may watch which camera: the one rule that REST, pages, the event stream and the
video endpoints all call (DESIGN.md §2)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from cameras.models import Camera
from cameras.selectors import valid_authorisations
from partners.choices import AgencyKind, Role
from partners.models import Member
from streaming.models import Grant


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


def grants_visible_to(member: Member | None) -> QuerySet[Grant]:
    qs = Grant.objects.select_related("camera", "agency", "incident")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role == Role.PARTNER_AGENT and member.agency.kind != AgencyKind.CRF:
        return qs.filter(agency=member.agency)
    return qs.none()
