"""Recorder nodes: several ``manage.py record --node NAME`` processes share the cameras through
leases in PostgreSQL (docs/recordings.md, « Nœuds d'enregistrement »). Video nodes
(``manage.py video --node NAME``, ``streaming.video_nodes``) share theirs the same way, role
``video``.

Each camera to record has one :class:`~streaming.models.CameraLease` row per role. A node
joins under a name (refused while another live node holds it), then every
``HUB_NODE_RENEW_SECONDS`` renews its row and its leases and rebalances: it takes free or
expired leases (``SELECT … FOR UPDATE SKIP LOCKED``: two nodes never take the same row) up to
its fair share, and gives back what it holds beyond it. The nodes of a role rebalance one at a
time (a transaction-level advisory lock, held for the few milliseconds of a rebalance): each
counts the shares after the previous one's takes, so two survivors of a lost node never both
take a camera beyond their share, which one would give back a round later (the camera would
move twice, with a hand-over gap each time).

The fair share of a node is ``cameras × weight / sum of the live nodes' weights``, a band
from its floor to its ceiling. A node takes up to the ceiling, gives back what it holds
beyond the ceiling, and gives back down to the floor only while another live node is below
its own floor and no free lease is left for it: a node inside its band moves nothing, so
repeated rebalances settle and do not flap (two nodes of 5 cameras each do not trade a
camera back and forth; a third node joining gets 3 or 4, not 0).

A node that stops renewing for ``HUB_NODE_LEASE_SECONDS`` is *lost*: the next node (or the
``streaming.nodes_check`` task) to look announces ``node.lost`` and the others take its
cameras at their next rebalance. A camera with a plan that no live node has held for
``HUB_NODE_ALARM_SECONDS`` raises ``camera.unrecorded``, and ``camera.recorded`` once held again.

Every function takes ``now`` (the caller's clock), so the tests control time. The nodes'
clocks must agree (NTP): a skew between machines eats into the lease timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, close_old_connections, connection, transaction
from django.db.models import Case, Count, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from cameras.models import Camera
from config.errors import Conflict, DomainError
from realtime import audiences
from realtime.events import local_iso
from realtime.services import publish
from streaming.events import (
    CameraRecorded,
    CameraRef,
    CameraUnrecorded,
    NodeJoined,
    NodeLeft,
    NodeLost,
    node_data,
)
from streaming.models import CameraLease, Node, NodeRole, Viewing
from streaming.services import viewings_orphaned_end

log = logging.getLogger(__name__)

MAX_WEIGHT = 1000
# One PostgreSQL advisory lock per role: the nodes of a role rebalance one at a time.
REBALANCE_LOCKS = {"record": 7_240_020, "video": 7_240_021}
# A role's work may also be done by one process without leases (``manage.py record`` without
# ``--node`` records every camera itself): it holds this advisory lock, exclusive and at session
# level, for its life; a node of the role joins under the same lock, shared and for the join's
# transaction. So the two kinds never run together, whichever starts first.
SOLO_LOCKS = {"record": 7_240_022}
SOLO_APPLICATION = "csu-solo"


class NodeNameTaken(Conflict):
    """Another live node already runs under this name."""

    code = "node_name_taken"


class NodeGone(Conflict):
    """This process is no longer the node it joined as (declared lost, left, or replaced)."""

    code = "node_gone"


class RoleKindsClash(Conflict):
    """A node of a role and a process doing the role's work without leases would both do it."""

    code = "role_kinds_clash"


def _seconds(name: str) -> float:
    return float(getattr(settings, name))


def _cutoff(now: dt.datetime) -> dt.datetime:
    """Renewed before this, a node or a lease is no longer live."""
    return now - dt.timedelta(seconds=_seconds("HUB_NODE_LEASE_SECONDS"))


def node_is_live(node: Node, now: dt.datetime) -> bool:
    return node.left_at is None and node.lost_at is None and node.last_seen >= _cutoff(now)


def live_nodes(role: str, now: dt.datetime) -> QuerySet[Node]:
    return Node.objects.filter(role=role, left_at__isnull=True, lost_at__isnull=True,
                               last_seen__gte=_cutoff(now))


@dataclass(frozen=True)
class RoleWork:
    """What the nodes of a role do with the cameras they hold, told by the app that owns the work
    (the recordings app registers the recorders' when it starts): this module shares cameras out
    and knows no recording."""

    # The ids of the cameras the role must hold (for the recorders: every camera set to record).
    cameras: Callable[[], Iterable[int]]
    # Start working on a camera just taken: a started thread that ends once the event is set.
    start: Callable[[Camera, threading.Event], threading.Thread]


_ROLES: dict[str, RoleWork] = {}


def node_role_register(role: str, work: RoleWork) -> None:
    """Say what the nodes of ``role`` do (called by the owning app's ``ready``)."""
    _ROLES[role] = work


def wanted_cameras(role: str) -> set[int]:
    """The cameras a role must hold: for the video nodes, every camera with a live source
    (``streaming.video_nodes``); for another role, what the app that registered its work says
    (none while no app did)."""
    if role == NodeRole.VIDEO:
        from streaming.video_nodes import video_cameras

        return set(video_cameras().values_list("pk", flat=True))
    work = _ROLES.get(role)
    return set(work.cameras()) if work is not None else set()


def _node_of(node: Node) -> QuerySet[Node]:
    """This node's row, only while this process is still that node."""
    return Node.objects.filter(pk=node.pk, session=node.session, left_at__isnull=True, lost_at__isnull=True)


def _codes(node: Node) -> list[str]:
    return list(CameraLease.objects.filter(node=node).values_list("camera__code", flat=True))


# --- Joining, renewing, leaving ------------------------------------------------------------------


def node_join(*, name: str, role: str = NodeRole.RECORD, weight: int = 1, now: dt.datetime | None = None,
              host: str | None = None, pid: int | None = None) -> Node:
    """Register this process as node ``name``; refused while another live node runs under it.

    A name whose node stopped (left, lost, or silent for the lease timeout) is taken over: the
    leases its old process still had are freed, and a new ``session`` makes the old process,
    if it comes back, unable to renew anything (:class:`NodeGone`).
    """
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError(_("A node needs a name of 1 to 100 characters."), field="name")
    if role not in NodeRole.values:
        raise DomainError(_("Unknown node role."), field="role")
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise DomainError(_("A node's capacity weight is a whole number from 1 to 1000."), field="weight")
    now = now or timezone.now()
    try:
        with transaction.atomic():
            _solo_absent(role)
            node = Node.objects.select_for_update().filter(name=name).first()
            if node is not None and node_is_live(node, now):
                age = (now - node.last_seen).total_seconds()
                raise NodeNameTaken(_(
                    "A live node already runs under the name « %(name)s » (host %(host)s, process "
                    "%(pid)s, seen %(age)s s ago): choose another name, or stop that one first.")
                    % {"name": name, "host": node.host or "?", "pid": node.pid or "?", "age": round(age)})
            if node is None:
                node = Node(name=name)
            else:
                CameraLease.objects.filter(node=node).update(node=None)
                _viewings_of_dead_node_end(node)
            node.role, node.weight, node.session = role, weight, uuid.uuid4().hex
            node.host = (host if host is not None else socket.gethostname())[:255]
            node.pid = pid if pid is not None else os.getpid()
            node.started_at = node.last_seen = now
            node.left_at = node.lost_at = None
            node.save()
            publish(NodeJoined(node=node_data(node, [])), audience=audiences.centre())
    except IntegrityError as exc:  # another process created the same name at the same moment
        raise NodeNameTaken(_("A live node already runs under the name « %(name)s »: choose another "
                              "name, or stop that one first.") % {"name": name}) from exc
    return node


def _solo_absent(role: str) -> None:
    """In a join's transaction: refuse while a process does the role's work without leases."""
    if role not in SOLO_LOCKS:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock_shared(%s)", [SOLO_LOCKS[role]])
        (free,) = cursor.fetchone()
    if not free:
        raise RoleKindsClash(_(
            "A recorder without --node runs against this database (%(who)s): it records every "
            "camera itself, so a recorder node would record them a second time. Stop it first, or "
            "run every recorder with --node.") % {"who": solo_holder(role) or "?"})


def solo_holder(role: str) -> str | None:
    """Who holds the role's lock without leases (``host H, process P``), or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.mode = 'ExclusiveLock' AND l.granted "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = %s AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())", [SOLO_LOCKS[role]])
        row = cursor.fetchone()
    if row is None:
        return None
    parts = (row[0] or "").split()
    if len(parts) == 3 and parts[0] == SOLO_APPLICATION:
        return _("host %(host)s, process %(pid)s") % {"host": parts[1], "pid": parts[2]}
    return "?"


class SoloHold:
    """What a process doing a role's work without leases holds for its life (:func:`solo_start`):
    its own database connection, whose session holds the lock. ``release()`` at its end; a process
    that dies releases it with its connection."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw

    def release(self) -> None:
        try:
            self._raw.close()
        except Exception:  # noqa: BLE001 - a connection already gone released the lock with it
            pass


def solo_start(role: str, *, now: dt.datetime | None = None) -> SoloHold:
    """Register this process as doing the work of ``role`` without leases (the plain recorder).
    Refused (:class:`RoleKindsClash`) while another one does, or while a live node of the role
    runs (it would do the same work a second time)."""
    now = now or timezone.now()
    base = connection
    raw = base.get_new_connection(base.get_connection_params())
    raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            # Visible in pg_stat_activity, for the refusals to say who holds the lock.
            label = f"{SOLO_APPLICATION} {socket.gethostname()} {os.getpid()}"[:63]
            cursor.execute("SELECT set_config('application_name', %s, false)", [label])
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SOLO_LOCKS[role]])
            (taken,) = cursor.fetchone()
        if not taken:
            raise RoleKindsClash(_(
                "Another recorder without --node, or a recorder node joining, runs against this "
                "database (%(who)s): the cameras would be recorded twice.")
                % {"who": solo_holder(role) or _("a node joining")})
        # Taken: no node can join now; those that joined before are seen (their join committed).
        names = list(live_nodes(role, now).values_list("name", flat=True))
        if names:
            raise RoleKindsClash(_(
                "Recorder nodes run against this database (%(names)s): they share the cameras, so "
                "a recorder without --node would record them a second time. Stop them first, or "
                "run this recorder with --node.") % {"names": ", ".join(names)})
    except BaseException:
        SoloHold(raw).release()
        raise
    return SoloHold(raw)


def node_heartbeat(node: Node, *, now: dt.datetime | None = None) -> set[int]:
    """Renew the node's row and every lease it still holds; the ids of the cameras it holds.

    Raises :class:`NodeGone` when the node was declared lost, left, or joined again elsewhere:
    the process must stop recording and join again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        if not _node_of(node).update(last_seen=now):
            raise NodeGone(_("The node « %(name)s » is no longer this process: it was declared lost or "
                             "replaced.") % {"name": node.name})
        node.last_seen = now
        held = CameraLease.objects.filter(node=node, role=node.role)
        held.update(renewed_at=now)
        return set(held.values_list("camera_id", flat=True))


def node_leave(node: Node, *, now: dt.datetime | None = None) -> list[str]:
    """A clean stop: the node gives back every camera at once (the others take them at their next
    rebalance) and says so (``node.left``). The codes of the cameras it gave back."""
    now = now or timezone.now()
    with transaction.atomic():
        if not _node_of(node).update(left_at=now, last_seen=now):
            return []
        node.left_at = node.last_seen = now
        codes = _codes(node)
        CameraLease.objects.filter(node=node).update(node=None, renewed_at=now)
        publish(NodeLeft(node=node_data(node, codes)), audience=audiences.centre())
        return codes


def nodes_sweep(role: str = NodeRole.RECORD, *, now: dt.datetime | None = None) -> list[str]:
    """Declare lost the nodes that stopped renewing (``node.lost``, once each); their names."""
    now = now or timezone.now()
    lost = []
    with transaction.atomic():
        stale = Node.objects.select_for_update(skip_locked=True).filter(
            role=role, left_at__isnull=True, lost_at__isnull=True, last_seen__lt=_cutoff(now))
        for node in stale:
            node.lost_at = now
            node.save(update_fields=["lost_at"])
            _viewings_of_dead_node_end(node)
            publish(NodeLost(node=node_data(node, _codes(node))), audience=audiences.centre())
            log.warning("node %s lost (last seen %s)", node.name, node.last_seen)
            lost.append(node.name)
    return lost


def _viewings_of_dead_node_end(node: Node) -> None:
    """The viewings a video node still had open when it died (killed, machine lost) end at its last
    sign of life, journalled once each (``node_lost``): the journal shows no viewing without end,
    and a late hang-up of one is answered as done."""
    if node.role != NodeRole.VIDEO or not node.session:
        return
    closed = viewings_orphaned_end(Viewing.objects.filter(node_session=node.session),
                                   ended_at=node.last_seen, reason="node_lost")
    if closed:
        log.warning("node %s: %d viewings closed at its last sign of life (%s)", node.name, len(closed),
                    node.last_seen)


def leases_ensure(role: str, *, now: dt.datetime) -> int:
    """One lease row per camera the role must hold (free when new); rows of cameras no longer
    wanted are dropped (their holder stops at its next renewal). The number of cameras."""
    wanted = wanted_cameras(role)
    existing = set(CameraLease.objects.filter(role=role).values_list("camera_id", flat=True))
    if wanted - existing:
        CameraLease.objects.bulk_create(
            [CameraLease(camera_id=pk, role=role, acquired_at=now, renewed_at=now)
             for pk in sorted(wanted - existing)],  # in order: two nodes inserting never deadlock
            ignore_conflicts=True)
    if existing - wanted:
        CameraLease.objects.filter(role=role, camera_id__in=existing - wanted).delete()
    return len(wanted)


# --- Rebalancing --------------------------------------------------------------------------------


@dataclass
class Balance:
    """What a rebalance left this node with."""

    held: set[int]
    taken: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    # Taken from a node that had stopped renewing: camera id → that node's name.
    taken_over: dict[int, str] = field(default_factory=dict)


def fair_share(total: int, weight: int, weights: int) -> tuple[int, int]:
    """The band ``(floor, ceiling)`` of cameras a node of ``weight`` should hold."""
    if weights <= 0:
        return 0, total
    share = total * weight / weights
    return math.floor(share + 1e-9), math.ceil(share - 1e-9)


def rebalance(node: Node, *, now: dt.datetime | None = None, busy: Iterable[int] = ()) -> Balance:
    """Renew the node (:func:`node_heartbeat`), declare lost the silent nodes, then take free or
    expired leases up to the node's fair share and give back what it holds beyond it: the
    cameras not in ``busy`` first (a video node's cameras that people watch stay with it)."""
    now = now or timezone.now()
    cutoff = _cutoff(now)
    role = node.role
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REBALANCE_LOCKS[role]])
        node_heartbeat(node, now=now)
        nodes_sweep(role, now=now)
        total = leases_ensure(role, now=now)
        live = list(live_nodes(role, now))
        if node.pk not in {n.pk for n in live}:
            live.append(node)
        weights = sum(n.weight for n in live)
        counts = dict(CameraLease.objects.filter(role=role, node__in=live, renewed_at__gte=cutoff)
                      .values("node").annotate(n=Count("pk")).values_list("node", "n"))
        free_rows = CameraLease.objects.filter(role=role).filter(
            Q(node__isnull=True) | Q(renewed_at__lt=cutoff))
        free = free_rows.count()
        low, high = fair_share(total, node.weight, weights)
        mine = counts.get(node.pk, 0)
        # How many cameras the other live nodes lack to reach their floor.
        short = sum(max(0, fair_share(total, n.weight, weights)[0] - counts.get(n.pk, 0))
                    for n in live if n.pk != node.pk)
        balance = Balance(held=set())
        if mine > high:
            balance.released = _release(node, mine - high, now, busy)
        elif mine > low and short > free:
            balance.released = _release(node, min(mine - low, short - free), now, busy)
        elif mine < high and free:
            # Up to the floor first; beyond it (up to the ceiling) only what the other nodes below
            # their floor do not need: a node that took up to its ceiling would have to give a
            # camera back a round later, and that camera would move twice.
            below = max(0, low - mine)
            want = below + min(high - max(mine, low), max(0, free - below - short))
            if want:
                _take(node, free_rows, want, now, balance)
        balance.held = set(CameraLease.objects.filter(node=node, role=role)
                           .values_list("camera_id", flat=True))
    return balance


def _release(node: Node, count: int, now: dt.datetime, busy: Iterable[int] = ()) -> list[int]:
    """Give back ``count`` leases, those of cameras not ``busy`` first, then the most recently taken
    first (the others stay where they are)."""
    rows = CameraLease.objects.filter(node=node, role=node.role).order_by("-acquired_at", "-camera_id")
    busy = list(busy)
    if busy:  # (an empty list would make the CASE a constant, which PostgreSQL reads as a position)
        rows = rows.annotate(busy=Case(When(camera_id__in=busy, then=Value(1)), default=Value(0))
                             ).order_by("busy", "-acquired_at", "-camera_id")
    ids = list(rows.values_list("pk", "camera_id")[:count])
    CameraLease.objects.filter(pk__in=[pk for pk, _camera in ids]).update(node=None, renewed_at=now)
    return [camera for _pk, camera in ids]


def _take(node: Node, free_rows: QuerySet[CameraLease], count: int, now: dt.datetime,
          balance: Balance) -> None:
    rows = list(free_rows.exclude(node=node).select_for_update(skip_locked=True)
                .order_by("renewed_at", "camera_id")[:count])
    previous = dict(Node.objects.filter(pk__in={r.node_id for r in rows if r.node_id})
                    .values_list("pk", "name"))
    for row in rows:
        if row.node_id is not None:
            balance.taken_over[row.camera_id] = previous.get(row.node_id, "")
        if row.alarm_at is not None:
            publish(CameraRecorded(camera=_camera_ref(row.camera_id), role=row.role, node=node.name),
                    audience=audiences.centre())
        row.node, row.acquired_at, row.renewed_at, row.alarm_at = node, now, now, None
        row.save(update_fields=["node", "acquired_at", "renewed_at", "alarm_at"])
        balance.taken.append(row.camera_id)


def _camera_ref(camera_id: int) -> CameraRef:
    camera = Camera.objects.only("code", "name").get(pk=camera_id)
    return CameraRef(id=camera.pk, code=camera.code, name=camera.name)


# --- The alarm ----------------------------------------------------------------------------------


def unrecorded_check(role: str = NodeRole.RECORD, *, now: dt.datetime | None = None) -> list[str]:
    """Announce ``camera.unrecorded`` (once) for each camera to hold that no live node has held for
    ``HUB_NODE_ALARM_SECONDS``; the codes announced. Only while nodes of the role are in use (one
    has not left cleanly): a recorder run without ``--node`` records every camera without leases."""
    now = now or timezone.now()
    if not Node.objects.filter(role=role, left_at__isnull=True).exists():
        return []
    delay = max(_seconds("HUB_NODE_ALARM_SECONDS"), _seconds("HUB_NODE_LEASE_SECONDS"))
    since = now - dt.timedelta(seconds=delay)
    announced = []
    with transaction.atomic():
        leases_ensure(role, now=now)
        rows = (CameraLease.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("camera", "node")
                .filter(role=role, alarm_at__isnull=True, renewed_at__lt=since)
                .order_by("camera__code"))
        for row in rows:
            row.alarm_at = now
            row.save(update_fields=["alarm_at"])
            camera = CameraRef(id=row.camera.pk, code=row.camera.code, name=row.camera.name)
            publish(CameraUnrecorded(camera=camera, role=row.role, since=local_iso(row.renewed_at),
                                     node=row.node.name if row.node else None),
                    audience=audiences.centre())
            announced.append(row.camera.code)
    if announced:
        log.error("cameras not recorded: %s", ", ".join(announced))
    return announced


def nodes_check(*, now: dt.datetime | None = None) -> dict[str, list[str]]:
    """The periodic check (Celery beat): lost nodes (recorder and video) and unrecorded cameras,
    even when every node is down."""
    now = now or timezone.now()
    return {"lost": nodes_sweep(NodeRole.RECORD, now=now) + nodes_sweep(NodeRole.VIDEO, now=now),
            "unrecorded": unrecorded_check(NodeRole.RECORD, now=now)}


def alarm_frames() -> list[dict[str, Any]]:
    """The alarms in force, as the frames of the events that announced them (the console's alarm
    strip at load): the cameras announced unrecorded and not held again, the nodes declared lost
    and not joined again."""
    frames: list[dict[str, Any]] = []
    leases = (CameraLease.objects.select_related("camera", "node")
              .filter(role=NodeRole.RECORD, alarm_at__isnull=False).order_by("camera__code"))
    for lease in leases:
        camera = CameraRef(id=lease.camera.pk, code=lease.camera.code, name=lease.camera.name)
        event = CameraUnrecorded(camera=camera, role=lease.role, since=local_iso(lease.renewed_at),
                                 node=lease.node.name if lease.node else None)
        frames.append({"type": event.type, "data": event.model_dump(mode="json")})
    for node in Node.objects.filter(lost_at__isnull=False, left_at__isnull=True).order_by("name"):
        lost = NodeLost(node=node_data(node, _codes(node)))
        frames.append({"type": lost.type, "data": lost.model_dump(mode="json")})
    return frames


# --- What the API shows -------------------------------------------------------------------------


def nodes_overview(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Every node (live or not), the cameras it holds and the ages of its leases; the cameras no
    live node holds. Ages in seconds, from the server's clock."""
    now = now or timezone.now()
    cutoff = _cutoff(now)
    leases = list(CameraLease.objects.select_related("camera").order_by("camera__code"))
    by_node: dict[int | None, list[CameraLease]] = defaultdict(list)
    for lease in leases:
        by_node[lease.node_id].append(lease)
    nodes = list(Node.objects.all())
    live = {n.pk for n in nodes if node_is_live(n, now)}

    def age(moment: dt.datetime) -> float:
        return round((now - moment).total_seconds(), 1)

    def state(node: Node) -> str:
        if node.left_at:
            return "left"
        if node.lost_at:
            return "lost"
        return "live" if node.pk in live else "silent"

    weights: dict[str, int] = defaultdict(int)
    wanted: dict[str, int] = defaultdict(int)
    for n in nodes:
        if n.pk in live:
            weights[n.role] += n.weight
    for lease in leases:
        wanted[lease.role] += 1
    rows = []
    for node in nodes:
        held = [lease for lease in by_node.get(node.pk, []) if lease.renewed_at >= cutoff]
        low, high = (fair_share(wanted[node.role], node.weight, weights[node.role])
                     if node.pk in live else (0, 0))
        rows.append({
            "name": node.name, "role": node.role, "weight": node.weight, "host": node.host, "pid": node.pid,
            "state": state(node), "live": node.pk in live,
            "started_at": local_iso(node.started_at), "last_seen": local_iso(node.last_seen),
            "last_seen_age": age(node.last_seen), "share": [low, high],
            "cameras": len(held), "camera_codes": [lease.camera.code for lease in held],
            "leases": [{"camera": lease.camera.code, "camera_id": lease.camera_id,
                        "acquired_at": local_iso(lease.acquired_at), "held_for": age(lease.acquired_at),
                        "renewed_at": local_iso(lease.renewed_at), "renewed_age": age(lease.renewed_at),
                        "expired": lease.renewed_at < cutoff} for lease in by_node.get(node.pk, [])],
        })
    # A camera no video node holds is served by whichever node gets its offer: not an alarm.
    unheld = [lease for lease in leases if lease.role == NodeRole.RECORD
              and (lease.node_id not in live or lease.renewed_at < cutoff)]
    return {
        "lease_seconds": _seconds("HUB_NODE_LEASE_SECONDS"),
        "renew_seconds": _seconds("HUB_NODE_RENEW_SECONDS"),
        "alarm_seconds": _seconds("HUB_NODE_ALARM_SECONDS"),
        "nodes": rows,
        "cameras": len(leases),
        "unrecorded": [{"camera": lease.camera.code, "camera_id": lease.camera_id, "role": lease.role,
                        "since": local_iso(lease.renewed_at), "alarm": lease.alarm_at is not None}
                       for lease in unheld],
    }


# --- The node process (``manage.py record --node NAME``) ------------------------------------------------


@dataclass
class _Recording:
    thread: threading.Thread
    stop: threading.Event


def run_node(*, name: str, weight: int, stop: threading.Event, role: str = NodeRole.RECORD,
             on_change: Callable[[str], None] | None = None) -> None:
    """Join as node ``name``, then every ``HUB_NODE_RENEW_SECONDS`` renew and rebalance, and record
    exactly the cameras held: a thread per camera gained, stopped when the camera is lost. On
    ``stop`` the threads close their segments, then the node leaves (gives its cameras back).

    Raises :class:`NodeNameTaken` at start when a live node runs under ``name``.
    """
    say = on_change or (lambda line: log.info("%s", line))
    renew = _seconds("HUB_NODE_RENEW_SECONDS")
    node = node_join(name=name, role=role, weight=weight)
    say(f"node {name} joined (weight {weight})")
    recordings: dict[int, _Recording] = {}
    stopping: list[_Recording] = []
    last_renewed = time.monotonic()
    try:
        while not stop.is_set():
            # One renewal every ``renew`` seconds, whatever the round took (not ``renew`` after it).
            next_round = time.monotonic() + renew
            close_old_connections()
            try:
                balance = rebalance(node)
                last_renewed = time.monotonic()
                unrecorded_check(role)
            except NodeGone:
                say(f"node {name} was declared lost: stopping its cameras and joining again")
                stopping += _stop(recordings, set(recordings))
                try:
                    node = node_join(name=name, role=role, weight=weight)
                except (Conflict, DatabaseError):  # tried again next round
                    log.warning("node %s: cannot join again yet", name)
                stop.wait(max(0.0, next_round - time.monotonic()))
                continue
            except DatabaseError:
                log.exception("node %s: cannot renew its leases", name)
                if time.monotonic() - last_renewed > _seconds("HUB_NODE_LEASE_SECONDS"):
                    # Its leases have expired: other nodes may record these cameras now.
                    stopping += _stop(recordings, set(recordings))
                stop.wait(max(0.0, next_round - time.monotonic()))
                continue
            lost = set(recordings) - balance.held
            stopping += _stop(recordings, lost)
            _start(recordings, balance, role)
            if balance.taken or lost:
                say(f"node {name}: {len(balance.held)} cameras (+{len(balance.taken)}, of which "
                    f"{len(balance.taken_over)} from lost nodes; -{len(lost)})")
            stopping = [r for r in stopping if r.thread.is_alive()]
            stop.wait(max(0.0, next_round - time.monotonic()))
    finally:
        stopping += _stop(recordings, set(recordings))
        for recording in stopping:
            recording.thread.join(10)
        close_old_connections()
        try:
            node_leave(node)
        except DatabaseError:
            log.exception("node %s: could not give its cameras back (they expire by themselves)", name)
        say(f"node {name} left")


def _stop(recordings: dict[int, _Recording], camera_ids: Iterable[int]) -> list[_Recording]:
    stopped = []
    for camera_id in list(camera_ids):
        recording = recordings.pop(camera_id)
        recording.stop.set()
        stopped.append(recording)
    return stopped


def _start(recordings: dict[int, _Recording], balance: Balance, role: str) -> None:
    needed = {pk for pk in balance.held if pk not in recordings or not recordings[pk].thread.is_alive()}
    if not needed:
        return
    work = _ROLES[role]
    for camera in Camera.objects.filter(pk__in=needed):
        own_stop = threading.Event()
        recordings[camera.pk] = _Recording(thread=work.start(camera, own_stop), stop=own_stop)
