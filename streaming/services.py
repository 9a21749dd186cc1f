"""Every write of the streaming app: grants of live images (*renvoi d'images*), the
viewings journal, camera status seen by the video pipelines, mask lifts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from cameras.choices import CameraStatus
from cameras.models import Camera, PrivacyMask
from cameras.selectors import valid_authorisations
from config.errors import Conflict, DomainError
from incidents.choices import IncidentStatus
from incidents.models import Incident
from incidents.services import incident_share
from partners.audit import Action, audit
from partners.choices import AgencyKind
from partners.models import Agency, AuditRecord
from realtime import audiences
from realtime.services import publish
from streaming.events import CameraStatusChanged, GrantCreated, GrantRevoked, camera_status_data, grant_data
from streaming.models import Grant, MaskLift
from streaming.selectors import preset_cache_key


class VideoNotAllowed(DomainError):
    """The law does not let this service receive this camera's images."""

    code = "video_not_allowed"
    status_code = 403


def _audience(grant: Grant) -> audiences.Audience:
    return audiences.agencies([grant.agency.code])


@transaction.atomic
def grant_create(*, camera: Camera, agency_code: str, incident: Incident, granted_by: AbstractBaseUser,
                 minutes: int | None = None, address: str | None = None) -> Grant:
    """Share ``camera`` live with an agency for an incident, for ``minutes``.

    The camera needs an authorisation in force that lists the agency's service;
    the Croix-Rouge never receives images. The incident is shared with the
    agency too (journalled) when it was not yet.
    """
    minutes = settings.HUB_GRANT_DEFAULT_MINUTES if minutes is None else minutes
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not \
            1 <= minutes <= settings.HUB_GRANT_MAX_MINUTES:
        raise DomainError(f"Between 1 and {settings.HUB_GRANT_MAX_MINUTES} minutes.", field="minutes")
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise DomainError(f"No partner agency has code {agency_code!r}.", field="agency")
    if agency.kind == AgencyKind.CRF:
        raise VideoNotAllowed("The Croix-Rouge does not receive images (CSI, L252-3).", field="agency")
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict("The incident is closed.", field="incident")
    if not valid_authorisations().filter(cameras=camera, recipients__contains=[agency.kind]).exists():
        raise VideoNotAllowed("No prefectoral authorisation in force lets this service receive this "
                              "camera's images.", field="camera")
    if not incident.shared_with.filter(pk=agency.pk).exists():
        incident_share(incident=incident, agency_code=agency.code, author=granted_by)
    grant = Grant.objects.create(camera=camera, agency=agency, incident=incident, granted_by=granted_by,
                                 expires_at=timezone.now() + dt.timedelta(minutes=minutes))
    audit(action=Action.GRANT_CREATED, actor=granted_by, address=address, obj=grant,
          reason=f"Incident {incident.reference}",
          details={"camera": camera.code, "agency": agency.code, "minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_extend(*, grant: Grant, minutes: int, by: AbstractBaseUser, address: str | None = None) -> Grant:
    grant = Grant.objects.select_for_update(no_key=True).get(pk=grant.pk)
    if not grant.is_active():
        raise Conflict("This grant has ended; create a new one.", field="grant")
    if not 1 <= minutes <= settings.HUB_GRANT_MAX_MINUTES:
        raise DomainError(f"Between 1 and {settings.HUB_GRANT_MAX_MINUTES} minutes.", field="minutes")
    grant.expires_at = timezone.now() + dt.timedelta(minutes=minutes)
    grant.save(update_fields=["expires_at"])
    audit(action=Action.GRANT_CREATED, actor=by, address=address, obj=grant, reason="extension",
          details={"minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_revoke(*, grant: Grant, by: AbstractBaseUser, reason: str = "",
                 address: str | None = None) -> Grant:
    """End the grant now; its viewers are cut (the video side listens for grant.revoked)."""
    grant = (Grant.objects.select_for_update(of=("self",), no_key=True)
             .select_related("camera", "agency", "incident").get(pk=grant.pk))
    if grant.revoked_at is not None:
        return grant
    grant.revoked_at, grant.revoked_by = timezone.now(), by
    grant.save(update_fields=["revoked_at", "revoked_by"])
    audit(action=Action.GRANT_REVOKED, actor=by, address=address, obj=grant, reason=reason[:500])
    publish(GrantRevoked(grant=grant_data(grant)), audience=_audience(grant))
    return grant


# --- What the video pipelines report.


@transaction.atomic
def camera_status_set(*, camera_id: int, online: bool, detail: str = "") -> bool:
    """Record what a camera's video source just did: it answered (online) or not (offline).

    Publishes ``camera.status`` to the centre when the status changes, and only then (a
    source that stays down is not news). A camera in maintenance is a supervisor's
    decision: its pipeline does not overrule it. Returns whether the status changed.
    """
    camera = Camera.objects.select_for_update(no_key=True).filter(pk=camera_id).first()
    if camera is None or camera.status == CameraStatus.MAINTENANCE:
        return False
    status = CameraStatus.ONLINE if online else CameraStatus.OFFLINE
    if camera.status == status:
        return False
    camera.status = status
    camera.save(update_fields=["status", "updated_at"])
    publish(CameraStatusChanged(camera=camera_status_data(camera, detail)), audience=audiences.centre())
    return True


def camera_preset_report(*, camera: Camera, number: int | None) -> int | None:
    """The PTZ camera is now in preset ``number`` (None: off its presets). The masks of that
    preset apply from the next second on, in every process (the pipelines read it back)."""
    if number is not None and not camera.presets.filter(number=number).exists():
        raise DomainError("This camera has no such preset.", field="preset")
    cache.set(preset_cache_key(camera.pk), number, timeout=None)
    return number


# --- The viewings journal (who watched which camera, when, under which grant).


def viewing_start(*, viewer: AbstractBaseUser, camera: Camera, grant: Grant | None, session: str,
                  address: str | None = None, variant: str = "centre") -> AuditRecord:
    """Journal the start of a live viewing, before any image is sent."""
    return audit(action=Action.CAMERA_VIEW_START, actor=viewer, address=address, obj=camera,
                 reason=f"Incident {grant.incident.reference}" if grant else "centre",
                 details={"camera": camera.code, "session": session, "grant": grant.pk if grant else None,
                          "stream": variant})


def viewing_end(*, viewer_id: int, camera_id: int, grant_id: int | None, session: str, reason: str,
                seconds: float, address: str | None = None) -> AuditRecord:
    """Journal the end of a viewing and why it ended (hang-up, grant revoked, connection lost...)."""
    from django.contrib.auth import get_user_model

    viewer = get_user_model().objects.filter(pk=viewer_id).first()
    camera = Camera.objects.filter(pk=camera_id).first()
    return audit(action=Action.CAMERA_VIEW_END, actor=viewer, address=address,
                 object_type="cameras.camera", object_id=camera_id, reason=reason[:500],
                 details={"camera": camera.code if camera else None, "session": session,
                          "grant": grant_id, "seconds": round(seconds, 1)})


# --- Lifting a privacy mask for a while (supervisors).


class MaskNotLiftable(DomainError):
    """This mask is permanent: it cannot be lifted."""

    code = "mask_not_liftable"
    status_code = 409


@transaction.atomic
def mask_lift(*, mask: PrivacyMask, by: AbstractBaseUser, minutes: int, reason: str,
              address: str | None = None) -> MaskLift:
    """Lift a liftable mask on the centre's screens for ``minutes`` (journalled); it comes back
    by itself. Partners keep receiving the masked picture."""
    if not mask.liftable:
        raise MaskNotLiftable(field="mask")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or \
            not 1 <= minutes <= settings.HUB_MASK_LIFT_MAX_MINUTES:
        raise DomainError(f"Between 1 and {settings.HUB_MASK_LIFT_MAX_MINUTES} minutes.", field="minutes")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("A reason is required to lift a mask.", field="reason")
    MaskLift.objects.filter(mask=mask, ended_at__isnull=True).update(ended_at=timezone.now())
    lift = MaskLift.objects.create(mask=mask, lifted_by=by, reason=reason[:500],
                                   until=timezone.now() + dt.timedelta(minutes=minutes))
    audit(action=Action.MASK_LIFTED, actor=by, address=address, obj=mask, reason=reason[:500],
          details={"camera": mask.camera.code, "minutes": minutes, "until": lift.until.isoformat()})
    return lift


@transaction.atomic
def mask_lift_end(*, lift: MaskLift, by: AbstractBaseUser, address: str | None = None) -> MaskLift:
    """Put the mask back before its time."""
    lift = MaskLift.objects.select_for_update().get(pk=lift.pk)
    if lift.is_active():
        lift.ended_at = timezone.now()
        lift.save(update_fields=["ended_at"])
        audit(action=Action.MASK_LIFTED, actor=by, address=address, obj=lift.mask, reason="masque rétabli",
              details={"lift": lift.pk, "ended": True})
    return lift
