#!/usr/bin/env python
"""Radio traffic and field units: 200 tablets, positions (HTTP or their socket) and radio messages over HTTP.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/radio.py                          # 200 tablets, 20 messages/s, 60 s
    python benchmarks/radio.py --tablets 50 --duration 15   # a quick smoke run
    python benchmarks/radio.py --topology pools         # the same, against `make run`'s processes
    python benchmarks/radio.py --positions socket       # positions on the tablets' sockets

It prints figures; it never asserts a timing. The target (p95 from send to
display on the recipients' sockets ≤ 200 ms) is printed beside the figures.

What runs where
---------------
* This process sets up its own database, ``csu_bench_radio`` on the server of
  ``DATABASE_URL`` (created with PostGIS when missing, migrated, ``load_demo`` loaded;
  ``BENCH_RADIO_DATABASE_URL`` overrides it), and creates with the real services
  (``partners.services.member_create``, ``incidents.services.unit_create``):

  - ``--tablets`` (200) field-unit members ``bench-radio-tab-NNN``, spread round-robin
    over every partner agency, each driving its own unit ``BENCH-RNNN`` (its tablet);
  - ``--operators`` (5) centre operators ``bench-radio-op-NNN``, who send the radio
    traffic and whose sockets show the units on the map.

  Accounts and units are made once and reused by later runs (tokens are issued for the
  run and revoked at its end).
* ONE Daphne (``daphne -b 127.0.0.1 -p PORT config.asgi:application``, its own
  ``CHANNELS_PREFIX`` ``bench-radio-<pid>``, ``HUB_CHANNEL_LAYER`` from ``--layer``).
* ``--topology pools``: instead of that one Daphne, the topology of ``make run``
  (``benchmarks/pools.py``): HAProxy, configured by ``config.topology.Topology``, in front of
  ``HUB_API_PROCESSES`` (2) API Daphnes and ``HUB_WS_PROCESSES`` (1) WebSocket Daphne, and
  ``manage.py relay`` with its standby, all with ``HUB_RELAY_INLINE=0`` and
  ``HUB_TRUSTED_PROXIES=127.0.0.1`` on the same database, Redis and prefix. The run starts
  once HAProxy sees every server up and a relay is active; HTTP and WebSockets go to
  HAProxy's port. CPU is the sum over these processes (HAProxy's worker included).
* ONE WebSocket client process (``benchmarks/fanout.py --client-worker``, reused as is):
  a socket per tablet and per operator on ``/ws/events/``, ``Authorization: Bearer``.
* HTTP load from this process (``--http-workers`` threads, each with a keep-alive
  connection, each request with the bearer token of the account that sends it and an
  ``Idempotency-Key``):

  - every tablet ``POST /api/units/<id>/position/`` every ``--interval`` (5 s) (with
    ``--positions socket``: ``{"type": "unit.position", "id": <key>, ...}`` on its WebSocket,
    written by the client process when its time comes, the hub's ack read there), the
    tablets staggered evenly over the interval; positions move slowly (2–9 m/s, i.e.
    under 45 m a report) inside the service area, from the unit's last position;
  - the operators ``POST /api/radio/messages/`` at ``--rate`` (20/s) in turn: to a unit
    (its direct line, ``--direct-share``), to the all-partners net
    (``--all-partners-share``), else to the net of a tablet's agency; priorities
    mostly routine (no acknowledgements are sent; no Celery runs, so nothing is re-sent);
  - ``--replay-share`` of the requests is sent a second time with the same key and
    body right after its answer (a tablet replaying its queue): the answer must be the
    stored one (``Idempotent-Replayed``) and no second event may follow;
  - a few ms of jitter on every due time (devices are not in step). When every
    connection is busy a send waits in this process; one that could not start within
    ``--max-lag`` (10 s) of its due time is not sent and is counted ("not sent (lag)"):
    the server is then far behind the offered load, and the run still ends on time.
* ``--fixed``: Daphne with the lock fix this benchmark proposes, applied to Daphne only
  (the app code is not touched; ``UNIT_LOCK_FIX`` below): a Unit row is locked FOR NO KEY
  UPDATE instead of FOR UPDATE, so that the deferred foreign-key check of a concurrent
  radio message (its receipts point at units) does not deadlock with the outbox lock.
  (``fanout.py``'s two ``-fixed`` proposals are in the app already.)

Measures
--------
* send → display: ``time.time()`` just before the request is written (HTTP request
  start) → ``time.time()`` as the frame is read by a recipient socket (same machine,
  same clock). Frames are tied to sends by the outbox rows (``realtime.Event``):
  ``radio.message`` by the message id the POST answered, ``unit.position`` by unit
  and fix time. Recipients are the connected clients whose groups
  (``realtime.audiences.groups_of``) meet the event's audience.
* radio messages at the tablets that hear them (and at the operators), unit
  positions at the operators' sockets (and at the tablets of the same agency).
* lost = expected and not received after the drain; dup = received twice by one
  client, or a send that produced two events; HTTP status counts; HTTP response time.
* the relay (``/metrics``: Daphne's with one Daphne, the relay processes' with ``pools``):
  passes, events a pass, time of a pass (``hub_relay_pass_seconds``, from the relay lock taken),
  of the send of one slice to the channel layer (``hub_relay_send_seconds``) and the wait for
  the relay lock (``hub_relay_lock_wait_seconds``) over the measured window.
* CPU (``/proc``, utime + stime) over the measured window: Daphne, the PostgreSQL
  backends connected to the benchmark database, every PostgreSQL process, Redis,
  the client process and this one; as % of one core (CPU seconds / wall seconds).
  PostgreSQL and Redis serve whatever else runs on the machine too.

Statistics cover the sends started after ``--warmup`` (5 s); lost/dup cover every
event of the run. ``BENCH_KEEP_LOGS=1`` keeps Daphne's and the clients' logs in /tmp.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import http.client
import json
import math
import os
import queue
import random
import secrets
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fanout import (  # noqa: E402 (the fan-out benchmark's machinery, reused)
    ORIGIN,
    Account,
    ClientWorker,
    Daphne,
    cpu_seconds,
    ensure_data,
    ensure_database,
    issue_tokens,
    machine,
    pct,
    raise_nofile,
    redis_cleanup,
    revoke_tokens,
    setup_django,
)
from harness import bench_database_url  # noqa: E402
from pools import Pools  # noqa: E402

BENCH_DB_NAME = "csu_bench_radio"
SEED = 20260406
TARGET_P95_MS = 200.0
# --positions socket: a replayed position goes this many seconds after the first.
SOCKET_REPLAY_AFTER = 1.0
TABLET_PREFIX = "bench-radio-tab-"
OPERATOR_PREFIX = "bench-radio-op-"
CALLSIGN_PREFIX = "BENCH-R"


# ``--fixed``: the lock fix this benchmark proposes for incidents/services.py, applied to
# Daphne only (the app code is not touched), through a ``sitecustomize`` module written to a
# temporary directory put on Daphne's PYTHONPATH: every ``select_for_update()`` of a Unit row
# takes FOR NO KEY UPDATE instead of FOR UPDATE (see "Found" in docs/performance.md).
UNIT_LOCK_FIX = '''\
from django.db.models.query import QuerySet

_select_for_update = QuerySet.select_for_update


def select_for_update(self, *args, **kwargs):
    if self.model._meta.label == "incidents.Unit":
        kwargs["no_key"] = True
    return _select_for_update(self, *args, **kwargs)


QuerySet.select_for_update = select_for_update
'''


# ---------------------------------------------------------------------------
# Accounts, units, nets (real services)
# ---------------------------------------------------------------------------

class Tablet:
    __slots__ = ("account", "unit_id", "agency_net", "lon", "lat", "heading", "speed")

    def __init__(self, account: Account, unit_id: int, agency_net: int, lon: float, lat: float,
                 rng: random.Random) -> None:
        self.account, self.unit_id, self.agency_net = account, unit_id, agency_net
        self.lon, self.lat = lon, lat
        self.heading = rng.uniform(0, 2 * math.pi)
        self.speed = rng.uniform(2.0, 9.0)  # m/s: a patrol in town, under 45 m a report


def ensure_accounts(n_tablets: int, n_operators: int) -> tuple[list[Account], list[Account], dict]:
    """Operators of the centre, field-unit members each driving a unit; made once, reused.
    Returns (tablets, operators, {username: unit}) ."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from incidents.models import Unit
    from incidents.services.units import unit_create, unit_update
    from partners.choices import AgencyKind, Role
    from partners.models import Agency, Member
    from partners.services import member_create
    from realtime.audiences import groups_of

    agencies = {a.code: a for a in Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "code")}
    codes = list(agencies)
    wanted_ops = [(f"{OPERATOR_PREFIX}{i:03d}", "csu", Role.OPERATOR) for i in range(n_operators)]
    wanted_tabs = [(f"{TABLET_PREFIX}{i:03d}", codes[i % len(codes)], Role.FIELD_UNIT)
                   for i in range(n_tablets)]
    User = get_user_model()
    existing = set(User.objects.filter(username__startswith="bench-radio-")
                   .values_list("username", flat=True))
    missing = [w for w in wanted_ops + wanted_tabs if w[0] not in existing]
    if missing:
        print(f"creating {len(missing)} benchmark accounts (token-only; fast hasher for their "
              "throw-away passwords) ...")
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            for username, code, role in missing:
                member_create(username=username, password=secrets.token_urlsafe(24),
                              agency_code=code, role=role)
    members = {m.user.username: m for m in Member.objects.select_related("user", "agency")
               .filter(user__username__in=[w[0] for w in wanted_ops + wanted_tabs])}
    units = {u.member_id: u for u in Unit.objects.filter(member__in=members.values())}
    made = 0
    for i, (username, code, _) in enumerate(wanted_tabs):
        member = members[username]
        if member.pk in units:
            continue
        callsign = f"{CALLSIGN_PREFIX}{i:03d}"
        unit = Unit.objects.filter(callsign=callsign).first()
        if unit is None:
            unit = unit_create(by=None, callsign=callsign, agency=agencies[code], member=member)
        else:
            unit = unit_update(by=None, unit=unit, member=member)
        units[member.pk] = unit
        made += 1
    if made:
        print(f"created or assigned {made} units (incidents.services.unit_create)")
    def account(username: str, code: str) -> Account:
        return Account(members[username].user, code, groups_of(members[username].user, members[username]))

    tablets = [account(u, c) for u, c, _ in wanted_tabs]
    operators = [account(u, c) for u, c, _ in wanted_ops]
    return tablets, operators, {u: units[members[u].pk] for u, _, _ in wanted_tabs}


def make_tablets(accounts: list[Account], units: dict, rng: random.Random, area) -> list[Tablet]:
    """Each tablet starts where its unit was last seen (so that the speed check holds
    across runs), or at a random point of the service area."""
    from django.contrib.gis.geos import Point

    from incidents.services.radio import net_for_agency

    prepared, (xmin, ymin, xmax, ymax) = area.prepared, area.extent
    nets: dict[int, int] = {}
    tablets = []
    for account in accounts:
        unit = units[account.user.username]
        if unit.agency_id not in nets:
            nets[unit.agency_id] = net_for_agency(unit.agency).pk
        if unit.position is not None and prepared.covers(unit.position):
            lon, lat = unit.position.x, unit.position.y
        else:
            while True:
                lon, lat = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
                if prepared.covers(Point(lon, lat, srid=4326)):
                    break
        tablets.append(Tablet(account, unit.pk, nets[unit.agency_id], lon, lat, rng))
    return tablets


def step(tablet: Tablet, seconds: float, prepared, rng: random.Random) -> tuple[float, float]:
    """Move the tablet ``seconds`` along its heading, turning when the edge of the area is
    ahead; a little GPS jitter. Returns (lon, lat)."""
    from django.contrib.gis.geos import Point

    metres = tablet.speed * seconds
    for _ in range(12):
        heading = tablet.heading + rng.gauss(0, 0.3)
        dy, dx = metres * math.cos(heading), metres * math.sin(heading)
        lat = tablet.lat + dy / 111_320.0
        lon = tablet.lon + dx / (111_320.0 * math.cos(math.radians(tablet.lat)))
        if prepared.covers(Point(lon, lat, srid=4326)):
            tablet.heading, tablet.lon, tablet.lat = heading, lon, lat
            break
        tablet.heading = rng.uniform(0, 2 * math.pi)
    return tablet.lon, tablet.lat


# ---------------------------------------------------------------------------
# HTTP load
# ---------------------------------------------------------------------------

class Send:
    """One scheduled POST and what came of it."""

    __slots__ = ("kind", "due", "token", "path", "body", "key", "meta", "start", "end", "status",
                 "answer", "error", "replay_status", "replayed", "skipped")

    def __init__(self, kind: str, due: float, token: str, path: str, meta: dict) -> None:
        self.kind, self.due, self.token, self.path, self.meta = kind, due, token, path, meta
        self.body = b""
        self.key = uuid.uuid4().hex
        self.start = self.end = 0.0
        self.status = 0
        self.answer: dict | None = None
        self.error = ""
        self.replay_status = 0
        self.replayed: bool | None = None
        self.skipped = False


class HttpPool:
    """``n`` threads, each with its own keep-alive connection, taking sends off one queue."""

    def __init__(self, port: int, n: int, prepare, max_lag: float) -> None:
        self.port, self.prepare, self.max_lag = port, prepare, max_lag
        self.queue: queue.Queue[Send | None] = queue.Queue()
        self.threads = [threading.Thread(target=self._run, daemon=True, name=f"http-{i}") for i in range(n)]
        for t in self.threads:
            t.start()

    def _conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def _post(self, conn, send: Send) -> tuple[int, bytes, dict]:
        conn.request("POST", send.path, body=send.body, headers={
            "Authorization": f"Bearer {send.token}", "Content-Type": "application/json",
            "Idempotency-Key": send.key, "Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}

    def _run(self) -> None:
        conn = self._conn()
        while True:
            send = self.queue.get()
            if send is None:
                conn.close()
                return
            if time.time() > send.due + self.max_lag:
                # The server is that far behind: what a tablet would still send then is left
                # out (and counted), so that the run ends in bounded time.
                send.skipped = True
                continue
            self.prepare(send)  # the position is taken now: its fix time is the request's
            send.start = time.time()
            try:
                status, raw, _ = self._post(conn, send)
                send.end = time.time()
                send.status = status
                if 200 <= status < 300:
                    send.answer = json.loads(raw)
                else:
                    try:
                        detail = json.loads(raw).get("error", "")
                    except ValueError:
                        detail = "(not JSON)"
                    send.error = f"HTTP {status} {detail}"
                if send.meta.get("replay") and 200 <= status < 300:
                    status2, raw2, headers2 = self._post(conn, send)
                    send.replay_status = status2
                    send.replayed = (headers2.get("idempotent-replayed") == "true"
                                     and json.loads(raw2) == send.answer)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                send.end = send.end or time.time()
                send.error = f"{type(exc).__name__}: {exc}"[:200]
                conn.close()
                conn = self._conn()

    def stop(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout=40)


def schedule(tablets: list[Tablet], operators: list[Account], args, t0: float,
             rng: random.Random) -> list[Send]:
    """Every send of the run, by due time."""
    total = args.warmup + args.duration
    sends: list[Send] = []
    n = len(tablets)
    for i, tablet in enumerate(tablets):
        due = t0 + i * args.interval / n
        while due < t0 + total:
            sends.append(Send("position", due, "", f"/api/units/{tablet.unit_id}/position/",
                              {"tablet": i, "replay": rng.random() < args.replay_share}))
            due += args.interval
    all_partners = args.all_partners_net
    for j in range(int(total * args.rate)):
        r = rng.random()
        target = rng.randrange(n)
        if r < args.direct_share:
            payload, kind = {"to_unit": tablets[target].unit_id}, "direct"
        elif r < args.direct_share + args.all_partners_share:
            payload, kind = {"net": all_partners}, "all-partners"
        else:
            payload, kind = {"net": tablets[target].agency_net}, "agency net"
        p = rng.random()
        priority = "routine" if p < 0.85 else ("urgent" if p < 0.97 else "flash")
        payload.update(priority=priority, text=f"Bench radio {j}: point de situation, rappelez si besoin")
        send = Send("radio", t0 + j / args.rate, "", "/api/radio/messages/",
                    {"operator": j % len(operators), "target": kind, "payload": payload,
                     "replay": rng.random() < args.replay_share})
        send.body = json.dumps(payload).encode()
        sends.append(send)
    # Devices are not in step: a few ms of jitter, so that no two sends fall due at the same
    # instant (and a backlog's skipping, below, spares each kind in proportion).
    for send in sends:
        send.due += rng.uniform(0.0, 0.02)
    sends.sort(key=lambda s: s.due)
    return sends


# ---------------------------------------------------------------------------
# CPU of the servers (/proc)
# ---------------------------------------------------------------------------

def server_processes(db_name: str) -> dict[str, dict[int, float]]:
    """CPU seconds of PostgreSQL (all its processes; the backends of ``db_name``) and Redis."""
    out: dict[str, dict[int, float]] = {"postgres": {}, "postgres_db": {}, "redis": {}}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if comm not in ("postgres", "redis-server"):
                continue
            cpu = cpu_seconds(int(entry.name))
            if comm == "redis-server":
                out["redis"][int(entry.name)] = cpu
                continue
            out["postgres"][int(entry.name)] = cpu
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if f" {db_name} " in cmdline:
                out["postgres_db"][int(entry.name)] = cpu
        except OSError:
            continue
    return out


def server_cpu_delta(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds used between two snapshots (processes born in between count from 0;
    those that ended in between are missed)."""
    return {k: sum(v - before[k].get(pid, 0.0) for pid, v in after[k].items()) for k in after}


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def summary(values: list[float]) -> dict:
    values = sorted(values)
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99),
            "max": values[-1] if values else float("nan")}


def fmt(x: float, digits: int = 0) -> str:
    return "–" if x != x else f"{x:,.{digits}f}"


def analyse(sends: list[Send], events: list[tuple], receipts: list, clients: list[Account],
            roles: list[str], live: list[bool], measured_from: float) -> dict:
    """Tie every event to its send, every frame to its event; latencies and faults."""
    by_message = {s.answer["id"]: s for s in sends if s.kind == "radio" and s.answer}
    by_fix = {}
    for s in sends:
        if s.kind == "position" and s.answer:
            at = dt.datetime.fromisoformat(s.answer["at"]).timestamp()
            by_fix[(s.answer["unit"], round(at * 1e6))] = s
    event_send: dict[int, Send] = {}
    event_audience: dict[int, frozenset] = {}
    other_types: collections.Counter[str] = collections.Counter()
    produced: collections.Counter[int] = collections.Counter()  # id(send) -> events it made
    for event_id, etype, data, audience in events:
        event_audience[event_id] = frozenset(audience)
        send = None
        if etype == "radio.message" and data.get("resend", 0) == 0:
            send = by_message.get(data["message"]["id"])
        elif etype == "unit.position":
            at = dt.datetime.fromisoformat(data["at"]).timestamp()
            send = by_fix.get((data["unit_id"], round(at * 1e6)))
        if send is None:
            other_types[etype] += 1
            continue
        event_send[event_id] = send
        produced[id(send)] += 1
    ok_sends = [s for s in sends if s.answer]
    no_event = sum(1 for s in ok_sends if produced[id(s)] == 0)
    extra_events = sum(n - 1 for n in produced.values() if n > 1)

    flows: dict[str, list[float]] = collections.defaultdict(list)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for client, role, ok, got in zip(clients, roles, live, receipts, strict=True):
        if not ok:
            continue
        seen: set[int] = set()
        for event_id, t in got:
            if event_id not in event_audience:
                continue  # before the run (setup) or not ours
            send = event_send.get(event_id)
            flow = None
            if send is not None:
                flow = f"{'radio.message' if send.kind == 'radio' else 'unit.position'} → {role}"
            if event_id in seen:
                counts[flow or "other"]["dup"] += 1
                continue
            seen.add(event_id)
            if not event_audience[event_id] & client.groups:
                counts[flow or "other"]["leak"] += 1
                continue
            if send is None:
                continue
            counts[flow]["received"] += 1
            if send.start >= measured_from:
                latency = (t - send.start) * 1000.0
                flows[flow].append(latency)
                if send.kind == "radio" and role == "tablets":
                    flows[f"radio.message → tablets, {send.meta['target']}"].append(latency)
        for event_id, audience in event_audience.items():
            if event_id in seen or not audience & client.groups:
                continue
            send = event_send.get(event_id)
            flow = (f"{'radio.message' if send.kind == 'radio' else 'unit.position'} → {role}"
                    if send is not None else "other")
            counts[flow]["lost"] += 1
    for c in counts.values():
        c["expected"] = c["received"] + c["lost"]
    return {"flows": {k: summary(v) for k, v in flows.items()}, "counts": counts,
            "no_event": no_event, "extra_events": extra_events, "other_types": dict(other_types)}


def http_summary(sends: list[Send], measured_from: float) -> dict:
    out = {}
    for kind in ("position", "radio"):
        mine = [s for s in sends if s.kind == kind]
        statuses = collections.Counter(
            str(s.status) if s.status else ("not sent (lag)" if s.skipped else "no answer") for s in mine)
        errors = collections.Counter(s.error[:120] for s in mine if s.error)
        measured = [s for s in mine if s.start >= measured_from and s.end and s.status]
        out[kind] = {
            "sent": len(mine), "statuses": dict(statuses), "errors": dict(errors.most_common(5)),
            "rt": summary([(s.end - s.start) * 1000.0 for s in measured]),
            "lag": summary([(s.start - s.due) * 1000.0 for s in measured]),
            "replays": sum(1 for s in mine if s.replayed is not None),
            "replays_bad": sum(1 for s in mine if s.replayed is False),
            "replay_not_sent": sum(1 for s in mine
                                   if s.meta.get("replay") and s.answer and s.replayed is None),
        }
    return out


def socket_answers(sends: list[Send], answers: list) -> None:
    """Positions sent on the sockets: their answers (ack or error frames, read by the client
    process) stand for the HTTP answer (status 200 for an ack, 400 for an error)."""
    by_key: dict[str, list[tuple[float, dict]]] = collections.defaultdict(list)
    for t, frame in answers:
        by_key[str(frame.get("id"))].append((t, frame))
    for send in sends:
        if send.kind != "position" or not send.start:
            continue
        got = by_key.get(send.key, [])
        if not got:
            continue
        t, frame = got[0]
        send.end = t
        if frame.get("type") == "ack":
            send.status, send.answer = 200, frame
        else:
            send.status, send.error = 400, f"{frame.get('error')} {frame.get('detail')}"[:200]
        if send.meta.get("replay"):
            send.replay_status = 200 if len(got) > 1 else 0
            send.replayed = (len(got) > 1 and got[1][1].get("replayed") is True
                             and got[1][1].get("result") == frame.get("result")) if len(got) > 1 else None


def scrape(url: str) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return ""


RELAY_SERIES = ("hub_relay_pass_seconds", "hub_relay_send_seconds", "hub_relay_slice_messages",
                "hub_relay_lock_wait_seconds")


# Counted by the Daphne processes (the WebSocket ones with the pubsub layer): messages the layer
# dropped (a socket's queue full) and the gaps the sockets refilled from the outbox; with the
# relay inside the requests, the relays that found the relay lock held and left their events to it.
LAYER_COUNTERS = ("hub_layer_over_capacity", "hub_ws_gaps", "hub_relay_left_to_holder")


def relay_counters(texts: list[str]) -> dict[str, float]:
    """``hub_relay_*`` histograms (sum, count, buckets) and ``hub_relay_events_sent_total``,
    summed over the texts of several processes."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = collections.defaultdict(float)
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in (*RELAY_SERIES, "hub_relay_events_sent", *LAYER_COUNTERS):
                continue
            for sample in family.samples:
                key = sample.name + (f"@{sample.labels['le']}" if "le" in sample.labels else "")
                out[key] += sample.value
    return dict(out)


def relay_delta(before: dict[str, float], after: dict[str, float]) -> dict:
    """Per histogram over the measured window: how many, mean, and the bucket bound under
    which 95 % fell (Prometheus buckets: an upper bound, not an exact percentile)."""
    out: dict = {"events": after.get("hub_relay_events_sent_total", 0.0)
                 - before.get("hub_relay_events_sent_total", 0.0)}
    for name in LAYER_COUNTERS:
        out[name] = after.get(f"{name}_total", 0.0) - before.get(f"{name}_total", 0.0)
    for name in RELAY_SERIES:
        n = after.get(f"{name}_count", 0.0) - before.get(f"{name}_count", 0.0)
        total = after.get(f"{name}_sum", 0.0) - before.get(f"{name}_sum", 0.0)
        bounds = sorted((float(k.split("@", 1)[1]), after[k] - before.get(k, 0.0))
                        for k in after if k.startswith(f"{name}_bucket@"))
        p95 = next((b for b, c in bounds if n and c >= 0.95 * n), math.nan)
        out[name] = {"n": n, "mean": total / n if n else math.nan, "p95_le": p95, "sum": total}
    return out


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--tablets", type=int, default=200)
    parser.add_argument("--operators", type=int, default=5,
                        help="centre operators: they send the radio traffic, their sockets show the map")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between a tablet's positions")
    parser.add_argument("--rate", type=float, default=20.0, help="radio messages per second")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of traffic before the measures")
    parser.add_argument("--drain", type=float, default=5.0,
                        help="after the last send, wait until every socket has its frames or none "
                             "arrived for this many seconds")
    parser.add_argument("--direct-share", type=float, default=0.5, help="messages to one unit")
    parser.add_argument("--all-partners-share", type=float, default=0.05,
                        help="messages on the all-partners net (heard by every tablet)")
    parser.add_argument("--replay-share", type=float, default=0.02,
                        help="requests sent twice with the same Idempotency-Key")
    parser.add_argument("--http-workers", type=int, default=32, help="concurrent HTTP connections")
    parser.add_argument("--max-lag", type=float, default=10.0,
                        help="a request that could not start within this many seconds of its due "
                             "time (every connection busy) is not sent, and counted")
    parser.add_argument("--layer", default=os.environ.get("HUB_CHANNEL_LAYER", "pubsub"),
                        choices=["core", "pubsub"])
    parser.add_argument("--concurrency", type=int, default=10, help="WebSocket handshakes in flight")
    parser.add_argument("--ws-impl", default="auto", choices=["auto", "websockets", "aiohttp", "builtin"])
    parser.add_argument("--daphne-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--topology", default="single", choices=["single", "pools"],
                        help="single: one Daphne (default); pools: the `make run` topology, HAProxy "
                             "in front of HUB_API_PROCESSES (2) API + HUB_WS_PROCESSES (1) WebSocket "
                             "Daphnes and the relay process + standby (HUB_RELAY_INLINE=0)")
    parser.add_argument("--positions", default="http", choices=["http", "socket"],
                        help="how the tablets report their positions: http, POST "
                             "/api/units/<id>/position/ (default); socket, {\"type\": \"unit.position\"} "
                             "on their WebSocket, answered there with an ack")
    parser.add_argument("--fixed", action="store_true",
                        help="Daphne with the lock fix this benchmark proposes, applied to Daphne "
                             "only: Unit rows locked FOR NO KEY UPDATE (UNIT_LOCK_FIX)")
    args = parser.parse_args()

    started = time.time()
    raise_nofile()
    rng = random.Random(SEED)
    url = bench_database_url(BENCH_DB_NAME, "BENCH_RADIO_DATABASE_URL")
    db_name = urlparse(url).path.lstrip("/")
    prefix = f"bench-radio-{os.getpid()}"
    ensure_database(url)
    setup_django(url, prefix)
    ensure_data()

    from geo.selectors import service_area
    from incidents.choices import NetKind
    from incidents.models import Net
    from incidents.services.radio import nets_ensure
    from realtime.models import Event
    from realtime.selectors import latest_event_id

    nets_ensure()
    args.all_partners_net = Net.objects.get(kind=NetKind.ALL_PARTNERS).pk
    tablet_accounts, operators, units = ensure_accounts(args.tablets, args.operators)
    area = service_area()
    if area is None:
        raise SystemExit("no commune: did load_demo run?")
    tablets = make_tablets(tablet_accounts, units, rng, area)
    prepared = area.prepared
    clients = tablet_accounts + operators
    roles = ["tablets"] * len(tablet_accounts) + ["operators"] * len(operators)
    per_agency = collections.Counter(a.agency for a in tablet_accounts)
    print(f"machine: {machine()}")
    print(f"database {db_name}, redis {os.environ.get('REDIS_URL', '(default)')}, channel prefix {prefix}, "
          f"layer {args.layer}, positions over {args.positions}")
    print(f"{len(tablets)} tablets (field units) over {len(per_agency)} partner agencies "
          f"({min(per_agency.values())}–{max(per_agency.values())} each), {len(operators)} operators")

    daphne = worker = pool = None
    down_at_start = 0
    result: dict = {}
    fix_dir = tempfile.mkdtemp(prefix="radio-fix-") if args.fixed else None
    try:
        issue_tokens(clients)
        daphne_env = dict(kv.split("=", 1) for kv in args.daphne_env)
        if fix_dir:
            Path(fix_dir, "sitecustomize.py").write_text(UNIT_LOCK_FIX)
            daphne_env["PYTHONPATH"] = os.pathsep.join(
                [fix_dir, *filter(None, [daphne_env.get("PYTHONPATH", os.environ.get("PYTHONPATH"))])])
        # INFO: channels_redis says when a channel is over capacity (messages dropped).
        os.environ.setdefault("BENCH_DAPHNE_LOG_LEVEL", "INFO")
        t = time.time()
        if args.topology == "pools":
            daphne = Pools({"HUB_CHANNEL_LAYER": args.layer, "CHANNELS_PREFIX": prefix, **daphne_env},
                           api=int(os.environ.get("HUB_API_PROCESSES") or 2),
                           ws=int(os.environ.get("HUB_WS_PROCESSES") or 1))
            daphne.wait_ready()
            down_at_start = daphne.count(" is DOWN")  # the servers were still starting
            print(f"hub ready in {time.time() - t:.1f}s: {daphne.command}; active relay: "
                  f"{daphne.active_relay()}; pids {daphne.pids()}")
        else:
            daphne = Daphne(args.layer, prefix, daphne_env, False)
            daphne.wait_ready()
            print(f"daphne pid {daphne.proc.pid} ready in {time.time() - t:.1f}s: "
                  f"{shlex.join(daphne.command)}")
        worker = ClientWorker(f"/tmp/radio-clients-{os.getpid()}.log")
        hello = worker.ask({"url": f"ws://127.0.0.1:{daphne.port}/ws/events/",
                            "tokens": [a.token for a in clients], "origin": f"{ORIGIN}:{daphne.port}",
                            "concurrency": args.concurrency, "impl": args.ws_impl,
                            "start_id": latest_event_id()})
        live = hello["ready"]
        print(f"{sum(live)}/{len(clients)} sockets connected in {hello['connect_s']:.1f}s ({hello['impl']}, "
              f"pid {hello['pid']}, {hello['connect_retries']} handshake retries)"
              + (f"; failures: {hello['failed'][:3]}" if hello["n_failed"] else ""))
        if not any(live):
            raise RuntimeError(f"no socket could connect; daphne log:\n{daphne.tail()}")

        lock = threading.Lock()
        move_rng = random.Random(SEED + 1)

        def prepare(send: Send) -> None:
            if send.kind == "position":
                tablet = tablets[send.meta["tablet"]]
                send.token = tablet.account.token
                with lock:
                    lon, lat = step(tablet, args.interval, prepared, move_rng)
                    accuracy = round(move_rng.uniform(4, 25), 1)
                at = dt.datetime.now(dt.UTC).isoformat()
                if args.positions == "socket":
                    send.body = json.dumps({"type": "unit.position", "id": send.key, "lat": round(lat, 7),
                                            "lon": round(lon, 7), "at": at, "accuracy": accuracy},
                                           separators=(",", ":")).encode()
                else:
                    send.body = json.dumps({
                        "location": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                        "at": at, "accuracy": accuracy}).encode()
            else:
                send.token = operators[send.meta["operator"]].token

        def relay_figures() -> dict[str, float]:
            """The relay's counters now, summed over the processes that relay, and the layer's
            drops and gaps, summed over the Daphne processes."""
            if args.topology == "pools":
                texts = daphne.relay_metrics() + [scrape(f"http://127.0.0.1:{port}/metrics")
                                                  for port in daphne.api_ports + daphne.ws_ports]
            else:
                texts = [scrape(f"http://127.0.0.1:{daphne.port}/metrics")]
            return relay_counters(texts)

        lo = latest_event_id()
        pool = HttpPool(daphne.port, args.http_workers, prepare, args.max_lag)
        t0 = time.time() + 0.5
        sends = schedule(tablets, operators, args, t0, rng)
        measured_from = t0 + args.warmup
        hub_pids = daphne.pids() if args.topology == "pools" else {"daphne": daphne.proc.pid}
        pids = {**hub_pids, "clients": hello["pid"], "this process": os.getpid()}
        print(f"traffic: {sum(s.kind == 'position' for s in sends)} position reports, "
              f"{sum(s.kind == 'radio' for s in sends)} radio messages over "
              f"{args.warmup + args.duration:.0f}s ({args.warmup:.0f}s warm-up) ...")
        cpu0 = srv0 = None
        load0 = os.getloadavg()
        # Socket replays: (due, command), sent a second after the first (a tablet that resends
        # its queue after a reconnection; at once, it would only supersede its own first send).
        replays: collections.deque[tuple[float, dict]] = collections.deque()

        def send_replays(until: float) -> None:
            while replays and replays[0][0] <= until:
                worker.send(replays.popleft()[1])

        for send in sends:
            send_replays(time.time())
            wait = send.due - time.time()
            if cpu0 is None and send.due >= measured_from:
                time.sleep(max(0.0, measured_from - time.time()))
                relay0 = relay_figures()
                cpu0, srv0, w0 = ({k: cpu_seconds(p) for k, p in pids.items()}, server_processes(db_name),
                                  time.time())
                wait = send.due - time.time()
            if wait > 0:
                time.sleep(wait)
            if args.positions == "socket" and send.kind == "position":
                # On the tablet's socket, from the client process; the hub answers there (an ack).
                prepare(send)
                send.start = time.time()
                command = {"cmd": "send", "i": send.meta["tablet"], "text": send.body.decode()}
                worker.send(command)
                if send.meta.get("replay"):  # the same message again: one position, the same answer
                    replays.append((send.start + SOCKET_REPLAY_AFTER, command))
                continue
            pool.queue.put(send)
        while replays:
            time.sleep(max(0.0, replays[0][0] - time.time()))
            send_replays(time.time())
        pool.stop()
        w1 = time.time()
        relay1 = relay_figures()
        cpu1, srv1 = {k: cpu_seconds(p) for k, p in pids.items()}, server_processes(db_name)
        load1 = os.getloadavg()
        hi = latest_event_id()
        events = list(Event.objects.filter(id__gt=lo, id__lte=hi).order_by("id")
                      .values_list("id", "type", "data", "audience"))
        expected = [sum(1 for e in events if set(e[3]) & c.groups) if ok else 0
                    for c, ok in zip(clients, live, strict=True)]
        drained = worker.ask({"cmd": "await", "lo": lo, "hi": hi, "timeout": args.drain, "cap": 30.0,
                              "expected": expected})
        print(f"events {lo + 1}..{hi} ({len(events)}); sends done {w1 - t0:.1f}s after the start; "
              + ("every socket got its frames" if drained["complete"]
                 else f"{drained['short']} deliveries missing after the drain"))
        report = worker.ask({"cmd": "report"})
        if args.positions == "socket":
            socket_answers(sends, report["answers"])
        stuck = sum(1 for s in sends if not s.end and not s.skipped)
        wall = w1 - w0
        result = {
            "analysis": analyse(sends, events, report["receipts"], clients, roles, live, measured_from),
            "http": http_summary(sends, measured_from), "stuck": stuck,
            "cpu": {k: (cpu1[k] - cpu0[k]) / wall * 100 for k in pids},
            "cpu_s": {k: cpu1[k] - cpu0[k] for k in pids},
            "hub": list(hub_pids), "topology": args.topology,
            "server": {k: v / wall * 100 for k, v in server_cpu_delta(srv0, srv1).items()},
            "wall": wall, "load": (load0, load1), "others": report["others"], "closed": report["closed"],
            "resumes": report["resumes"], "late_failed": report["failed"], "connected": sum(live),
            "daphne_errors": daphne.errors(),
            "over_capacity": (daphne.count("over capacity") if args.topology == "pools" else
                              Path(daphne.log.name).read_text(errors="replace").count("over capacity")),
            "fixed": args.fixed, "relay": relay_delta(relay0, relay1), "positions": args.positions,
            "marked_down": daphne.count(" is DOWN") - down_at_start if args.topology == "pools" else 0,
        }
    finally:
        if pool is not None:
            pool.stop()
        if worker is not None:
            worker.stop()  # every socket closes at once
        if daphne is not None:
            if result:
                time.sleep(1.0)
                before = result["daphne_errors"]
                result["shutdown_errors"] = {k: n - before.get(k, 0) for k, n in daphne.errors().items()
                                             if n > before.get(k, 0)}
            daphne.stop()
        revoke_tokens(clients)
        redis_cleanup(prefix)
        if fix_dir:
            shutil.rmtree(fix_dir, ignore_errors=True)
    print_report(result, args, len(clients), started)


def print_report(r: dict, args, n_clients: int, started: float) -> None:
    a, h = r["analysis"], r["http"]
    print()
    print(f"Radio and field units: {args.tablets} tablets (position every {args.interval:g}s), "
          f"{args.operators} operators sending {args.rate:g} radio messages/s, {args.duration:g}s measured "
          f"— {dt.datetime.now().astimezone().isoformat(timespec='minutes')}, {machine()}"
          + ("; Daphne with --fixed (Unit rows locked FOR NO KEY UPDATE)" if r["fixed"] else "")
          + ("; topology: pools (HAProxy, API + WebSocket Daphnes, relay + standby)"
             if r["topology"] == "pools" else "; topology: single (one Daphne)"))
    print()
    head = ("| send → display | deliveries measured | p50 ms | p95 ms | p99 ms | max ms "
            "| expected (whole run) | lost | dup | leak |")
    rows = [head, "| --- |" + " ---: |" * (head.count("|") - 2)]
    order = ["radio.message → tablets", "radio.message → tablets, direct",
             "radio.message → tablets, agency net", "radio.message → tablets, all-partners",
             "radio.message → operators", "unit.position → operators", "unit.position → tablets"]
    for flow in order + sorted(set(a["flows"]) - set(order)):
        s = a["flows"].get(flow)
        c = a["counts"].get(flow, collections.Counter())
        if s is None and not c:
            continue
        s = s or summary([])
        sub = ", " in flow
        rows.append(f"| {flow} | {s['n']:,} | {fmt(s['p50'], 1)} | {fmt(s['p95'], 1)} | {fmt(s['p99'], 1)} "
                    f"| {fmt(s['max'], 1)} | " + (" | | | |" if sub else
                    f"{c['expected']:,} | {c['lost']} | {c['dup']} | {c['leak']} |"))
    print("\n".join(rows))
    print()
    head = ("| HTTP | requests | statuses | response p50 ms | p95 ms | p99 ms | start lag p95 ms "
            "| same-key replays (bad) |")
    rows = [head, "| --- | ---: | --- |" + " ---: |" * (head.count("|") - 4)]
    for kind, label in (("position", "POST /api/units/<id>/position/" if r["positions"] == "http"
                         else "unit.position on the socket (200: ack, 400: error)"),
                        ("radio", "POST /api/radio/messages/")):
        x, rt = h[kind], h[kind]["rt"]
        statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(x["statuses"].items()))
        rows.append(f"| {label} | {x['sent']:,} | {statuses} | {fmt(rt['p50'], 1)} | {fmt(rt['p95'], 1)} "
                    f"| {fmt(rt['p99'], 1)} | {fmt(x['lag']['p95'], 1)} "
                    f"| {x['replays']} ({x['replays_bad']}) |")
    print("\n".join(rows))
    served = sum(h[k]["rt"]["n"] for k in ("position", "radio"))
    offered = args.tablets / args.interval + args.rate
    print(f"- offered {offered:.0f} requests/s; answered {served / r['wall']:.1f}/s over the measured "
          f"window (a request is not sent when it could not start within --max-lag "
          f"{args.max_lag:g}s of its due time: the server was that far behind)")
    for kind in ("position", "radio"):
        if h[kind]["errors"]:
            print(f"- {kind} errors: " + "; ".join(f"{v}× {k}" for k, v in h[kind]["errors"].items()))
    print()
    cpu, srv = r["cpu"], r["server"]
    hub_pct, hub_s = sum(cpu[k] for k in r["hub"]), sum(r["cpu_s"][k] for k in r["hub"])
    if r["topology"] == "pools":
        hub_label = ("hub processes (" + ", ".join(f"{k} {cpu[k]:.0f} %" for k in r["hub"]) + ") "
                     f"{hub_pct:.0f} %")
    else:
        hub_label = f"Daphne {hub_pct:.0f} %"
    print(f"CPU over the measured {r['wall']:.1f}s, % of one core: {hub_label} "
          f"({hub_s:.1f} CPU-s), PostgreSQL backends of the benchmark database "
          f"{srv['postgres_db']:.0f} %, all PostgreSQL processes {srv['postgres']:.0f} %, Redis "
          f"{srv['redis']:.0f} %, WebSocket client process {cpu['clients']:.0f} %, this process "
          f"(HTTP clients) {cpu['this process']:.0f} %")
    measured_requests = h["position"]["rt"]["n"] + h["radio"]["rt"]["n"]
    if measured_requests:
        who = "hub processes'" if r["topology"] == "pools" else "Daphne"
        print(f"{who} CPU per measured request (all their work: HTTP, relay, frames): "
              f"{hub_s / measured_requests * 1000:.1f} ms")
    (l0, _, _), (l1, _, _) = r["load"]
    notes = [f"{r['connected']}/{n_clients} sockets connected", f"load average {l0:.2f} → {l1:.2f}",
             f"sends answered 2xx without an event: {a['no_event']}",
             f"sends that made more than one event: {a['extra_events']}",
             f"requests without an answer at the end: {r['stuck']}"]
    if a["other_types"]:
        notes.append("other events: " + ", ".join(f"{k} {v}" for k, v in sorted(a["other_types"].items())))
    if r["closed"]:
        notes.append("sockets dropped by the server (code: count): "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(r["closed"].items()))
                     + f"; {r['resumes']} resumes")
    if r["late_failed"]:
        notes.append(f"clients that gave up: {len(r['late_failed'])}")
    if r["others"]:
        notes.append("control frames: " + ", ".join(f"{k} {v}" for k, v in sorted(r["others"].items())))
    if r["daphne_errors"]:
        notes.append(("hub logs: " if r["topology"] == "pools" else "daphne log: ") + "; ".join(f"{v}× {k}" for k, v in r["daphne_errors"].items()))
    if r.get("shutdown_errors"):
        notes.append(f"daphne log when the {r['connected']} sockets closed together at the end: "
                     + "; ".join(f"{v}× {k}" for k, v in r["shutdown_errors"].items()))
    if r.get("marked_down"):
        notes.append(f"HAProxy marked a server down {r['marked_down']} times during the run (health "
                     "check failed; its sessions were cut: on-marked-down shutdown-sessions)")
    if r["over_capacity"]:
        notes.append(f"channels_redis 'over capacity' notices in Daphne's log: {r['over_capacity']}")
    if r.get("relay"):
        notes.append(f"channel layer over the measured window (/metrics of the Daphne processes): "
                     f"{r['relay']['hub_layer_over_capacity']:.0f} messages dropped over capacity, "
                     f"{r['relay']['hub_ws_gaps']:.0f} gaps refilled from the outbox")
    print("- " + "\n- ".join(notes))
    relay = r.get("relay") or {}
    passes, sends_, slices, waits = (relay.get(k) or {} for k in RELAY_SERIES)
    if passes.get("n"):
        print(f"- relay over the measured window ({'relay process' if r['topology'] == 'pools' else 'in Daphne, after each commit'}): "
              f"{passes['n']:.0f} passes sending {relay['events']:.0f} events "
              f"({relay['events'] / passes['n']:.1f} a pass), pass mean {passes['mean'] * 1000:.1f} ms "
              f"(95 % ≤ {passes['p95_le'] * 1000:g} ms), busy {passes['sum'] / r['wall'] * 100:.0f} % of the time; "
              f"{sends_['n']:.0f} slices sent, send mean {sends_['mean'] * 1000:.2f} ms "
              f"(95 % ≤ {sends_['p95_le'] * 1000:g} ms), {slices['mean']:.1f} layer messages a slice; "
              f"{waits['n']:.0f} passes asked for the relay lock (empty ones included), waited mean "
              f"{waits['mean'] * 1000:.1f} ms (95 % ≤ {waits['p95_le'] * 1000:g} ms), "
              f"{relay['hub_relay_left_to_holder']:.0f} found it held and left their events to its holder")
    for flow in ("radio.message → tablets", "unit.position → operators"):
        s = a["flows"].get(flow)
        c = a["counts"].get(flow, collections.Counter())
        if s:
            verdict = ("meets" if s["p95"] <= TARGET_P95_MS and not c["lost"] and not c["dup"]
                       else "misses")
            print(f"\nTarget: {flow} p95 ≤ {TARGET_P95_MS:.0f} ms, 0 lost, 0 dup: "
                  f"{s['p95']:.0f} ms, {c['lost']} lost, {c['dup']} dup: {verdict} it.")
    print(f"total run time {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
