"""Every write of the PTZ app: leases (*prise en main*), commands, the position read back and
the masks that follow it, the journal lines and the ``ptz.*`` events.

The order of a move matters for privacy: the camera is marked *off its presets* (partners'
picture blanked, in this process at once, in the others within a watchdog round) **before**
the command leaves; it is marked back in a preset (that preset's masks painted, the blank
lifted) only **after** its status, read back, says it is there.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cameras.choices import CameraKind
from cameras.models import Camera, PtzPreset
from config.errors import Conflict, DomainError
from geo.geometry import bearing
from incidents.models import Incident
from partners.audit import Action, audit
from partners.selectors import member_of
from ptz.driver import (
    CameraAuthFailed,
    CameraFault,
    CameraUnreachable,
    OperationUnsupported,
    PtzDriverError,
    Status,
)
from ptz.events import HolderData, PtzLeaseChanged, PtzPositionChanged
from ptz.models import LeaseEnd, PtzEndpoint, PtzLease, PtzPosition
from ptz.runtime import EndpointConf, get_runtime
from realtime import audiences
from realtime.events import local_iso
from realtime.services import publish

log = logging.getLogger(__name__)

# How close (generic space units) a position read back must be to count as "there".
REACHED = 0.02


# --- Errors (French for the person reading them, through the catalogue).


class NotPtz(DomainError):
    code = "not_ptz"
    status_code = 400


class LeaseRequired(Conflict):
    code = "lease_required"


class LeaseHeld(Conflict):
    code = "lease_held"

    def __init__(self, lease: PtzLease) -> None:
        self.holder = holder_data(lease.holder)
        super().__init__(_("Camera taken by %(name)s.") % {"name": self.holder.name})

    def as_detail(self):
        return self.detail


class UnknownPreset(DomainError):
    code = "unknown_preset"
    status_code = 400


class CameraUnavailable(DomainError):
    code = "camera_unreachable"
    status_code = 503


class CameraCredentialsRefused(DomainError):
    code = "camera_auth_failed"
    status_code = 502


class PtzRefused(DomainError):
    code = "ptz_refused"
    status_code = 409


# --- Reads shared with the API.


def holder_data(user: User) -> HolderData:
    name = (user.get_full_name() if hasattr(user, "get_full_name") else "") or user.get_username()
    return HolderData(user_id=user.pk, username=user.get_username(), name=name)


def endpoint_of(camera: Camera) -> PtzEndpoint:
    """The ONVIF endpoint of a PTZ camera, or :class:`NotPtz`. A camera read with its endpoint
    (``select_related("ptz_endpoint")``, as the API reads it) costs no further query, however
    many times a command asks (benchmarks/ptz.py: two queries fewer per joystick command)."""
    endpoint = None
    if camera.kind == CameraKind.PTZ:
        if Camera.ptz_endpoint.is_cached(camera):
            endpoint = getattr(camera, "ptz_endpoint", None)  # None when read with none
        else:
            endpoint = PtzEndpoint.objects.filter(camera=camera).first()
    if endpoint is None:
        raise NotPtz(_("Camera %(camera)s is not a PTZ camera the hub can drive.") % {"camera": camera.code})
    return endpoint


def conf_of(endpoint: PtzEndpoint) -> EndpointConf:
    return EndpointConf(camera_id=endpoint.camera_id, host=endpoint.host, port=endpoint.port,
                        user=endpoint.username, password=endpoint.password(),
                        timeout=settings.HUB_PTZ_TIMEOUT_SECONDS)


def active_lease(camera: Camera | int, *, now: dt.datetime | None = None) -> PtzLease | None:
    """The lease in force on a camera (a lapsed one is not in force even before the sweep ends it)."""
    now = now or timezone.now()
    camera_id = camera if isinstance(camera, int) else camera.pk
    lease = (PtzLease.objects.select_related("holder")
             .filter(camera_id=camera_id, ended_at__isnull=True).first())
    if lease is None or lease_lapsed(lease, now=now):
        return None
    return lease


def lease_lapsed(lease: PtzLease, *, now: dt.datetime) -> bool:
    return lease.last_command_at <= now - dt.timedelta(seconds=settings.HUB_PTZ_LEASE_IDLE_SECONDS)


def position_of(camera: Camera | int) -> PtzPosition:
    camera_id = camera if isinstance(camera, int) else camera.pk
    position, _created = PtzPosition.objects.get_or_create(camera_id=camera_id)
    return position


# --- Masks follow the position.


def _masks_follow(camera_id: int, *, preset: int | None, off_presets: bool) -> None:
    """Tell the video side where the camera is: the preset whose masks apply, or off its
    presets (partners blanked). Written to the cache every process reads, and pushed to this
    process's pipelines at once."""
    from streaming.selectors import off_presets_cache_key, preset_cache_key

    cache.set_many({preset_cache_key(camera_id): preset, off_presets_cache_key(camera_id): off_presets},
                   timeout=None)
    from streaming.runtime import current_runtime

    runtime = current_runtime()
    if runtime is not None:
        runtime.refresh_masks(camera_id)


def _leave_presets(camera_id: int) -> None:
    _masks_follow(camera_id, preset=None, off_presets=True)


def _publish_position(position: PtzPosition, detail: str = "") -> None:
    publish(PtzPositionChanged(camera_id=position.camera_id, pan=position.pan, tilt=position.tilt,
                               zoom=position.zoom, preset=position.preset, moving=position.moving,
                               reachable=position.reachable, detail=detail,
                               updated_at=local_iso(position.updated_at)),
            audience=audiences.centre())


def _position_dict(position: PtzPosition) -> dict:
    return {"pan": position.pan, "tilt": position.tilt, "zoom": position.zoom, "preset": position.preset}


@transaction.atomic
def position_record(camera_id: int, *, status: Status | None, preset: int | None, moving: bool,
                    reachable: bool = True, detail: str = "") -> PtzPosition:
    """Where the camera is, as read back from it; the centre's consoles follow (``ptz.position``)."""
    position = PtzPosition.objects.select_for_update().filter(camera_id=camera_id).first() \
        or PtzPosition.objects.create(camera_id=camera_id)
    if status is not None:
        position.pan, position.tilt, position.zoom = (status.position.pan, status.position.tilt,
                                                      status.position.zoom)
    position.preset, position.moving, position.reachable = preset, moving, reachable
    position.save()
    _publish_position(position, detail)
    return position


def _unreachable(camera_id: int, exc: Exception) -> DomainError:
    """The camera did not answer (or refused us): the lease stays, the console says so."""
    position = PtzPosition.objects.filter(camera_id=camera_id).first()
    with transaction.atomic():
        if position is None:
            position = PtzPosition.objects.create(camera_id=camera_id)
        position.reachable = False
        position.save(update_fields=["reachable", "updated_at"])
        _publish_position(position, str(exc)[:200])
    if isinstance(exc, CameraAuthFailed):
        return CameraCredentialsRefused(_("The camera refuses the ONVIF credentials the hub holds for it."))
    return CameraUnavailable(_("Camera unreachable: it did not answer in time."))


def _call(endpoint: PtzEndpoint, operation, *, timeout: float | None = None):
    try:
        return get_runtime().call(conf_of(endpoint), operation, timeout=timeout)
    except (CameraUnreachable, CameraAuthFailed, TimeoutError) as exc:
        raise _unreachable(endpoint.camera_id, exc) from exc
    except OperationUnsupported as exc:
        raise PtzRefused(_("This camera cannot do that (%(operation)s).") % {"operation": str(exc)}) from exc
    except CameraFault as exc:
        raise PtzRefused(_("The camera refused the command: %(reason)s")
                         % {"reason": str(exc)[:200]}) from exc
    except PtzDriverError as exc:
        raise _unreachable(endpoint.camera_id, exc) from exc


def _preset_at(endpoint: PtzEndpoint, status: Status) -> int | None:
    """The hub preset whose camera position the camera is at now, by reading its presets."""
    if status.position.pan is None:
        return None
    tokens = {endpoint.preset_token(n): n for n in
              PtzPreset.objects.filter(camera_id=endpoint.camera_id).values_list("number", flat=True)}
    if not tokens:
        return None
    try:
        presets = _call(endpoint, lambda d: d.presets())
    except DomainError:
        return None
    for preset in presets:
        number = tokens.get(preset.token)
        if number is None or preset.position is None or preset.position.pan is None:
            continue
        here, there = status.position, preset.position
        if all(a is None or b is None or abs(a - b) <= REACHED
               for a, b in ((here.pan, there.pan), (here.tilt, there.tilt), (here.zoom, there.zoom))):
            return number
    return None


def _read_back(endpoint: PtzEndpoint, *, wanted=None, attempts: int = 20) -> Status:
    """The camera's status once it stopped moving (or matches ``wanted(status)``): a camera
    that takes time to get there is asked again, 0.1 s apart, two seconds at most."""
    status = _call(endpoint, lambda d: d.status())
    for _attempt in range(attempts):
        arrived = wanted(status) if wanted is not None else True
        if arrived and status.moving is not True:
            return status
        time.sleep(0.1)
        status = _call(endpoint, lambda d: d.status())
    return status


# --- Leases.


def _can_take_over(by: User, incident: Incident | None, lease: PtzLease) -> bool:
    member = member_of(by)
    if member is not None and member.is_supervisor:
        return True
    if incident is None:
        return False
    held_for = (Incident.objects.filter(pk=lease.incident_id).values_list("priority", flat=True).first()
                if lease.incident_id is not None else None)
    return held_for is None or incident.priority < held_for  # 1 = urgent: lower is higher


@transaction.atomic
def lease_take(*, camera: Camera, by: User, incident: Incident | None = None,
               take_over: bool = False, reason: str = "", address: str | None = None,
               now: dt.datetime | None = None) -> PtzLease:
    """Take control of a PTZ camera. Held by someone else: refused (``lease_held``, who has
    it), unless ``take_over`` by a supervisor or for a higher-priority incident; the previous
    holder is told live (``ptz.lease``)."""
    now = now or timezone.now()
    endpoint_of(camera)
    Camera.objects.select_for_update(no_key=True).filter(pk=camera.pk).first()  # one taker at a time
    current = PtzLease.objects.select_related("holder").filter(camera=camera, ended_at__isnull=True).first()
    previous = None
    if current is not None:
        if current.holder_id == by.pk:
            current.last_command_at = now
            if incident is not None:
                current.incident = incident
            current.save(update_fields=["last_command_at", "incident"])
            return current
        if lease_lapsed(current, now=now):
            _lease_end(current, reason=LeaseEnd.IDLE, by=None, now=now)
        elif take_over and _can_take_over(by, incident, current):
            previous = current
            _lease_end(current, reason=LeaseEnd.TAKEN_OVER, by=by, now=now, publish_event=False)
        else:
            raise LeaseHeld(current)
    lease = PtzLease.objects.create(camera=camera, holder=by, incident=incident, taken_at=now,
                                    last_command_at=now)
    PtzPosition.objects.filter(camera=camera).update(home_due_at=None)
    details = {"camera": camera.code, "incident": incident.reference if incident else None}
    if previous is not None:
        details["from"] = previous.holder.get_username()
        details["to"] = by.get_username()
        audit(action=Action.PTZ_TAKEOVER, actor=by, address=address, obj=camera,
              reason=reason or (f"Incident {incident.reference}" if incident else "supervision"),
              details=details)
    else:
        audit(action=Action.PTZ_LEASE, actor=by, address=address, obj=camera,
              reason=reason or (f"Incident {incident.reference}" if incident else "centre"), details=details)
    publish(PtzLeaseChanged(camera_id=camera.pk, camera_code=camera.code, holder=holder_data(by),
                            previous=holder_data(previous.holder) if previous else None,
                            incident_id=incident.pk if incident else None,
                            reason="taken_over" if previous else "taken", at=local_iso(now)),
            audience=audiences.centre())
    return lease


def _lease_end(lease: PtzLease, *, reason: str, by: User | None, now: dt.datetime,
               publish_event: bool = True) -> None:
    lease.ended_at, lease.end_reason, lease.ended_by = now, reason, by
    lease.save(update_fields=["ended_at", "end_reason", "ended_by"])
    due = now + dt.timedelta(seconds=settings.HUB_PTZ_HOME_AFTER_SECONDS)
    if reason != LeaseEnd.TAKEN_OVER:
        PtzPosition.objects.update_or_create(camera_id=lease.camera_id, defaults={"home_due_at": due})
    if publish_event:
        camera = lease.camera
        publish(PtzLeaseChanged(camera_id=camera.pk, camera_code=camera.code, holder=None,
                                previous=holder_data(lease.holder), incident_id=lease.incident_id,
                                reason=str(reason), at=local_iso(now)),
                audience=audiences.centre())


@transaction.atomic
def lease_release(*, camera: Camera, by: User, now: dt.datetime | None = None) -> None:
    """Hand the camera back (the holder only; anyone else's release is a no-op). It returns
    home ``HUB_PTZ_HOME_AFTER_SECONDS`` later unless someone takes it."""
    now = now or timezone.now()
    lease = PtzLease.objects.select_for_update().select_related("camera", "holder").filter(
        camera=camera, ended_at__isnull=True, holder=by).first()
    if lease is not None:
        _lease_end(lease, reason=LeaseEnd.RELEASED, by=by, now=now)


def _require_lease(camera: Camera, by: User) -> PtzLease:
    now = timezone.now()
    lease = active_lease(camera, now=now)
    if lease is None or lease.holder_id != by.pk:
        if lease is not None:
            raise LeaseHeld(lease)
        raise LeaseRequired(_("Take control of the camera before driving it."))
    # One write a second at most, however fast the joystick goes.
    if now - lease.last_command_at >= dt.timedelta(seconds=1):
        PtzLease.objects.filter(pk=lease.pk).update(last_command_at=now)
    return lease


# --- Commands.


@dataclass(frozen=True)
class MoveResult:
    result: str  # "sent" or "coalesced"
    position: PtzPosition | None


def ptz_joystick(*, camera: Camera, by: User, pan: float, tilt: float, zoom: float,
                 reason: str = "", address: str | None = None) -> MoveResult:
    """A joystick velocity (-1..1 each; all 0 stops). Coalesced per camera (the last one wins).
    A drag is one move in the journal: from where it started to where the stop left it."""
    for name, value in (("pan", pan), ("tilt", tilt), ("zoom", zoom)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) \
                or not -1 <= value <= 1:
            raise DomainError(_("A speed is a number between -1 and 1."), field=name)
    endpoint = endpoint_of(camera)
    _require_lease(camera, by)
    stopping = pan == 0 and tilt == 0 and zoom == 0
    drag_key = f"ptz:drag:{camera.pk}"
    if not stopping and not cache.get(drag_key):
        position = position_of(camera)
        cache.set(drag_key, _position_dict(position), timeout=3600)
        _leave_presets(camera.pk)
        if not position.moving:
            with transaction.atomic():
                position.moving, position.preset = True, None
                position.save(update_fields=["moving", "preset", "updated_at"])
                _publish_position(position)
    future = get_runtime().joystick(conf_of(endpoint), (float(pan), float(tilt), float(zoom)),
                                    max_per_second=settings.HUB_PTZ_MAX_COMMANDS_PER_SECOND)
    try:
        result = future.result(timeout=settings.HUB_PTZ_TIMEOUT_SECONDS * 3 + 1)
    except (CameraUnreachable, CameraAuthFailed, TimeoutError) as exc:
        raise _unreachable(camera.pk, exc) from exc
    except PtzDriverError as exc:
        raise PtzRefused(_("The camera refused the command: %(reason)s")
                         % {"reason": str(exc)[:200]}) from exc
    if not stopping or result != "sent":
        return MoveResult(result=result, position=None)
    started = cache.get(drag_key)
    cache.delete(drag_key)
    status = _read_back(endpoint)
    preset = _preset_at(endpoint, status)
    position = position_record(camera.pk, status=status, preset=preset, moving=False)
    if preset is not None:
        _masks_follow(camera.pk, preset=preset, off_presets=False)
    audit(action=Action.PTZ_MOVE, actor=by, address=address, obj=camera, reason=reason or "joystick",
          details={"camera": camera.code, "from": started, "to": _position_dict(position)})
    return MoveResult(result=result, position=position)


def ptz_goto_preset(*, camera: Camera, by: User, number: int, reason: str = "",
                    address: str | None = None) -> PtzPosition:
    """Recall preset ``number``: the camera is read back there before its masks apply and the
    partners' picture comes back."""
    endpoint = endpoint_of(camera)
    if isinstance(number, bool) or not isinstance(number, int) or \
            not PtzPreset.objects.filter(camera=camera, number=number).exists():
        raise UnknownPreset(_("This camera has no preset %(number)s.") % {"number": number}, field="preset")
    _require_lease(camera, by)
    return _go_to_preset(endpoint, camera=camera, number=number, by=by, reason=reason, address=address)


def _go_to_preset(endpoint: PtzEndpoint, *, camera: Camera, number: int, by: User | None,
                  reason: str, address: str | None, action: str = Action.PTZ_PRESET) -> PtzPosition:
    before = _position_dict(position_of(camera))
    _leave_presets(camera.pk)
    token = endpoint.preset_token(number)
    _call(endpoint, lambda d: d.goto_preset(token))
    target = {p.token: p for p in _call(endpoint, lambda d: d.presets())}.get(token)

    def there(status: Status) -> bool:
        if target is None or target.position is None:
            return True
        return all(a is None or b is None or abs(a - b) <= REACHED for a, b in (
            (status.position.pan, target.position.pan), (status.position.tilt, target.position.tilt),
            (status.position.zoom, target.position.zoom)))

    status = _read_back(endpoint, wanted=there)
    reached = there(status)
    position = position_record(camera.pk, status=status, preset=number if reached else None, moving=False)
    if reached:
        _masks_follow(camera.pk, preset=number, off_presets=False)
    audit(action=action, actor=by, address=address, obj=camera, reason=reason or "preset",
          details={"camera": camera.code, "preset": number, "from": before, "to": _position_dict(position),
                   "reached": reached})
    return position


def ptz_home(*, camera: Camera, by: User | None, reason: str = "",
             address: str | None = None, check_lease: bool = True, settle: float = 0.0) -> PtzPosition:
    """Back to the home position (its preset's masks, when the home is one of the hub's presets).

    ``settle``: from a process that serves no video (the Celery worker), wait this long after
    blanking the partners' picture and before the camera moves, so that the video processes,
    which read the masks once a second, have blanked it first."""
    endpoint = endpoint_of(camera)
    if check_lease and by is not None:
        _require_lease(camera, by)
    if settle:
        _leave_presets(camera.pk)
        time.sleep(settle)
    if endpoint.home_preset is not None and \
            PtzPreset.objects.filter(camera=camera, number=endpoint.home_preset).exists():
        return _go_to_preset(endpoint, camera=camera, number=endpoint.home_preset, by=by,
                             reason=reason or "home", address=address, action=Action.PTZ_HOME)
    before = _position_dict(position_of(camera))
    _leave_presets(camera.pk)
    _call(endpoint, lambda d: d.goto_home())
    status = _read_back(endpoint)
    preset = _preset_at(endpoint, status)
    position = position_record(camera.pk, status=status, preset=preset, moving=False)
    _masks_follow(camera.pk, preset=preset, off_presets=preset is None)
    audit(action=Action.PTZ_HOME, actor=by, address=address, obj=camera, reason=reason or "home",
          details={"camera": camera.code, "from": before, "to": _position_dict(position)})
    return position


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def aim_target(endpoint: PtzEndpoint, camera: Camera, point) -> tuple[float, float, float, float]:
    """(pan, zoom, bearing, distance) that turn ``camera`` toward ``point``: pan from the bearing
    and the calibrated heading of pan 0, zoom from the distance."""
    to = bearing(camera.location.x, camera.location.y, point.x, point.y)
    offset = (to - endpoint.pan_zero_heading + 180.0) % 360.0 - 180.0  # -180..180, clockwise positive
    pan = max(-1.0, min(1.0, offset / (endpoint.pan_degrees / 2.0)))
    distance = _distance_m(camera.location.x, camera.location.y, point.x, point.y)
    span = max(1.0, endpoint.zoom_full_m - endpoint.zoom_wide_m)
    zoom = max(0.0, min(1.0, (distance - endpoint.zoom_wide_m) / span))
    return pan, zoom, to, distance


@dataclass(frozen=True)
class AimResult:
    position: PtzPosition
    method: str  # "preset" or "absolute"
    preset: int | None
    bearing: float
    distance_m: float
    reached: bool


def ptz_aim(*, camera: Camera, by: User, incident: Incident,
            address: str | None = None) -> AimResult:
    """Turn the camera toward the incident's point. A preset that sees the point is preferred
    (its masks are known: partners keep a masked picture); otherwise an absolute move from the
    bearing and the distance, checked by reading the status back."""
    from django.contrib.gis.db.models.functions import Distance  # noqa: F401 - GeoDjango loaded

    endpoint = endpoint_of(camera)
    _require_lease(camera, by)
    point = incident.location
    pan, zoom, to, distance = aim_target(endpoint, camera, point)
    preset = (PtzPreset.objects.filter(camera=camera, fov__covers=point).order_by("range_m", "number")
              .values_list("number", flat=True).first())
    reason = f"Incident {incident.reference}"
    if preset is not None:
        position = _go_to_preset(endpoint, camera=camera, number=preset, by=by, reason=reason,
                                 address=address)
        return AimResult(position=position, method="preset", preset=preset, bearing=round(to, 1),
                         distance_m=round(distance, 1), reached=position.preset == preset)
    caps = _call(endpoint, lambda d: d.capabilities())
    if not caps.absolute:
        raise PtzRefused(_("No preset of this camera sees the incident and it cannot be turned to a "
                           "bearing."))
    before = _position_dict(position_of(camera))
    _leave_presets(camera.pk)
    _call(endpoint, lambda d: d.absolute_move(pan=pan, tilt=0.0, zoom=zoom))

    def there(status: Status) -> bool:
        return status.position.pan is not None and abs(status.position.pan - pan) <= REACHED

    status = _read_back(endpoint, wanted=there)
    reached = there(status)
    position = position_record(camera.pk, status=status, preset=None, moving=False)
    audit(action=Action.PTZ_MOVE, actor=by, address=address, obj=camera, reason=reason,
          details={"camera": camera.code, "from": before, "to": _position_dict(position),
                   "aim": {"bearing": round(to, 1), "distance_m": round(distance, 1)}, "reached": reached})
    return AimResult(position=position, method="absolute", preset=None, bearing=round(to, 1),
                     distance_m=round(distance, 1), reached=reached)


# --- The sweep (Celery beat): lapsed leases end, idle cameras go home.


def leases_sweep(*, now: dt.datetime | None = None, settle: float = 1.2) -> dict:
    """End the leases idle for ``HUB_PTZ_LEASE_IDLE_SECONDS`` (their holders told) and send
    home the cameras nobody took again ``HUB_PTZ_HOME_AFTER_SECONDS`` after."""
    now = now or timezone.now()
    idle_before = now - dt.timedelta(seconds=settings.HUB_PTZ_LEASE_IDLE_SECONDS)
    ended = 0
    for lease in PtzLease.objects.select_related("camera", "holder").filter(
            ended_at__isnull=True, last_command_at__lte=idle_before):
        with transaction.atomic():
            locked = PtzLease.objects.select_for_update(skip_locked=True).filter(
                pk=lease.pk, ended_at__isnull=True).first()
            if locked is None:
                continue
            _lease_end(lease, reason=LeaseEnd.IDLE, by=None, now=now)
            ended += 1
    homed = 0
    for position in PtzPosition.objects.select_related("camera").filter(home_due_at__lte=now):
        if PtzLease.objects.filter(camera_id=position.camera_id, ended_at__isnull=True).exists():
            continue
        PtzPosition.objects.filter(pk=position.pk).update(home_due_at=None)
        try:
            ptz_home(camera=position.camera, by=None, reason="retour automatique", check_lease=False,
                     settle=settle)
            homed += 1
        except DomainError:
            log.warning("PTZ camera %s could not be sent home", position.camera.code)
    return {"ended": ended, "homed": homed}
