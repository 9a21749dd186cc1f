"""Field units (unités de terrain): their management by the supervisors, their status, their
positions (over REST and over the tablet's socket), their engagement on an incident."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext

from config.errors import (
    POOL_EXHAUSTED_DETAIL,
    Conflict,
    DomainError,
    NotAllowed,
    pool_exhausted,
    pool_exhausted_note,
)
from geo.geometry import EARTH_RADIUS_M
from geo.models import Commune
from incidents.choices import IncidentStatus, JournalKind, NetKind, UnitStatus
from incidents.events import (
    UNIT_CHANGES,
    PointData,
    UnitEngaged,
    UnitPositionReported,
    UnitStatusChanged,
    UnitUpdated,
    unit_data,
)
from incidents.models import Incident, Net, Unit, UnitPosition
from incidents.selectors.incidents import incident_audience
from incidents.selectors.units import may_manage_units, unit_audience
from incidents.services.common import OutsideServiceArea, centre_staff_required, in_area, retired_refusal
from incidents.services.incidents import incident_locked, incident_share, incident_transition
from incidents.services.journal import journal_line_write
from incidents.services.radio import net_for_agency, net_for_incident, net_for_unit
from partners.audit import Action, audit
from partners.choices import AgencyKind, Role
from partners.models import Agency, IdempotencyRecord, Member
from realtime.audiences import Audience
from realtime.events import local_iso
from realtime.services import publish, publish_many
from realtime.signals import sockets_rescope

log = logging.getLogger(__name__)

class ImplausiblePosition(DomainError):
    code = "implausible_position"


def _announce_unit(unit: Unit) -> None:
    unit.updated_at = timezone.now()
    unit.save()
    publish(UnitStatusChanged(unit=unit_data(unit)), audience=unit_audience(unit))


class CallsignTaken(Conflict):
    code = "callsign_taken"


class NotAFieldUnit(DomainError):
    code = "not_a_field_unit"


class MemberOfAnotherAgency(DomainError):
    code = "member_of_another_agency"


class MemberHasAUnit(Conflict):
    code = "member_has_a_unit"


class UnitBusy(Conflict):
    code = "unit_busy"


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


# "Leave this as it is", for the fields of ``unit_update`` where ``None`` means something
# (``member=None`` takes the tablet back).
KEEP: Any = _Keep()

# A unit on its way or on the scene: it neither changes agency nor retires.
BUSY_STATUSES = frozenset({UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE})


def _other_units(unit: Unit | None) -> QuerySet[Unit]:
    """Every unit but ``unit`` (every unit when ``unit`` is one being created)."""
    return Unit.objects.exclude(pk=unit.pk) if unit is not None else Unit.objects.all()


def _busy(unit: Unit) -> bool:
    return unit.incident_id is not None or unit.status in BUSY_STATUSES


def callsign_normalise(value: str) -> str:
    """A callsign as stored: single spaces, capitals."""
    return " ".join((value or "").split()).upper()


def unit_changes_check(*, unit: Unit | None, callsign: Any = KEEP, agency: Any = KEEP, member: Any = KEEP,
                       retired: Any = KEEP) -> dict[str, Any]:
    """The changes that a creation (``unit`` None) or an edit would make, checked and normalised:
    only what differs from the unit, keyed ``callsign``, ``agency``, ``member``, ``retired``.

    Raises the error a supervisor should read: callsign taken, agency that is not a partner,
    member who is not a field unit or belongs to another agency or already drives a unit,
    a retired unit given a tablet, an engaged unit moved or retired. Reads only (the admin's
    form calls it to show the error on the field; the services call it again under lock).
    """
    changes: dict[str, Any] = {}
    if callsign is not KEEP:
        callsign = callsign_normalise(callsign)
        if not callsign or len(callsign) > 40:
            raise DomainError(gettext("A callsign is 1 to 40 characters."), field="callsign")
        if unit is None or callsign != unit.callsign:
            taken = _other_units(unit).filter(callsign=callsign).select_related("agency").first()
            if taken is not None:
                text = (gettext("The callsign %(callsign)s is already taken by a retired unit of %(agency)s.")
                        if taken.retired else
                        gettext("The callsign %(callsign)s is already taken by a unit of %(agency)s."))
                raise CallsignTaken(text % {"callsign": callsign, "agency": taken.agency.name},
                                    field="callsign")
            changes["callsign"] = callsign
    if agency is not KEEP:
        if agency is None or agency.kind == AgencyKind.CSU:
            raise DomainError(gettext("A field unit belongs to a partner agency (police, gendarmerie, "
                                      "fire service, Croix-Rouge), not to the centre."), field="agency")
        if unit is None or agency.pk != unit.agency_id:
            if unit is not None and _busy(unit):
                raise UnitBusy(gettext("%(callsign)s is engaged: it changes agency once available again.")
                               % {"callsign": unit.callsign}, field="agency")
            changes["agency"] = agency
    if retired is not KEEP and unit is not None and bool(retired) != unit.retired:
        if retired and _busy(unit):
            raise UnitBusy(gettext("%(callsign)s is engaged: set it available before retiring it.")
                           % {"callsign": unit.callsign}, field="retired")
        changes["retired"] = bool(retired)
    new_agency = changes.get("agency", getattr(unit, "agency", None))
    will_be_retired = changes.get("retired", unit.retired if unit is not None else False)
    current = unit.member if unit is not None and unit.member_id else None
    if member is KEEP and current is not None and "agency" in changes:
        member = current  # its driver must belong to the new agency too
    if will_be_retired and member is not KEEP and member is not None and member == current:
        member = KEEP  # retiring takes the tablet back (the admin's form still names its driver)
    if member is not KEEP and member is not None:
        name = member.user.get_username()
        if will_be_retired and unit is not None:  # only an existing unit is retired
            raise retired_refusal(unit, "member")
        if member.role != Role.FIELD_UNIT:
            raise NotAFieldUnit(gettext("%(member)s is not a field unit member: only a field unit account "
                                        "drives a unit's tablet.") % {"member": name}, field="member")
        if new_agency is not None and member.agency_id != new_agency.pk:
            raise MemberOfAnotherAgency(
                gettext("%(member)s belongs to %(member_agency)s, not to %(agency)s.")
                % {"member": name, "member_agency": member.agency.name, "agency": new_agency.name},
                field="member")
        other = _other_units(unit).filter(member=member, retired_at__isnull=True).first()
        if other is not None:
            raise MemberHasAUnit(
                gettext("%(member)s already drives %(callsign)s: take that tablet back first.")
                % {"member": name, "callsign": other.callsign}, field="member")
    if will_be_retired and member is KEEP:
        member = None  # a retired unit has no tablet
    if member is not KEEP and getattr(member, "pk", None) != getattr(current, "pk", None):
        changes["member"] = member
    return changes


def _may_manage(by: Member | None) -> None:
    # ``by`` None is the server's shell (create_unit, load_demo): whoever runs it runs the hub.
    if by is not None and not may_manage_units(by):
        raise NotAllowed(gettext("Only the centre's supervisors and administrators manage field units."))


def _unit_saved(unit: Unit, *, creating: bool) -> None:
    # Checked just before, but two supervisors may race: the unique constraints decide.
    try:
        with transaction.atomic():
            unit.save(force_insert=creating)
    except IntegrityError as exc:
        if Unit.objects.filter(callsign=unit.callsign).exclude(pk=unit.pk).exists():
            raise CallsignTaken(gettext("The callsign %(callsign)s is already taken.")
                                % {"callsign": unit.callsign}, field="callsign") from exc
        raise MemberHasAUnit(gettext("This member already drives another unit."), field="member") from exc


def _unit_changed(unit: Unit, changes: list[str], *, by: Member | None,
                  previous: Member | None = None, former_agency: Agency | None = None) -> None:
    publish(UnitUpdated(unit=unit_data(unit), changes=[c for c in UNIT_CHANGES if c in changes]),
            audience=unit_audience(unit, former_agency=former_agency))
    if "member" not in changes:
        return
    # Their sockets join (or leave) the unit's group.
    for user_id in {m.user_id for m in (previous, unit.member) if m is not None}:
        sockets_rescope(user_id)
    audit(action=Action.RIGHTS_CHANGED, actor=by.user if by is not None else None, obj=unit,
          actor_username="" if by is not None else "manage.py",
          details={"unit": unit.callsign, "agency": unit.agency.code,
                   "member": unit.member.user.get_username() if unit.member is not None else "",
                   "previous_member": previous.user.get_username() if previous is not None else ""})


@transaction.atomic
def unit_create(*, by: Member | None, callsign: str, agency: Agency, member: Member | None = None) -> Unit:
    """A field unit of ``agency``, with its direct line; ``member`` (a field unit of the same
    agency who drives no other unit) gets its tablet. ``by``: a supervisor or an administrator
    of the centre, or None for the server's shell."""
    _may_manage(by)
    changes = unit_changes_check(unit=None, callsign=callsign, agency=agency, member=member)
    unit = Unit(callsign=changes["callsign"], agency=changes["agency"], member=changes.get("member"))
    _unit_saved(unit, creating=True)
    net_for_unit(unit)
    net_for_agency(unit.agency)
    _unit_changed(unit, ["created", *(["member"] if unit.member_id else [])], by=by)
    return unit


@transaction.atomic
def unit_update(*, by: Member | None, unit: Unit, callsign: Any = KEEP, agency: Any = KEEP,
                member: Any = KEEP, retired: Any = KEEP, now: dt.datetime | None = None) -> Unit:
    """Rename the unit, move it to another agency, hand its tablet to ``member`` (``None``: take
    it back), retire it (``retired=True``: it leaves every list, keeps its history, loses its
    tablet) or reinstate it. One event, ``unit.updated``, tells the consoles and tablets.
    Same rights and refusals as ``unit_create`` (``unit_changes_check``); nothing is written
    when one is refused."""
    _may_manage(by)
    unit = (Unit.objects.select_for_update(of=("self",), no_key=True)
            .select_related("agency", "member__user", "member__agency").get(pk=unit.pk))
    changes = unit_changes_check(unit=unit, callsign=callsign, agency=agency, member=member, retired=retired)
    if not changes:
        return unit
    previous, former_agency = unit.member if unit.member_id else None, None
    said = list(changes)
    if "callsign" in changes:
        unit.callsign = changes["callsign"]
        Net.objects.filter(unit=unit, kind=NetKind.DIRECT).update(name=f"Ligne directe {unit.callsign}")
    if "agency" in changes:
        former_agency, unit.agency = unit.agency, changes["agency"]
        net_for_agency(unit.agency)
    if "retired" in changes:
        unit.retired_at = (now or timezone.now()) if changes["retired"] else None
        if not changes["retired"]:
            said[said.index("retired")] = "reinstated"
    if "member" in changes:
        unit.member = changes["member"]
    unit.updated_at = now or timezone.now()
    _unit_saved(unit, creating=False)
    _unit_changed(unit, said, by=by, previous=previous, former_agency=former_agency)
    return unit


def _drives(member: Member, unit: Unit) -> bool:
    return member.role == Role.FIELD_UNIT and unit.member_id == member.pk


@transaction.atomic
def unit_status_set(*, unit: Unit, status: str, member: Member) -> Unit:
    """Change the unit's status, for its own tablet or the centre; while engaged, the
    incident's journal records it. Back to available ends its engagement."""
    if not (member.is_centre_staff or _drives(member, unit)):
        raise NotAllowed(gettext("Only the unit itself (or the centre) reports this."))
    return unit_status_write(unit=unit, status=status, user=member.user)


def unit_status_write(*, unit: Unit, status: str, user: User) -> Unit:
    """The change of :func:`unit_status_set`, once the caller's rights are checked (a Croix-Rouge
    desk sends its unit to an alert: ``alert_take_charge``); ``user`` signs the journal line."""
    if status not in UnitStatus.values:
        raise DomainError(gettext("Unknown status: %(status)s.") % {"status": status}, field="status")
    unit = (Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency", "incident")
            .get(pk=unit.pk))
    if unit.retired:
        raise retired_refusal(unit, "unit")
    if unit.status == status:
        return unit
    previous, incident = unit.status, unit.incident
    unit.status = status
    if status == UnitStatus.AVAILABLE:
        unit.incident = None
    _announce_unit(unit)
    if incident is not None:
        text = f"{unit.callsign} : {UnitStatus(previous).label} → {UnitStatus(status).label}"
        journal_line_write(incident=incident, user=user, kind=JournalKind.UNIT, text=text)
    return unit


def _distance_m(a: Point, b: Point) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _speed_check(fix_point: Point, fix_at: dt.datetime, point: Point, at: dt.datetime) -> None:
    limit = settings.HUB_UNIT_MAX_SPEED_KMH / 3.6
    seconds = abs((at - fix_at).total_seconds())
    metres = _distance_m(fix_point, point)
    # A GPS jitters by some tens of metres even standing still.
    if metres > 50 and metres / max(seconds, 1.0) > limit:
        raise ImplausiblePosition(
            gettext("%(metres)s m in %(seconds)s s from the fix of %(at)s: faster than %(speed)s km/h.")
            % {"metres": formats.number_format(metres, 0), "seconds": formats.number_format(seconds, 0),
               "at": formats.date_format(timezone.localtime(fix_at), "DATETIME_FORMAT"),
               "speed": formats.number_format(settings.HUB_UNIT_MAX_SPEED_KMH)}, field="position")


def _check_speed(unit: Unit, point: Point, at: dt.datetime) -> None:
    """Against the neighbouring fixes. A fix newer than the unit's latest has one neighbour,
    the latest, which the unit row carries (no query)."""
    if unit.position_at is None or at > unit.position_at:
        neighbours = [(unit.position, unit.position_at)] if unit.position is not None else []
    else:
        before = unit.positions.filter(at__lte=at).order_by("-at").first()
        after = unit.positions.filter(at__gt=at).order_by("at").first()
        neighbours = [(fix.point, fix.at) for fix in (before, after) if fix is not None]
    for fix_point, fix_at in neighbours:
        if fix_at is not None:
            _speed_check(fix_point, fix_at, point, at)


def _position_checks(point: Point, at: dt.datetime, now: dt.datetime) -> None:
    in_area(point, "position")
    if at > now + dt.timedelta(seconds=60):
        raise DomainError(gettext("This position is dated in the future."), field="at")
    if at < now - dt.timedelta(hours=24):
        raise DomainError(gettext("This position is more than a day old."), field="at")


def _position_write(unit: Unit, point: Point, at: dt.datetime, accuracy_m: float | None) -> UnitPosition:
    """Store a fix newer than the unit's latest, move the unit and tell the screens."""
    fix = UnitPosition.objects.create(unit=unit, at=at, point=point, accuracy_m=accuracy_m)
    unit.position, unit.position_at = point, at
    unit.save(update_fields=["position", "position_at"])
    publish(_position_event(unit, point, at), audience=unit_audience(unit))
    return fix


@transaction.atomic
def unit_position_report(*, member: Member, unit: Unit, point: Point, at: dt.datetime | None = None,
                         accuracy_m: float | None = None, now: dt.datetime | None = None) -> UnitPosition:
    """Record a position the unit's tablet (``member`` drives the unit) reports, at ``at`` (a
    queued report comes late).

    Refused: outside the service area, in the future, more than a day old, or implying a
    speed above ``HUB_UNIT_MAX_SPEED_KMH`` from the neighbouring fixes. The same fix twice is
    kept once. Only a fix newer than the last one moves the unit on the map.
    """
    if not _drives(member, unit):
        raise NotAllowed(gettext("Only the unit itself (or the centre) reports this."))
    now = now or timezone.now()
    at = at or now
    _position_checks(point, at, now)
    unit = Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency").get(pk=unit.pk)
    if unit.retired:
        raise retired_refusal(unit, "unit")
    if unit.position_at is None or at > unit.position_at:
        # The usual case, a fix newer than the latest: no fix at that time yet, no query needed.
        _check_speed(unit, point, at)
        return _position_write(unit, point, at, accuracy_m)
    same = unit.positions.filter(at=at).first()
    if same is not None and same.point.equals_exact(point, 1e-7):
        return same
    _check_speed(unit, point, at)
    return UnitPosition.objects.create(unit=unit, at=at, point=point, accuracy_m=accuracy_m)


# --- Positions over the tablet's socket (realtime.inbound, incidents.inbound): latest wins.


@dataclass(eq=False)
class PositionReport:
    """A position a tablet sent on its socket, waiting to be written; ``reply`` is the frame
    that answers it (ack or error), set once it is written, dropped, refused or superseded."""

    user_id: int
    key: str
    request_hash: str
    point: Point
    at: dt.datetime
    accuracy_m: float | None
    reply: dict | None = None
    # The same message sent again (same key, same content) while this one waited: they get its
    # answer, marked replayed, as they would once it is written.
    repeats: list[PositionReport] = field(default_factory=list)

    def repeats_answered(self) -> list[PositionReport]:
        """Give this report's answer to its repeats; returns them."""
        for repeat in self.repeats:
            repeat.reply = None if self.reply is None else dict(self.reply, replayed=True)
        return self.repeats

    def ack(self, result: str, unit_id: int | None = None) -> dict:
        return {"type": "ack", "id": self.key, "unit": unit_id, "at": local_iso(self.at), "result": result}

    def error(self, code: str, detail: Any) -> dict:
        return {"type": "error", "id": self.key, "error": code, "detail": detail}


# The most positions one batch writes (one per tablet): bounds the statements' size.
POSITION_BATCH = 500


def _position_event(unit: Unit, point: Point, at: dt.datetime) -> UnitPositionReported:
    return UnitPositionReported(unit_id=unit.pk, callsign=unit.callsign,
                                position=PointData(coordinates=(round(point.x, 7), round(point.y, 7))),
                                at=local_iso(at))


def _areas_and_keys(reports: Sequence[PositionReport]) -> list[tuple[bool, str | None, Any]]:
    """For each report, in order: whether its point is in the service area, and the request hash
    and answer kept for its key (None when the key is new). One statement for the batch."""
    rows = ", ".join(["(%s::int, %s::int, %s::text, %s::float8, %s::float8)"] * len(reports))
    params: list[Any] = []
    for n, report in enumerate(reports):
        params += [n, report.user_id, report.key, report.point.x, report.point.y]
    sql = (f"SELECT EXISTS (SELECT 1 FROM {Commune._meta.db_table} c WHERE ST_Covers(c.boundary, "
           "ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326))), k.request_hash, k.response "
           f"FROM (VALUES {rows}) AS r(n, user_id, key, lon, lat) "
           f"LEFT JOIN {IdempotencyRecord._meta.db_table} k ON k.user_id = r.user_id AND k.key = r.key "
           "ORDER BY r.n")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(bool(area), hash_, answer) for area, hash_, answer in cursor.fetchall()]


@transaction.atomic
def _positions_live_write(reports: Sequence[PositionReport]) -> dict[PositionReport, dict]:
    """The batch's transaction; returns each report's answer (given only once it has committed)."""
    units = {unit.member.user_id: unit for unit in (  # type: ignore[union-attr]  # filtered on it
        Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency", "member")
        .filter(member__user_id__in=[r.user_id for r in reports], member__user__is_active=True,
                member__role=Role.FIELD_UNIT, retired_at__isnull=True)
        .order_by("pk"))}  # every writer locks units in id order: two batches never deadlock
    replies: dict[PositionReport, dict] = {}
    fixes: list[UnitPosition] = []
    moved: list[Unit] = []
    events: list[tuple[UnitPositionReported, Audience]] = []
    keys: list[IdempotencyRecord] = []
    for report, (in_area_, seen_hash, seen_answer) in zip(reports, _areas_and_keys(reports), strict=True):
        unit = units.get(report.user_id)
        try:
            if unit is None:
                raise NotAllowed(gettext("Only a field unit driving a unit in service reports its position."))
            if seen_hash is not None:
                if seen_hash != report.request_hash:
                    raise IdempotencyKeyReused(gettext("This request was already sent with another content."))
                answer = seen_answer if isinstance(seen_answer, dict) else json.loads(seen_answer)
                replies[report] = dict(answer, replayed=True)
                continue
            if not in_area_:
                raise OutsideServiceArea(gettext("This location is outside the service area."),
                                         field="position")
            if unit.position_at is not None and report.at <= unit.position_at:
                reply = report.ack("dropped", unit.pk)
            else:
                _check_speed(unit, report.point, report.at)
                fixes.append(UnitPosition(unit=unit, at=report.at, point=report.point,
                                          accuracy_m=report.accuracy_m))
                unit.position, unit.position_at = report.point, report.at
                moved.append(unit)
                events.append((_position_event(unit, report.point, report.at), unit_audience(unit)))
                reply = report.ack("stored", unit.pk)
        except DomainError as exc:  # refused: nothing written for it, its key not kept
            replies[report] = report.error(exc.code, exc.as_detail())
            continue
        keys.append(IdempotencyRecord(user_id=report.user_id, key=report.key,
                                      request_hash=report.request_hash, status_code=200, response=reply))
        replies[report] = reply
    if fixes:
        UnitPosition.objects.bulk_create(fixes)
        Unit.objects.bulk_update(moved, ["position", "position_at"])
        publish_many(events)
    if keys:
        IdempotencyRecord.objects.bulk_create(keys)
    return replies


def unit_positions_live(reports: Sequence[PositionReport], *, now: dt.datetime | None = None) -> None:
    """Write positions field units' tablets sent on their sockets, at most one per tablet (a
    batch of the coalescer), and set each report's ``reply``: the ack or the refusal.

    Each report gets what :func:`unit_position_report` would do with it: the unit its member
    drives, the same checks and the same ``unit.position`` event; its ``Idempotency-Key`` (the
    message's ``id``) is kept with the answer, so the same message twice is one position and one
    answer. A fix not newer than the unit's latest is dropped (acknowledged, not refused, not
    stored): a live position that arrives late has been overtaken. A refused report writes
    nothing; the others are written all the same.

    One transaction and the same statements whatever the number of tablets: the units locked
    (through their drivers, the members' checks in it), the points' service area and the keys
    seen, then the fixes, the units moved, the outbox (two), the keys' answers. The same key at
    once from two processes: the second insert of the key fails, the batch is asked again and
    answers the first one's answer; a batch that fails again is written one report at a time.
    """
    now = now or timezone.now()
    pending = []
    for report in reports:
        if report.at > now + dt.timedelta(seconds=60):
            report.reply = report.error("invalid", {"at": [gettext("This position is dated in the future.")]})
        elif report.at < now - dt.timedelta(hours=24):
            report.reply = report.error("invalid", {"at": [gettext("This position is more than a day old.")]})
        else:
            pending.append(report)

    def written(batch: list[PositionReport]) -> bool:
        """Write ``batch``; False when a key of it was written meanwhile by another process."""
        try:
            replies = _positions_live_write(batch)
        except IntegrityError:
            return False
        for report, reply in replies.items():
            report.reply = reply
        return True

    try:
        if pending and not (written(pending) or written(pending)):
            for report in pending:
                if not written([report]):
                    written([report])
    except Exception as exc:
        if not pool_exhausted(exc):
            log.exception("%d positions not written", len(pending))
        else:  # nothing written; logged once, counted, as every refusal for want of a connection
            pool_exhausted_note("websocket", f"{len(pending)} positions")
            for report in pending:
                if report.reply is None:
                    report.reply = report.error("saturated", str(POOL_EXHAUSTED_DETAIL))
    for report in pending:
        if report.reply is None:
            report.reply = report.error("unavailable", gettext(
                "The hub could not record this position; send it again."))


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422


class PositionCoalescer:
    """Latest wins, per tablet (a field-unit member drives one unit): a position offered while
    an older one of the same tablet still waits replaces it (the older one is answered
    "superseded", never written); one offered older than the one waiting is superseded at
    once. The same message again while it waits (its key) is not queued twice: it gets the
    waiting one's answer, replayed (another content under that key is refused, as once written).
    :meth:`take` hands what waits to the writer, a batch of one report per tablet. Across
    batches and processes the unit's row lock orders the writes, and a fix older than the
    unit's latest is dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, PositionReport] = {}

    def offer(self, report: PositionReport) -> PositionReport | None:
        """Queue ``report``. Returns the report this answered "superseded" (the older one that
        waited, or ``report`` itself when it is older than the one waiting), or None."""
        with self._lock:
            waiting = self._waiting.get(report.user_id)
            if waiting is not None and waiting.key == report.key:
                if waiting.request_hash != report.request_hash:
                    refusal = IdempotencyKeyReused(
                        gettext("This request was already sent with another content."))
                    report.reply = report.error(refusal.code, refusal.as_detail())
                    return report
                waiting.repeats.append(report)
                return None
            if waiting is not None and report.at < waiting.at:
                report.reply = report.ack("superseded")
                return report
            if waiting is not None:
                waiting.reply = waiting.ack("superseded")
            self._waiting[report.user_id] = report
            return waiting

    def take(self, limit: int = POSITION_BATCH) -> list[PositionReport]:
        """What waits (at most ``limit`` tablets, the longest waiting first), no longer waiting."""
        with self._lock:
            users = list(self._waiting)[:limit]
            return [self._waiting.pop(user_id) for user_id in users]

    def flush(self) -> None:
        """Write everything waiting now, in batches, here (synchronous: tests, benchmarks)."""
        while batch := self.take():
            unit_positions_live(batch)
            for report in batch:
                report.repeats_answered()


@transaction.atomic
def unit_engage(*, unit: Unit, incident: Incident, member: Member) -> Unit:
    """Engage the unit on the incident (journalled): the incident is shared with the unit's
    agency if it was not, an open incident becomes engaged, the unit goes en route. The centre's
    staff only."""
    centre_staff_required(member)
    unit = Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency").get(pk=unit.pk)
    if unit.retired:
        raise retired_refusal(unit, "unit")
    incident = incident_locked(incident, None)  # the caller's copy may be stale
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot engage a unit."), field="incident")
    if unit.status == UnitStatus.UNAVAILABLE:
        raise Conflict(gettext("%(callsign)s is unavailable.") % {"callsign": unit.callsign}, field="unit")
    if unit.incident_id == incident.pk:
        return unit
    if not incident.shared_with.filter(pk=unit.agency_id).exists():
        incident = incident_share(incident=incident, agency_code=unit.agency.code, member=member)
    net_for_incident(incident)
    if incident.status == IncidentStatus.OPEN:
        incident = incident_transition(incident=incident, status=IncidentStatus.ENGAGED, member=member)
    unit.incident = incident
    unit.status = UnitStatus.EN_ROUTE
    unit.updated_at = timezone.now()
    unit.save()
    publish(UnitEngaged(unit=unit_data(unit), incident_id=incident.pk, reference=incident.reference),
            audience=incident_audience(incident) | unit_audience(unit))
    journal_line_write(incident=incident, user=member.user, kind=JournalKind.UNIT,
                       text=f"Unité {unit.callsign} engagée ({unit.agency.name})")
    return unit


