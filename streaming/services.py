"""Every write of the streaming app: grants of live images (*renvoi d'images*) and their end,
the viewings (journal and who watches now), camera status seen by the video pipelines, mask
lifts, the video wall."""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cameras.choices import CameraStatus
from cameras.models import Camera, PrivacyMask
from cameras.selectors import valid_authorisations
from config.errors import Conflict, DomainError
from incidents.choices import IncidentStatus
from incidents.models import Incident
from partners.audit import Action, audit
from partners.choices import AgencyKind
from partners.models import Agency, AuditRecord
from realtime import audiences
from realtime.services import publish
from streaming.events import (
    CameraStatusChanged,
    GrantCreated,
    GrantEnded,
    GrantRevoked,
    GrantViewers,
    ViewerData,
    WallData,
    WallUpdated,
    camera_status_data,
    grant_data,
)
from streaming.models import Grant, GrantEnd, MaskLift, Viewing, Wall, WallTile
from streaming.selectors import (
    DEFAULT_WALL,
    active_grants,
    authorisation_ends,
    default_wall_label,
    grant_end,
    grant_viewers,
    preset_cache_key,
    wall_layout,
    with_sharing,
)


class VideoNotAllowed(DomainError):
    """The law does not let this service receive this camera's images."""

    code = "video_not_allowed"
    status_code = 403


class IncidentNotShared(DomainError):
    """Images go only to a service the incident is shared with."""

    code = "incident_not_shared"
    status_code = 409


class BeyondAuthorisation(DomainError):
    """A grant may not outlast the prefectoral authorisation that allows it."""

    code = "beyond_authorisation"
    status_code = 400


def _audience(grant: Grant) -> audiences.Audience:
    """The centre and the agency's partner agents: its field units' tablets get no video, and no
    news of it either (``grants_visible_to``)."""
    return audiences.agents(grant.agency.code)


def _check_minutes(minutes: object) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not \
            1 <= minutes <= settings.HUB_GRANT_MAX_MINUTES:
        raise DomainError(_("Between 1 and %(max)d minutes.") % {"max": settings.HUB_GRANT_MAX_MINUTES},
                          field="minutes")
    return minutes


def _check_authorised_until(*, camera: Camera, agency: Agency, expires_at: dt.datetime,
                            now: dt.datetime) -> None:
    """The camera's authorisation in force must list the agency's service until ``expires_at``."""
    ends = authorisation_ends([camera.pk], now=now).get(camera.pk, {})
    if not ends:
        raise VideoNotAllowed(_("No prefectoral authorisation in force covers camera %(camera)s: its images "
                                "cannot be shared.") % {"camera": camera.code}, field="camera")
    end = ends.get(agency.kind)
    if end is None:
        raise VideoNotAllowed(_("The prefectoral authorisation of camera %(camera)s does not list "
                                "“%(service)s” among the recipients of its images.")
                              % {"camera": camera.code, "service": AgencyKind(agency.kind).label},
                              field="agency")
    if expires_at > end:
        last_day = timezone.localdate(end - dt.timedelta(microseconds=1))
        raise BeyondAuthorisation(
            _("The prefectoral authorisation of camera %(camera)s is valid until %(day)s included: a "
              "grant cannot last beyond it (%(minutes)d minutes at most from now).")
            % {"camera": camera.code, "day": f"{last_day:%d/%m/%Y}",
               "minutes": max(0, int((end - now).total_seconds() // 60))}, field="minutes")


@transaction.atomic
def grant_create(*, camera: Camera, agency_code: str, incident: Incident, granted_by: User,
                 minutes: int | None = None, reason: str = "", address: str | None = None,
                 now: dt.datetime | None = None) -> Grant:
    """Share ``camera`` live with an agency for an incident, for ``minutes`` (*renvoi d'images*).

    The incident must be in progress and already shared with the agency; the camera needs an
    authorisation in force that lists the agency's service until the grant's end; the
    Croix-Rouge never receives images. Refused whole (nothing written) otherwise.
    """
    now = now or timezone.now()
    minutes = _check_minutes(settings.HUB_GRANT_DEFAULT_MINUTES if minutes is None else minutes)
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise DomainError(_("No partner service has the code %(code)s.") % {"code": agency_code},
                          field="agency")
    if agency.kind == AgencyKind.CRF:
        raise VideoNotAllowed(_("The Croix-Rouge never receives video images (article L252-3 of the Code "
                                "de la sécurité intérieure)."), field="agency")
    # Locked like a status change or a share: the grant and the end of the incident are serialised.
    incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(_("Incident %(reference)s is over: its images can no longer be shared.")
                       % {"reference": incident.reference}, field="incident")
    if not incident.shared_with.filter(pk=agency.pk).exists():
        raise IncidentNotShared(_("Incident %(reference)s is not shared with %(agency)s: share it with "
                                  "this service first.") % {"reference": incident.reference,
                                                            "agency": agency.name}, field="agency")
    expires_at = now + dt.timedelta(minutes=minutes)
    _check_authorised_until(camera=camera, agency=agency, expires_at=expires_at, now=now)
    reason = (reason or "").strip()[:500]
    grant = Grant.objects.create(camera=camera, agency=agency, incident=incident, granted_by=granted_by,
                                 created_at=now, expires_at=expires_at, reason=reason)
    audit(action=Action.GRANT_CREATED, actor=granted_by, address=address, obj=grant,
          reason=f"Incident {incident.reference}" + (f" : {reason}" if reason else ""),
          details={"camera": camera.code, "agency": agency.code, "minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_extend(*, grant: Grant, minutes: int, by: User, address: str | None = None,
                 now: dt.datetime | None = None) -> Grant:
    """The grant now ends ``minutes`` from now (within the authorisation that allows it)."""
    now = now or timezone.now()
    grant = (Grant.objects.select_for_update(of=("self",), no_key=True)
             .select_related("camera", "agency", "incident", "granted_by").get(pk=grant.pk))
    if not grant.is_active(now):
        raise Conflict(_("This grant has ended: make a new one."), field="grant")
    minutes = _check_minutes(minutes)
    expires_at = now + dt.timedelta(minutes=minutes)
    _check_authorised_until(camera=grant.camera, agency=grant.agency, expires_at=expires_at, now=now)
    grant.expires_at = expires_at
    grant.save(update_fields=["expires_at"])
    audit(action=Action.GRANT_CREATED, actor=by, address=address, obj=grant, reason="extension",
          details={"minutes": minutes})
    publish(GrantCreated(grant=grant_data(grant)), audience=_audience(grant))
    return grant


@transaction.atomic
def grant_revoke(*, grant: Grant, by: User, reason: str = "",
                 address: str | None = None) -> Grant:
    """End the grant now; its viewers are cut (the video watchdog sees it within a second) and the
    agency's screens are told why (``grant.revoked``, with ``revoke_reason``)."""
    grant = (Grant.objects.select_for_update(of=("self",), no_key=True)
             .select_related("camera", "agency", "incident", "granted_by").get(pk=grant.pk))
    if grant.revoked_at is not None or grant.ended_at is not None:
        return grant
    reason = (reason or "").strip()[:500]
    grant.revoked_at, grant.revoked_by, grant.revoke_reason = timezone.now(), by, reason
    grant.ended_at, grant.end_reason = grant.revoked_at, GrantEnd.REVOKED
    grant.save(update_fields=["revoked_at", "revoked_by", "revoke_reason", "ended_at", "end_reason"])
    audit(action=Action.GRANT_REVOKED, actor=by, address=address, obj=grant, reason=reason)
    publish(GrantRevoked(grant=grant_data(grant)), audience=_audience(grant))
    return grant


# Ends older than this when the sweep first sees them (grants made before ends were recorded)
# are recorded without telling the screens: nobody waits for that news any more.
ANNOUNCE_ENDS_WITHIN = dt.timedelta(hours=1)


def grants_end_sweep(*, now: dt.datetime | None = None) -> int:
    """Record the end of the grants that stopped letting images through by themselves (expired,
    incident closed, no longer shared) and tell their screens why (``grant.ended``). The images
    stopped already (``active_grants`` is the rule the video side applies); this is the news.
    Run every few seconds by Celery beat. Returns how many ends were recorded."""
    now = now or timezone.now()
    ended = 0
    candidates = (Grant.objects.filter(revoked_at__isnull=True, ended_at__isnull=True)
                  .exclude(pk__in=active_grants(now=now).values("pk")).values_list("pk", flat=True))
    for pk in list(candidates):
        with transaction.atomic():
            locked = Grant.objects.select_for_update(of=("self",), no_key=True, skip_locked=True)
            grant = (with_sharing(locked)
                     .select_related("camera", "agency", "incident", "granted_by").filter(pk=pk).first())
            if grant is None or grant.ended_at is not None or grant.revoked_at is not None:
                continue
            end = grant_end(grant, now=now)
            if end is None:
                continue
            grant.end_reason, grant.ended_at = end
            grant.save(update_fields=["end_reason", "ended_at"])
            if grant.ended_at >= now - ANNOUNCE_ENDS_WITHIN:
                publish(GrantEnded(grant=grant_data(grant)), audience=_audience(grant))
            ended += 1
    return ended


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
        raise DomainError(_("This camera has no such preset."), field="preset")
    cache.set(preset_cache_key(camera.pk), number, timeout=None)
    return number


# --- The viewings journal (who watched which camera, when, under which grant).


def _publish_viewers(grant_id: int | None) -> None:
    if grant_id is None:
        return
    grant = Grant.objects.select_related("agency").filter(pk=grant_id).first()
    if grant is None:
        return
    viewers = [ViewerData.model_validate(v) for v in grant_viewers([grant.pk]).get(grant.pk, [])]
    publish(GrantViewers(grant_id=grant.pk, camera_id=grant.camera_id, agency=grant.agency.code,
                         incident_id=grant.incident_id, viewers=viewers), audience=_audience(grant))


@transaction.atomic
def viewing_start(*, viewer: User, camera: Camera, grant: Grant | None, session: str,
                  address: str | None = None, variant: str = "centre") -> AuditRecord:
    """Journal the start of a live viewing, before any image is sent; a partner's viewing is
    announced to the grant's screens (``grant.viewers``: who watches it now). The row names the
    process that serves it, so that its end is journalled even if that process dies."""
    global _dead_processes_checked
    from streaming.video_nodes import this_node_session

    if not _dead_processes_checked and not this_node_session():
        viewings_of_dead_processes_end()
        _dead_processes_checked = True
    Viewing.objects.create(session=session, camera=camera, grant=grant, viewer=viewer,
                           node_session=this_node_session(), process=PROCESS_ID,
                           host=PROCESS_HOST[:255], pid=os.getpid())
    record = audit(action=Action.CAMERA_VIEW_START, actor=viewer, address=address, obj=camera,
                   reason=f"Incident {grant.incident.reference}" if grant else "centre",
                   details={"camera": camera.code, "session": session, "grant": grant.pk if grant else None,
                            "stream": variant})
    _publish_viewers(grant.pk if grant else None)
    return record


@transaction.atomic
def viewing_end(*, viewer_id: int, camera_id: int, grant_id: int | None, session: str, reason: str,
                seconds: float, address: str | None = None) -> AuditRecord | None:
    """Journal the end of a viewing and why it ended (hang-up, grant revoked, connection lost...),
    once: a viewing that ended already (its row closed) is not journalled again, whoever reports
    its end a second time (None)."""
    from django.contrib.auth import get_user_model

    # The row's update locks it: of two ends reported at once, the second finds it closed.
    closed = Viewing.objects.filter(session=session, ended_at__isnull=True).update(
        ended_at=timezone.now(), end_reason=reason[:64])
    if not closed:
        return None
    viewer = get_user_model().objects.filter(pk=viewer_id).first()
    camera = Camera.objects.filter(pk=camera_id).first()
    record = audit(action=Action.CAMERA_VIEW_END, actor=viewer, address=address,
                   object_type="cameras.camera", object_id=camera_id, reason=reason[:500],
                   details={"camera": camera.code if camera else None, "session": session,
                            "grant": grant_id, "seconds": round(seconds, 1)})
    _publish_viewers(grant_id)
    return record


# Who this process is, on the viewings it serves (``Viewing.process``): drawn at its start.
PROCESS_ID = uuid.uuid4().hex
PROCESS_HOST = socket.gethostname()
# A process that is no video node closes, before its first viewing, those its dead predecessors on
# this host left open (:func:`viewings_of_dead_processes_end`).
_dead_processes_checked = False


@transaction.atomic
def viewings_orphaned_end(viewings: QuerySet[Viewing], *, ended_at: dt.datetime, reason: str) -> list[str]:
    """Close the open ``viewings`` of a process that died without closing them (a video node
    declared lost, a process killed): each ends at ``ended_at`` (the process's last sign of life,
    never before the viewing's start), for ``reason``, and is journalled once (``camera_view_end``),
    like a viewing its process ended. The sessions closed."""
    from django.contrib.auth import get_user_model

    closed: list[str] = []
    grants: set[int] = set()
    rows = list(viewings.filter(ended_at__isnull=True).select_related("camera")
                .select_for_update(skip_locked=True, of=("self",)).order_by("started_at", "pk"))
    users = get_user_model().objects.in_bulk({row.viewer_id for row in rows})
    for row in rows:
        end = max(ended_at, row.started_at)
        if not Viewing.objects.filter(pk=row.pk, ended_at__isnull=True).update(
                ended_at=end, end_reason=reason[:64]):
            continue
        audit(action=Action.CAMERA_VIEW_END, actor=users.get(row.viewer_id),
              object_type="cameras.camera", object_id=row.camera_id, reason=reason[:500],
              details={"camera": row.camera.code, "session": row.session, "grant": row.grant_id,
                       "seconds": round((end - row.started_at).total_seconds(), 1)})
        closed.append(row.session)
        if row.grant_id is not None:
            grants.add(row.grant_id)
    for grant_id in sorted(grants):
        _publish_viewers(grant_id)
    return closed


def viewings_of_dead_processes_end(*, now: dt.datetime | None = None) -> list[str]:
    """At the start of a process that is no video node: close the open viewings that processes of
    this host, no video node either, left behind when they died (their pid runs no more). Their
    last sign of life is unknown: they end now, reason ``process_lost``. The sessions closed."""
    now = now or timezone.now()
    rows = Viewing.objects.filter(ended_at__isnull=True, node_session="", host=PROCESS_HOST[:255],
                                  pid__isnull=False).exclude(process=PROCESS_ID).exclude(process="")
    dead = [pk for pk, pid in rows.values_list("pk", "pid") if pid is not None and not _pid_runs(pid)]
    if not dead:
        return []
    return viewings_orphaned_end(Viewing.objects.filter(pk__in=dead), ended_at=now, reason="process_lost")


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


# --- The video wall.


@transaction.atomic
def wall_tile_set(*, wall_name: str, position: int, camera: Camera | None, by: User) -> Wall:
    """Show ``camera`` in tile ``position`` of the wall (None: empty the tile); every screen of the
    wall and every console follow (``wall.updated``, to the centre). The centre's main wall is
    made on its first tile; other walls are made in the admin."""
    wall = Wall.objects.select_for_update().filter(name=wall_name).first()
    if wall is None:
        if wall_name != DEFAULT_WALL:
            raise DomainError(_("There is no video wall named %(name)s.") % {"name": wall_name}, field="wall")
        Wall.objects.get_or_create(name=DEFAULT_WALL, defaults={"label": default_wall_label()})
        wall = Wall.objects.select_for_update().get(name=DEFAULT_WALL)
    if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= wall.size:
        raise DomainError(_("A tile of this wall is numbered from 1 to %(size)d.") % {"size": wall.size},
                          field="position")
    if camera is None:
        WallTile.objects.filter(wall=wall, position=position).delete()
    else:
        if not valid_authorisations().filter(cameras=camera).exists():
            raise VideoNotAllowed(_("No prefectoral authorisation in force covers camera %(camera)s: it "
                                    "cannot be shown.") % {"camera": camera.code}, field="camera")
        WallTile.objects.update_or_create(wall=wall, position=position, defaults={
            "camera": camera, "set_by": by, "set_at": timezone.now()})
    wall.updated_at = timezone.now()
    wall.save(update_fields=["updated_at"])
    publish(WallUpdated(wall=WallData.model_validate(wall_layout(wall))), audience=audiences.centre())
    return wall


# --- Lifting a privacy mask for a while (supervisors).


class MaskNotLiftable(DomainError):
    """This mask is permanent: it cannot be lifted."""

    code = "mask_not_liftable"
    status_code = 409


@transaction.atomic
def mask_lift(*, mask: PrivacyMask, by: User, minutes: int, reason: str,
              address: str | None = None) -> MaskLift:
    """Lift a liftable mask on the centre's screens for ``minutes`` (journalled); it comes back
    by itself. Partners keep receiving the masked picture."""
    if not mask.liftable:
        raise MaskNotLiftable(_("This mask is permanent: it cannot be lifted."), field="mask")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or \
            not 1 <= minutes <= settings.HUB_MASK_LIFT_MAX_MINUTES:
        raise DomainError(_("Between 1 and %(max)d minutes.") % {"max": settings.HUB_MASK_LIFT_MAX_MINUTES},
                          field="minutes")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required to lift a mask."), field="reason")
    MaskLift.objects.filter(mask=mask, ended_at__isnull=True).update(ended_at=timezone.now())
    lift = MaskLift.objects.create(mask=mask, lifted_by=by, reason=reason[:500],
                                   until=timezone.now() + dt.timedelta(minutes=minutes))
    audit(action=Action.MASK_LIFTED, actor=by, address=address, obj=mask, reason=reason[:500],
          details={"camera": mask.camera.code, "minutes": minutes, "until": lift.until.isoformat()})
    return lift


@transaction.atomic
def mask_lift_end(*, lift: MaskLift, by: User, address: str | None = None) -> MaskLift:
    """Put the mask back before its time."""
    lift = MaskLift.objects.select_for_update().get(pk=lift.pk)
    if lift.is_active():
        lift.ended_at = timezone.now()
        lift.save(update_fields=["ended_at"])
        audit(action=Action.MASK_LIFTED, actor=by, address=address, obj=lift.mask, reason="masque rétabli",
              details={"lift": lift.pk, "ended": True})
    return lift
