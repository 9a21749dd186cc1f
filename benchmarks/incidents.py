#!/usr/bin/env python
"""Incidents: list, creation and detail with 100,000 historical incidents,
against the same calls on a database with no incident.

Run from the repository root::

    python benchmarks/incidents.py                 # measure and print
    python benchmarks/incidents.py --write-docs    # ... and rewrite (or append) the
                                                   # "## Incidents (issue 4)" section of
                                                   # docs/performance.md, nothing else
    python benchmarks/incidents.py --requests 40 --historical 5000   # a quick smoke run
    PYTHONPATH=DIR python benchmarks/incidents.py  # DIR holding psycopg_pool (pip install
                                                   # --target DIR psycopg-pool): adds the
                                                   # pooled-connection comparison

It prints figures and ratios; it never asserts a timing. The targets of the issue
are printed beside the figures for the reader to judge. About 4 minutes on 2 CPUs.

Setup
-----
* Its own database, ``csu_bench_incidents`` on the server of ``DATABASE_URL``
  (default ``postgres://postgres@127.0.0.1:5432``): created with PostGIS when missing,
  ``migrate``, ``load_demo`` (idempotent; ``HUB_DEMO=1`` is set here). Every run starts
  by emptying the incident tables (``TRUNCATE ... RESTART IDENTITY``: the append-only
  trigger of the journal is a row trigger, TRUNCATE does not fire it) and pruning the
  outbox events already relayed.
* ``CHANNELS_PREFIX`` and ``CACHE_KEY_PREFIX`` are ``bench-inc-<pid>``, so the events
  relayed to Redis never reach a hub running on the same Redis.
* One Daphne process (``daphne -b 127.0.0.1 -p <free port> config.asgi:application``,
  same environment, ``DJANGO_DEBUG`` unset), started here and stopped in ``finally``;
  the client is one keep-alive ``http.client`` connection with a bearer token from
  ``POST /api/auth/token/`` (demo account ``operateur``).

Phases (one run, same Daphne, same seeded workload in both)
-----------------------------------------------------------
1. *empty*: no incident (the phase creates its own as it goes). Then the incident
   tables are emptied again and
2. *loaded*: 100,000 historical incidents bulk-loaded with COPY: created over the
   last 730 days (uniform), natures uniform, status 94 % closed, 4 % cancelled,
   1 % open, 1 % engaged; each at a point drawn inside a commune boundary
   (``ST_GeneratePoints`` on ``Commune.boundary``, communes weighted by population);
   references ``CSU-<year>-<6 digits>`` numbered in time order within each year; one
   journal line ("opened") each. Then ``VACUUM ANALYZE`` of both tables (what
   autovacuum would do after such a load).

In each phase, over HTTP (220 timed requests each, warm-up excluded):

* ``GET /api/incidents/?bbox=<1 km box>&status=open,engaged`` — the box is centred on
  a commune centre (demo town centre) picked at random, moved by up to 250 m;
* ``POST /api/incidents/`` — the whole creation: nature and commune lookups,
  reference number, incident row, two outbox events, the journal line, the commit,
  then the after-commit relay to Redis, all inside the request;
* ``GET /api/incidents/<id>/`` of the incidents just created — detail with the journal
  and the suggested cameras (``cameras.selectors.coverage_at``);
* diagnostics: ``GET /healthz`` (the fixed cost of any request), the live list without a
  box (``?status=open,engaged``), a text search of a reference (``?q=CSU-...``), and
  on the loaded database the detail of random historical incidents;
* beside each, the CPU time of the Daphne process per request (``/proc/PID/stat``),
  steadier than wall time when other work shares the machine;
* in-process, without HTTP nor a new PostgreSQL connection: the list through
  ``django.test.Client`` and the ``incident_create`` service.

Then, on the loaded database, in-process: the SQL the list view runs (captured from a
request through ``django.test.Client``) and ``EXPLAIN (ANALYZE, BUFFERS)`` of the
view's queryset rebuilt the same way; queries per request of each endpoint; the
database time of the list statement, the reference-number query, the commune lookup
and the coverage lookup; the cost of a new PostgreSQL connection. Scratch experiments
(nothing in the hub's code changes; database changes are rolled back):

* ``incident_create`` with the after-commit relay registered once per transaction
  (``publish_once`` below), alternated with the original;
* ``?q=`` with GIN trigram indexes on the three searched ``UPPER(...)`` expressions;
* the list queryset with ``defer("commune__boundary")``, on demo boundaries and on
  boundaries as detailed as real ones;
* when ``psycopg_pool`` is importable: a second Daphne whose Django keeps its
  connections in a pool (Django's ``OPTIONS["pool"]``, through a settings module written
  to a temporary directory), interleaved request by request with the first one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import os
import random
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402 (the benchmarks' shared machinery)
    Client,
    Daphne,
    bench_database_url,
    ensure_database,
    machine,
    now_ms,
    process_cpu_ms,
    summary,
)
from harness import setup_django as harness_setup_django  # noqa: E402

DB_NAME = "csu_bench_incidents"
DOCS = ROOT / "docs" / "performance.md"
SECTION = "## Incidents (issue 4)"

SEED = 20260426
HISTORICAL = 100_000
REQUESTS = 220
WARMUP = 20
DIAG_REQUESTS = 40
POOL_REQUESTS = 100
HISTORY_DAYS = 730
BOX_HALF_M = 500.0  # the box is 1 km on a side
BOX_JITTER_M = 250.0
DEMO_USER, DEMO_PASSWORD = "operateur", "csu-demo-2026"
CENTRE_USERS = ("operateur", "operateur2", "superviseur")

TARGETS = {"list": 100.0, "create": 50.0}  # p95, ms, with the historical incidents loaded

STATUS_WEIGHTS = [("closed", 94), ("cancelled", 4), ("open", 1), ("engaged", 1)]
PRIORITY_WEIGHTS = [(1, 10), (2, 30), (3, 60)]
STREETS = ["rue de la Gare", "avenue de la République", "rue du Général-de-Gaulle", "place de la Mairie",
           "rue Jean-Jaurès", "boulevard d'Andilly", "rue des Écoles", "chemin des Vignes",
           "rue de Paris", "avenue Foch", "rue Pasteur", "allée des Tilleuls"]
CIRCUMSTANCES = ["signalé par une patrouille", "appel d'un riverain", "repéré sur caméra",
                 "signalé par la police nationale", "appel du 17 transféré",
                 "constaté par un agent de la police municipale"]


# ---------------------------------------------------------------------------
# Environment and database (before Django is set up)
# ---------------------------------------------------------------------------

def setup_django(url: str) -> str:
    prefix = f"bench-inc-{os.getpid()}"
    os.environ.pop("HUB_PRODUCTION", None)
    harness_setup_django(url, prefix, {"HUB_DEMO": "1"})
    return prefix


def prepare_database() -> None:
    from django.core.management import call_command

    print("migrate, load_demo ...", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_demo", verbosity=0)


def empty_incidents() -> None:
    """No incident, no journal line, no outbox event already relayed."""
    from django.db import connection

    from realtime.services import outbox_prune, relay

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE incidents_incident, incidents_journalentry, "
                       "incidents_incident_cameras, incidents_incident_shared_with "
                       "RESTART IDENTITY CASCADE")
    relay()
    outbox_prune(keep_days=0)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE incidents_incident")
        cursor.execute("VACUUM ANALYZE incidents_journalentry")
        cursor.execute("VACUUM ANALYZE realtime_event")


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


# ---------------------------------------------------------------------------
# Workload (seeded; the same in both phases)
# ---------------------------------------------------------------------------

def commune_weights() -> list[tuple[int, str, str, float]]:
    """(id, insee, name, weight): population, or the area when the population is unknown."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, insee_code, name, population, "
                       "ST_Area(boundary::geography) FROM geo_commune ORDER BY insee_code")
        rows = cursor.fetchall()
    if not rows:
        raise SystemExit("no commune loaded: load_demo failed?")
    return [(cid, insee, name, float(pop) if pop else area / 1e4)
            for cid, insee, name, pop, area in rows]


def points_in_communes(n: int, rng: random.Random) -> list[tuple[int, float, float]]:
    """``n`` (commune id, lon, lat): communes drawn by weight, points uniform inside the
    drawn commune's boundary (PostGIS ``ST_GeneratePoints``, seeded); shuffled."""
    from django.db import connection

    communes = commune_weights()
    drawn = rng.choices([c[0] for c in communes], weights=[c[3] for c in communes], k=n)
    counts: dict[int, int] = {}
    for cid in drawn:
        counts[cid] = counts.get(cid, 0) + 1
    points: list[tuple[int, float, float]] = []
    with connection.cursor() as cursor:
        for cid, count in sorted(counts.items()):
            cursor.execute(
                "SELECT ST_X(d.geom), ST_Y(d.geom) FROM geo_commune c, "
                "LATERAL ST_Dump(ST_GeneratePoints(c.boundary, %s, %s)) d WHERE c.id = %s",
                [count, rng.randrange(1, 2**31 - 1), cid])
            points.extend((cid, round(x, 7), round(y, 7)) for x, y in cursor.fetchall())
    rng.shuffle(points)
    return points


def commune_centres() -> list[tuple[str, float, float]]:
    """(name, lon, lat) of each commune centre: the demo town centres when the commune is
    a demo one, else a point on the boundary's surface."""
    from django.db import connection

    from geo.services import read_demo_communes

    demo = {r["insee_code"]: (r["lon"], r["lat"]) for r in read_demo_communes()}
    with connection.cursor() as cursor:
        cursor.execute("SELECT insee_code, name, ST_X(ST_PointOnSurface(boundary)), "
                       "ST_Y(ST_PointOnSurface(boundary)) FROM geo_commune ORDER BY insee_code")
        return [(name, *demo.get(insee, (x, y))) for insee, name, x, y in cursor.fetchall()]


def bbox_around(lon: float, lat: float, half_m: float) -> tuple[float, float, float, float]:
    dlat = half_m / 111_320.0
    dlon = half_m / (111_320.0 * math.cos(math.radians(lat)))
    return (round(lon - dlon, 6), round(lat - dlat, 6), round(lon + dlon, 6), round(lat + dlat, 6))


def make_workload(n_requests: int) -> dict:
    from incidents.models import Nature

    rng = random.Random(SEED)
    natures = list(Nature.objects.filter(active=True).order_by("code").values_list("code", "label"))
    total = n_requests + WARMUP
    centres = commune_centres()
    boxes = []
    for _ in range(total):
        _name, lon, lat = rng.choice(centres)
        # move the centre by up to BOX_JITTER_M in each direction
        lon += rng.uniform(-1, 1) * BOX_JITTER_M / (111_320.0 * math.cos(math.radians(lat)))
        lat += rng.uniform(-1, 1) * BOX_JITTER_M / 111_320.0
        boxes.append(bbox_around(lon, lat, BOX_HALF_M))
    creates = []
    for _cid, lon, lat in points_in_communes(total, rng):
        code, label = rng.choice(natures)
        creates.append({
            "nature": code, "priority": rng.choice([1, 2, 3, 3]),
            "location": {"type": "Point", "coordinates": [lon, lat]},
            "address": f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
            "description": f"{label} : {rng.choice(CIRCUMSTANCES)} (benchmark)",
        })
    return {"boxes": boxes, "creates": creates, "natures": natures, "centres": centres}


# ---------------------------------------------------------------------------
# Bulk load of the historical incidents (COPY)
# ---------------------------------------------------------------------------

INCIDENT_COLUMNS = ["id", "reference", "nature_id", "priority", "status", "location", "address",
                    "commune_id", "description", "reported_by_id", "created_at", "updated_at",
                    "version"]
JOURNAL_COLUMNS = ["incident_id", "at", "author_id", "kind", "text"]


def bulk_load(n: int) -> dict:
    """COPY ``n`` historical incidents and one journal line each; returns what was loaded."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents.models import Incident, Nature

    if Incident.objects.exists():
        raise RuntimeError("bulk_load expects no incident")
    rng = random.Random(SEED + 1)
    t0 = time.monotonic()
    natures = list(Nature.objects.filter(active=True).values_list("id", "label"))
    authors = list(get_user_model().objects.filter(username__in=CENTRE_USERS)
                   .values_list("id", flat=True))
    names = {cid: name for cid, _insee, name, _w in commune_weights()}
    points = points_in_communes(n, rng)
    tz = ZoneInfo(settings.TIME_ZONE)
    now = timezone.now()
    span = HISTORY_DAYS * 86400.0 - 3600.0
    instants = sorted(now - dt.timedelta(days=HISTORY_DAYS) + dt.timedelta(seconds=rng.uniform(0, span))
                      for _ in range(n))
    statuses, s_weights = zip(*STATUS_WEIGHTS, strict=True)
    priorities, p_weights = zip(*PRIORITY_WEIGHTS, strict=True)
    status_of = rng.choices(statuses, weights=s_weights, k=n)
    priority_of = rng.choices(priorities, weights=p_weights, k=n)
    counters: dict[int, int] = {}
    incidents, journal = [], []
    for i, (at, (cid, lon, lat), status, priority) in enumerate(
            zip(instants, points, status_of, priority_of, strict=True), start=1):
        year = at.astimezone(tz).year
        counters[year] = counters.get(year, 0) + 1
        nature_id, label = rng.choice(natures)
        author = rng.choice(authors)
        description = (f"{label} : {rng.choice(CIRCUMSTANCES)}, {rng.randint(1, 6)} personne(s) "
                       f"sur place, {names[cid]}.")
        closed = status in ("closed", "cancelled")
        incidents.append((
            i, f"CSU-{year}-{counters[year]:06d}", nature_id, priority, status,
            f"SRID=4326;POINT({lon} {lat})", f"{rng.randint(1, 120)} {rng.choice(STREETS)}", cid,
            description, author, at,
            at + dt.timedelta(minutes=rng.uniform(5, 360)) if closed else at,
            rng.randint(2, 4) if closed else 1))
        journal.append((i, at, author, "opened", description))
    prepared = time.monotonic() - t0
    t1 = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY incidents_incident ({', '.join(INCIDENT_COLUMNS)}) FROM STDIN") as copy:
            for row in incidents:
                copy.write_row(row)
        with raw.copy(f"COPY incidents_journalentry ({', '.join(JOURNAL_COLUMNS)}) FROM STDIN") as copy:
            for row in journal:
                copy.write_row(row)
        cursor.execute("SELECT setval(pg_get_serial_sequence('incidents_incident', 'id'), %s)", [n])
    copied = time.monotonic() - t1
    t2 = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE incidents_incident")
        cursor.execute("VACUUM ANALYZE incidents_journalentry")
        cursor.execute("SELECT pg_total_relation_size('incidents_incident'), "
                       "pg_total_relation_size('incidents_journalentry')")
        size_inc, size_journal = cursor.fetchone()
        cursor.execute("SELECT status, count(*) FROM incidents_incident GROUP BY status ORDER BY 1")
        by_status = dict(cursor.fetchall())
    return {"n": n, "prepare_s": prepared, "copy_s": copied, "analyze_s": time.monotonic() - t2,
            "years": dict(sorted(counters.items())), "by_status": by_status,
            "size_incident_mb": size_inc / 2**20, "size_journal_mb": size_journal / 2**20,
            "first": instants[0], "last": instants[-1]}


# ---------------------------------------------------------------------------
# The database's sessions, the server's CPU
# ---------------------------------------------------------------------------

def database_sessions() -> int:
    """Sessions ever opened on the benchmark database (pg_stat_database, PostgreSQL 14+)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


SERVER_PID: list[int] = []  # the Daphne process whose CPU time run_requests reads


def run_requests(client: Client, calls: list[tuple[str, str, dict | None]], warmup: int,
                 expect: int, keep=None) -> dict:
    """Send ``calls`` in order; the first ``warmup`` are not timed. ``keep(payload)`` extracts
    what the caller wants from each measured answer. ``cpu_ms`` is the CPU time the Daphne
    process spent per request over all the calls (less sensitive than wall time to other
    work on the machine; PostgreSQL's share is not in it)."""
    times, errors, sizes, kept = [], [], [], []
    cpu0 = process_cpu_ms(SERVER_PID[0]) if SERVER_PID else None
    for i, (method, path, body) in enumerate(calls):
        status, _, payload, elapsed = client.request(method, path, body)
        if status != expect:
            errors.append((path, status, payload[:200]))
            continue
        if i < warmup:
            if keep is not None:
                keep(payload)  # e.g. ids of warm-up creations, not kept
            continue
        times.append(elapsed)
        sizes.append(len(payload))
        if keep is not None:
            kept.append(keep(payload))
    cpu1 = process_cpu_ms(SERVER_PID[0]) if SERVER_PID else None
    cpu = (cpu1 - cpu0) / len(calls) if cpu0 is not None and cpu1 is not None else math.nan
    if errors:
        print(f"  {len(errors)} of {len(calls)} requests failed, first: {errors[0]}")
    if not times:
        raise RuntimeError(f"every request failed, first: {errors[:1]}")
    return dict(summary(times), errors=len(errors), bytes_mean=statistics.fmean(sizes), kept=kept,
                cpu_ms=cpu)


def list_path(box: tuple[float, ...], **extra) -> str:
    params = {"bbox": ",".join(f"{v:.6f}" for v in box), "status": "open,engaged", **extra}
    return "/api/incidents/?" + urlencode(params, safe=",")


def http_phase(client: Client, work: dict, n: int, loaded: bool) -> dict:
    """Every HTTP measure of one phase."""
    from incidents.models import Incident

    out: dict = {"incidents": Incident.objects.count(), "load_avg": os.getloadavg()[0]}
    boxes, creates = work["boxes"][:n + WARMUP], work["creates"][:n + WARMUP]

    print("  GET /healthz ...", flush=True)
    healthz = [("GET", "/healthz", None)] * (DIAG_REQUESTS + 10)
    before = database_sessions()
    out["healthz"] = run_requests(client, healthz, 10, 200)
    time.sleep(0.5)  # a session is counted when it ends
    after = database_sessions()
    out["healthz"]["connections_per_request"] = (
        (after - before - 2) / len(healthz) if before >= 0 and after >= 0 else None)

    print(f"  GET /api/incidents/?bbox=…&status=open,engaged × {n} ...", flush=True)
    out["list"] = run_requests(client, [("GET", list_path(b), None) for b in boxes], WARMUP, 200,
                               keep=lambda p: len(json.loads(p)))
    out["list"]["rows_mean"] = statistics.fmean(out["list"]["kept"])
    out["list"]["rows_max"] = max(out["list"]["kept"])
    print(f"  in-process list × {min(n, 100)} ...", flush=True)
    out["inproc"] = {"list": inprocess_list(client.token, work, min(n, 100))}

    print(f"  GET /api/incidents/?status=open,engaged (no box) × {DIAG_REQUESTS} ...", flush=True)
    live = [("GET", "/api/incidents/?status=open,engaged", None)] * (DIAG_REQUESTS + 5)
    out["live"] = run_requests(client, live, 5, 200, keep=lambda p: len(json.loads(p)))
    out["live"]["rows_mean"] = statistics.fmean(out["live"]["kept"])

    print(f"  POST /api/incidents/ × {n} ...", flush=True)
    out["create"] = run_requests(client, [("POST", "/api/incidents/", b) for b in creates], WARMUP,
                                 201, keep=lambda p: json.loads(p)["id"])
    created = out["create"]["kept"]
    print(f"  in-process incident_create() × {min(n, 100)} ...", flush=True)
    out["inproc"]["create"] = inprocess_create(work, min(n, 100))

    print(f"  GET /api/incidents/<id>/ × {len(created)} (the incidents just created) ...", flush=True)
    warm_detail = [("GET", f"/api/incidents/{i}/", None) for i in created[:WARMUP]]
    out["detail"] = run_requests(
        client, warm_detail + [("GET", f"/api/incidents/{i}/", None) for i in created], WARMUP, 200,
        keep=lambda p: len(json.loads(p).get("suggested_cameras", [])))
    out["detail"]["suggested_mean"] = statistics.fmean(out["detail"]["kept"])

    # A reference search: the operator types a reference read on a report.
    rng = random.Random(SEED + 2)
    if loaded:
        refs = list(Incident.objects.filter(id__lte=HISTORICAL_LOADED[0]).order_by("?")
                    .values_list("reference", flat=True)[:DIAG_REQUESTS + 5])
    else:
        year = dt.date.today().year
        refs = [f"CSU-{year}-{rng.randint(1, 999_999):06d}" for _ in range(DIAG_REQUESTS + 5)]
    print(f"  GET /api/incidents/?q=<reference> × {DIAG_REQUESTS} ...", flush=True)
    out["search"] = run_requests(
        client, [("GET", "/api/incidents/?" + urlencode({"q": r}), None) for r in refs], 5, 200,
        keep=lambda p: len(json.loads(p)))

    if loaded:
        ids = rng.sample(range(1, HISTORICAL_LOADED[0] + 1), DIAG_REQUESTS + 5)
        print(f"  GET /api/incidents/<id>/ × {DIAG_REQUESTS} (historical incidents) ...", flush=True)
        out["detail_hist"] = run_requests(
            client, [("GET", f"/api/incidents/{i}/", None) for i in ids], 5, 200,
            keep=lambda p: len(json.loads(p).get("suggested_cameras", [])))
    for measure in out.values():
        if isinstance(measure, dict):
            measure.pop("kept", None)
    out["incidents_end"] = Incident.objects.count()
    return out


HISTORICAL_LOADED = [0]  # how many historical incidents the loaded phase holds


POOL_SETTINGS = """\
# Written by benchmarks/incidents.py for its pooled-connection phase; not part of the hub.
from config.settings import *  # noqa: F403

DATABASES["default"] = {**DATABASES["default"], "CONN_MAX_AGE": 0,  # noqa: F405
                        "OPTIONS": {**DATABASES["default"]["OPTIONS"],  # noqa: F405
                                    "pool": {"min_size": 2, "max_size": 8, "timeout": 10}}}
"""


def pool_env() -> tuple[dict[str, str] | None, str]:
    """Environment for a Daphne whose Django keeps its PostgreSQL connections in a
    psycopg pool (Django >= 5.1 ``OPTIONS["pool"]``), through a settings module written in a
    temporary directory that extends ``config.settings``; None when psycopg_pool is missing."""
    if importlib.util.find_spec("psycopg_pool") is None:
        return None, ""
    folder = tempfile.mkdtemp(prefix="bench-inc-pool-")
    Path(folder, "bench_incidents_pool_settings.py").write_text(POOL_SETTINGS)
    path = os.pathsep.join(p for p in (folder, str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"DJANGO_SETTINGS_MODULE": "bench_incidents_pool_settings", "PYTHONPATH": path}, folder


def run_interleaved(clients: dict[str, Client], calls: dict[str, list], warmup: int,
                    expect: int, keep=None) -> dict[str, dict]:
    """Call i goes to every server in turn (the order alternating), so that the load of
    the machine, which drifts, weighs the same on each; the first ``warmup`` are not timed."""
    names = list(clients)
    times: dict[str, list[float]] = {k: [] for k in names}
    kept: dict[str, list] = {k: [] for k in names}
    errors: dict[str, int] = dict.fromkeys(names, 0)
    for i in range(len(calls[names[0]])):
        for name in names if i % 2 == 0 else names[::-1]:
            method, path, body = calls[name][i]
            status, _, payload, elapsed = clients[name].request(method, path, body)
            if status != expect:
                errors[name] += 1
                continue
            if keep is not None:
                kept[name].append(keep(payload))
            if i >= warmup:
                times[name].append(elapsed)
    return {k: dict(summary(times[k]), errors=errors[k], kept=kept[k]) for k in names}


def pool_phase(as_is: Client, pooled: Client, work: dict, n: int) -> dict:
    """The three main calls (and /healthz), interleaved between the Daphne as configured
    and the Daphne with pooled connections, on the loaded database."""
    clients = {"as_is": as_is, "pooled": pooled}
    out: dict = {"load_avg": os.getloadavg()[0], "as_is": {}, "pooled": {}}

    def both(calls: list) -> dict[str, list]:
        return dict.fromkeys(clients, calls)

    def store(key: str, res: dict[str, dict]) -> None:
        for name, measure in res.items():
            out[name][key] = measure

    boxes, creates = work["boxes"][:n + WARMUP], work["creates"][:n + WARMUP]
    print(f"  GET /healthz × {DIAG_REQUESTS}, list × {n}, POST × {n}, detail × {n}, each on both "
          "servers in turn ...", flush=True)
    store("healthz", run_interleaved(clients, both([("GET", "/healthz", None)] * (DIAG_REQUESTS + 10)),
                                     10, 200))
    store("list", run_interleaved(clients, both([("GET", list_path(b), None) for b in boxes]),
                                  WARMUP, 200))
    store("create", run_interleaved(clients, both([("POST", "/api/incidents/", b) for b in creates]),
                                    WARMUP, 201, keep=lambda p: json.loads(p)["id"]))
    details = {name: [("GET", f"/api/incidents/{i}/", None) for i in out[name]["create"]["kept"]]
               for name in clients}
    store("detail", run_interleaved(clients, details, WARMUP, 200))
    for name in clients:
        for measure in out[name].values():
            measure.pop("kept", None)
    return out


# ---------------------------------------------------------------------------
# In-process: SQL, plans, queries per request, database time, scratch experiments
# ---------------------------------------------------------------------------

def captured(client_token: str, method: str, path: str, body: dict | None = None):
    """Run one request through django.test.Client and capture its SQL."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    dj = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {client_token}")
    with CaptureQueriesContext(connection) as ctx:
        if method == "GET":
            resp = dj.get(path)
        else:
            resp = dj.post(path, data=json.dumps(body), content_type="application/json")
    return resp, [q["sql"] for q in ctx.captured_queries]


_MEMBER: list = []


def bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=DEMO_USER)


def bench_member():
    from partners.selectors import member_of

    if not _MEMBER:
        _MEMBER.append(member_of(bench_user()))
    return _MEMBER[0]


def list_queryset(box: tuple[float, ...] | None = None, q: str | None = None):
    """The list view's queryset, built by the selector ``GET /api/incidents/`` calls
    (``incidents.selectors.incidents.incident_list``): ``?bbox=box&status=open,engaged`` (no
    bbox when ``box`` is None), or ``?q=q`` alone."""
    from incidents.selectors.incidents import incident_list

    if q is not None:
        filters = {"q": q}
    else:
        filters = {"status": "open,engaged", **({"bbox": ",".join(map(repr, box))} if box is not None else {})}
    return incident_list(member=bench_member(), filters=filters)


def db_times(cursor, sql: str, params_list: list, runs_warm: int = 5) -> dict:
    for params in params_list[:runs_warm]:
        cursor.execute(sql, params)
        cursor.fetchall()
    times = []
    for params in params_list:
        t0 = now_ms()
        cursor.execute(sql, params)
        cursor.fetchall()
        times.append(now_ms() - t0)
    return summary(times)


def plan_nodes(plan_text: str) -> str:
    """The scan nodes of a text plan, on one line."""
    nodes = []
    for line in plan_text.splitlines():
        m = re.search(r"((?:Parallel )?(?:Bitmap Heap|Bitmap Index|Index Only|Index|Seq) Scan"
                      r"(?: Backward)?(?: using \S+)? on \S+)", line)
        if m:
            nodes.append(m.group(1))
    return "; ".join(nodes) or "?"


def explain(cursor, sql: str, params) -> str:
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
    return "\n".join(r[0] for r in cursor.fetchall())


def create_kwargs(body: dict) -> dict:
    from django.contrib.gis.geos import Point

    lon, lat = body["location"]["coordinates"]
    return {"nature": body["nature"], "priority": body["priority"], "address": body["address"],
            "description": body["description"], "location": Point(lon, lat, srid=4326)}


def inprocess_list(token: str, work: dict, n: int) -> dict:
    """The list without HTTP nor a new PostgreSQL connection per request: through
    ``django.test.Client`` (the whole Django stack, on this process's kept connection)."""
    from django.test import Client as DjangoClient

    dj = DjangoClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    times = []
    for i, box in enumerate(work["boxes"][:n + WARMUP]):
        t0 = now_ms()
        resp = dj.get(list_path(box))
        if i >= WARMUP:
            times.append(now_ms() - t0)
        assert resp.status_code == 200, resp.content[:300]
    return summary(times)


def inprocess_create(work: dict, n: int) -> dict:
    """The creation service ``incident_create`` called directly (commit and relay included)."""
    from incidents.services.incidents import incident_create

    member = bench_member()
    times = []
    for i, body in enumerate(work["creates"][:n + WARMUP]):
        kwargs = create_kwargs(body)
        t0 = now_ms()
        incident_create(member=member, **kwargs)
        if i >= WARMUP:
            times.append(now_ms() - t0)
    return summary(times)


def publish_once(event, *, audience):
    """Scratch copy of ``realtime.services.publish`` that registers the after-commit relay
    once per transaction (the proposed fix); everything else as in the original."""
    from django.db import connection, transaction

    from realtime.models import Event
    from realtime.services import outbox_lock, relay_safely

    if not connection.in_atomic_block:
        raise RuntimeError("publish() must run inside the transaction of its change")
    if not audience:
        raise ValueError("an event needs an audience")
    outbox_lock()
    row = Event.objects.create(type=event.type, data=event.model_dump(mode="json"),
                               audience=list(audience))
    if not any(func is relay_safely for _sids, func, _robust in connection.run_on_commit):
        transaction.on_commit(relay_safely)
    return row


class Rollback(Exception):
    pass


COMMUNE_SQL = ("SELECT * FROM geo_commune WHERE ST_Covers(boundary, "
               "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) ORDER BY insee_code LIMIT 1")


def bench_fresh_backend(url: str, work: dict, runs: int = 30) -> dict:
    """What each request pays for its new PostgreSQL connection (Django opens one per request
    under Daphne): connect, then the commune lookup (the first PostGIS call of the backend,
    which loads the PostGIS library), then the same lookup again on that connection."""
    import psycopg

    connect, first, second = [], [], []
    pts = [c["location"]["coordinates"] for c in work["creates"][:runs]]
    for lon, lat in pts:
        t0 = now_ms()
        conn = psycopg.connect(url)
        t1 = now_ms()
        try:
            with psycopg.ClientCursor(conn) as cursor:
                cursor.execute(COMMUNE_SQL, [lon, lat])
                cursor.fetchall()
                t2 = now_ms()
                cursor.execute(COMMUNE_SQL, [lon, lat])
                cursor.fetchall()
                t3 = now_ms()
        finally:
            conn.close()
        connect.append(t1 - t0)
        first.append(t2 - t1)
        second.append(t3 - t2)
    return {"connect": summary(connect), "first": summary(first), "second": summary(second)}


def inprocess(token: str, work: dict, url: str) -> dict:
    """Loaded database: SQL, plans, queries per request, database time, scratch experiments."""
    from django.db import connection, transaction

    import incidents.services.incidents as incident_services
    import incidents.services.journal as journal_services
    from cameras.selectors import COVERAGE_SQL
    from incidents.api.incidents import incident_answer
    from incidents.models import Incident
    from realtime.services import relay

    out: dict = {"fresh": bench_fresh_backend(url, work)}
    boxes = work["boxes"][WARMUP:]
    box = boxes[0]

    # 1. The list: the SQL the view runs, and the plan of the queryset rebuilt in-process.
    resp, queries = captured(token, "GET", list_path(box))
    assert resp.status_code == 200, resp.content[:300]
    main = [q for q in queries if 'FROM "incidents_incident"' in q and "ST_Within" in q]
    out["list_queries"] = len(queries)
    out["list_sql"] = main[0] if main else "?"
    qs = list_queryset(box)
    sql, params = qs.query.sql_with_params()
    out["list_sql_same"] = connection.ops.compose_sql(sql, params).strip() == out["list_sql"].strip()
    qs.explain(analyze=True)  # warm
    out["list_plan"] = qs.explain(analyze=True, buffers=True)
    out["list_plan_nodes"] = plan_nodes(out["list_plan"])
    with connection.cursor() as cursor:  # the list statement alone, same boxes as over HTTP
        out["list_db"] = db_times(cursor, sql, [list_queryset(b).query.sql_with_params()[1]
                                                for b in boxes])

    # 2. Creation and detail: queries per request, relay passes after the commit.
    body = dict(work["creates"][0], description="in-process probe (benchmark)")
    resp, queries = captured(token, "POST", "/api/incidents/", body)
    assert resp.status_code == 201, resp.content[:300]
    new_id = resp.json()["id"]
    out["create_queries"] = len(queries)
    out["create_relay_passes"] = sum("pg_advisory_lock(" in q for q in queries)
    out["create_shared_with"] = sum("incidents_incident_shared_with" in q for q in queries)
    out["create_sql"] = queries
    resp, queries = captured(token, "GET", f"/api/incidents/{new_id}/")
    assert resp.status_code == 200, resp.content[:300]
    out["detail_queries"] = len(queries)
    out["detail_sql"] = queries

    # 3. Database time of the pieces of a creation and of a detail.
    year = dt.date.today().year
    ref_sql = ("SELECT reference FROM incidents_incident WHERE reference::text LIKE %s "
               "ORDER BY reference DESC LIMIT 1 FOR UPDATE")
    pts = [c["location"]["coordinates"] for c in work["creates"][WARMUP:]]
    with connection.cursor() as cursor:
        with transaction.atomic():
            out["reference_db"] = db_times(cursor, ref_sql, [[f"CSU-{year}-%"]] * 200)
            out["reference_plan"] = explain(cursor, ref_sql, [f"CSU-{year}-%"])
        out["commune_db"] = db_times(cursor, COMMUNE_SQL, [[x, y] for x, y in pts])
        out["coverage_db"] = db_times(
            cursor, COVERAGE_SQL, [{"lon": x, "lat": y, "day": dt.date.today()} for x, y in pts])

    # 4. Scratch: a relay pass that finds nothing to send (what the second pass of every
    # creation costs), and incident_create with the relay registered once per transaction
    # (publish_once), alternated with the original on the same points.
    relay()
    times = []
    for _ in range(200):
        t0 = now_ms()
        relay()
        times.append(now_ms() - t0)
    out["empty_relay"] = summary(times)
    member = bench_member()
    original = incident_services.publish
    runs: dict[str, list[float]] = {"original": [], "once": []}
    try:
        for i, body in enumerate(work["creates"][:2 * 80 + 10]):
            variant = "once" if i % 2 else "original"
            # A creation publishes from its module and from the journal's (its first line).
            incident_services.publish = journal_services.publish = publish_once if variant == "once" else original
            kwargs = create_kwargs(body)
            t0 = now_ms()
            incident_services.incident_create(member=member, **kwargs)
            if i >= 10:
                runs[variant].append(now_ms() - t0)
    finally:
        incident_services.publish = journal_services.publish = original
    out["relay_once"] = {k: summary(v) for k, v in runs.items()}

    # 5. Scratch, rolled back: the text search (?q=) as it is, then with trigram indexes
    # on the three searched expressions.
    refs = list(Incident.objects.filter(id__lte=HISTORICAL_LOADED[0]).order_by("?")
                .values_list("reference", flat=True)[:60])
    q_sql, _ = list_queryset(q=refs[0]).query.sql_with_params()
    q_params = [list_queryset(q=ref).query.sql_with_params()[1] for ref in refs]
    exp_q: dict = {}
    with connection.cursor() as cursor:
        exp_q["before"] = db_times(cursor, q_sql, q_params)
        exp_q["plan_before"] = explain(cursor, q_sql, q_params[0])
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone():
            try:
                with transaction.atomic():
                    t0 = time.monotonic()
                    cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                    for col in ("reference", "description", "address"):
                        cursor.execute(f"CREATE INDEX bench_trgm_{col} ON incidents_incident "
                                       f'USING gin (UPPER("{col}"::text) gin_trgm_ops)')
                    cursor.execute("ANALYZE incidents_incident")
                    exp_q["build_s"] = time.monotonic() - t0
                    exp_q["after"] = db_times(cursor, q_sql, q_params)
                    exp_q["plan_after"] = explain(cursor, q_sql, q_params[0])
                    raise Rollback
            except Rollback:
                pass
    out["search_exp"] = exp_q

    # 6. Scratch, rolled back: commune boundaries with the detail of real ones (~20 m
    # segments); the list queryset + the answers (incident_answer) with and without the boundary that
    # select_related("commune") loads for every row (alternated, same boxes).
    def list_times(boxes_: list, live: bool) -> dict:
        runs_: dict[str, list[float]] = {"full": [], "defer": []}
        rows = 0
        for b in boxes_:
            for variant in ("full", "defer"):
                t0 = now_ms()
                qs_ = list_queryset(None if live else b)
                if variant == "defer":
                    qs_ = qs_.defer("commune__boundary")
                rows = len([incident_answer(incident) for incident in qs_])
                runs_[variant].append(now_ms() - t0)
        return {"full": summary(runs_["full"]), "defer": summary(runs_["defer"]), "rows": rows}

    exp: dict = {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT avg(ST_NPoints(boundary)) FROM geo_commune")
        exp["points_demo"] = float(cursor.fetchone()[0])
    exp["bbox_demo"] = list_times(boxes[:60], live=False)
    exp["live_demo"] = list_times(boxes[:25], live=True)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE geo_commune SET boundary = ST_Multi(ST_Segmentize("
                               "boundary::geography, 20)::geometry)")
                cursor.execute("SELECT avg(ST_NPoints(boundary)) FROM geo_commune")
                exp["points_detailed"] = float(cursor.fetchone()[0])
            exp["bbox_detailed"] = list_times(boxes[:60], live=False)
            exp["live_detailed"] = list_times(boxes[:25], live=True)
            raise Rollback
    except Rollback:
        pass
    out["boundary_exp"] = exp
    return out


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b and not math.isnan(a) and not math.isnan(b) else "–"


MEASURES = [
    ("list", "GET /api/incidents/?bbox=(1 km)&status=open,engaged", "list"),
    ("create", "POST /api/incidents/ (create, journal, 2 events, relay)", "create"),
    ("detail", "GET /api/incidents/<id>/ (journal, suggested cameras)", None),
    ("healthz", "diagnostic: GET /healthz (fixed cost of a request)", None),
    ("live", "diagnostic: GET /api/incidents/?status=open,engaged (no box)", None),
    ("search", "diagnostic: GET /api/incidents/?q=<reference>", None),
]


def table_rows(r: dict) -> list[list[str]]:
    empty, loaded = r["empty"], r["loaded"]
    rows = []

    def add(label: str, e: dict | None, lo: dict, target: str | None = None) -> None:
        tgt = f"p95 ≤ {TARGETS[target]:.0f}" if target else ""
        verdict = ("met" if lo["p95"] <= TARGETS[target] else "NOT met") if target else ""
        cpu_e = e.get("cpu_ms", math.nan) if e else math.nan
        cpu_lo = lo.get("cpu_ms", math.nan)
        cpu = "" if math.isnan(cpu_lo) else (f"{fmt(cpu_e)} / {fmt(cpu_lo)}" if e else fmt(cpu_lo))
        rows.append([label, fmt(e["p50"]) if e else "", fmt(e["p95"]) if e else "",
                     fmt(lo["p50"]), fmt(lo["p95"]),
                     ratio(lo["p50"], e["p50"]) if e else "", ratio(lo["p95"], e["p95"]) if e else "",
                     cpu, tgt, verdict])

    for key, label, target in MEASURES:
        add(label, empty[key], loaded[key], target)
    add("diagnostic: GET /api/incidents/<id>/ of historical incidents", None, loaded["detail_hist"])
    add("in-process: list through django.test.Client (no HTTP, kept connection)",
        empty["inproc"]["list"], loaded["inproc"]["list"])
    add("in-process: incident_create() service call (commit and relay included)",
        empty["inproc"]["create"], loaded["inproc"]["create"])
    return rows


POOL_MEASURES = [("list", "GET /api/incidents/?bbox=(1 km)&status=open,engaged", "list"),
                 ("create", "POST /api/incidents/", "create"),
                 ("detail", "GET /api/incidents/<id>/", None),
                 ("healthz", "GET /healthz", None)]


def pool_rows(r: dict) -> list[list[str]]:
    rows = []
    for key, label, target in POOL_MEASURES:
        lo, po = r["pooled"]["as_is"][key], r["pooled"]["pooled"][key]
        tgt = f"p95 ≤ {TARGETS[target]:.0f}" if target else ""
        verdict = ("met" if po["p95"] <= TARGETS[target] else "NOT met") if target else ""
        rows.append([label, fmt(lo["p50"]), fmt(lo["p95"]), fmt(po["p50"]), fmt(po["p95"]),
                     ratio(po["p50"], lo["p50"]), ratio(po["p95"], lo["p95"]), tgt, verdict])
    return rows


def print_table(head: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def print_report(r: dict) -> None:
    m, load, ip = r["machine"], r["load"], r["inproc"]
    e, lo = r["empty"], r["loaded"]
    print("\n" + "=" * 100)
    print(f"Incidents benchmark — {r['date']} — {m['nproc']} CPU ({m['cpu']}); load average "
          f"{m['load'][0]:.2f} at the start, {e['load_avg']:.2f} at the empty phase, "
          f"{lo['load_avg']:.2f} at the loaded phase")
    print(f"loaded: {load['n']} historical incidents + journal lines, COPY {load['copy_s']:.1f} s "
          f"(prepare {load['prepare_s']:.1f} s, VACUUM ANALYZE {load['analyze_s']:.1f} s); "
          f"statuses {load['by_status']}; references per year {load['years']}; incident table "
          f"{load['size_incident_mb']:.0f} MiB, journal {load['size_journal_mb']:.0f} MiB")
    print(f"incidents in the database at the start of each phase: empty {e['incidents']}, "
          f"loaded {lo['incidents']}")
    print_table(["measure (ms)", "empty p50", "empty p95", "loaded p50", "loaded p95", "ratio p50",
                 "ratio p95", "Daphne CPU/req", "target", ""], table_rows(r))
    print(f"rows per list answer: empty {e['list']['rows_mean']:.1f}, loaded "
          f"{lo['list']['rows_mean']:.1f} (max {lo['list']['rows_max']}); live list (no box) "
          f"loaded {lo['live']['rows_mean']:.0f} rows; suggested cameras per detail "
          f"{lo['detail']['suggested_mean']:.1f}")
    print("PostgreSQL connections opened per request (GET /healthz): "
          f"empty {e['healthz']['connections_per_request']}, "
          f"loaded {lo['healthz']['connections_per_request']}")
    print("failed requests (empty/loaded): "
          + ", ".join(f"{k} {e[k]['errors']}/{lo[k]['errors']}" for k, *_ in MEASURES))
    print("\nIn-process, loaded database:")
    print(f"  queries per request: list {ip['list_queries']}, create {ip['create_queries']} "
          f"(relay passes after the commit: {ip['create_relay_passes']}; shared_with queries: "
          f"{ip['create_shared_with']}), detail {ip['detail_queries']}")
    print(f"  list statement alone: p50 {fmt(ip['list_db']['p50'])} ms, p95 {fmt(ip['list_db']['p95'])} ms")
    print(f"  reference number query p50 {fmt(ip['reference_db']['p50'])} ms; commune lookup p50 "
          f"{fmt(ip['commune_db']['p50'])} ms; coverage lookup p50 {fmt(ip['coverage_db']['p50'])} ms")
    fr = ip["fresh"]
    print(f"  new PostgreSQL connection p50 {fmt(fr['connect']['p50'])} ms; its first commune lookup "
          f"p50 {fmt(fr['first']['p50'])} ms, the second {fmt(fr['second']['p50'])} ms")
    ro = ip["relay_once"]
    print(f"  relay pass with nothing to send: p50 {fmt(ip['empty_relay']['p50'])} ms, p95 "
          f"{fmt(ip['empty_relay']['p95'])} ms")
    print(f"  scratch: incident_create() as is p50 {fmt(ro['original']['p50'])} / p95 "
          f"{fmt(ro['original']['p95'])} ms; relay registered once per transaction p50 "
          f"{fmt(ro['once']['p50'])} / p95 {fmt(ro['once']['p95'])} ms")
    print(f"\nList SQL (captured from the view; the queryset rebuilt in-process gives the same SQL: "
          f"{'yes' if ip['list_sql_same'] else 'NO'}):\n  {ip['list_sql']}")
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the list queryset (loaded):\n" + ip["list_plan"])
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the reference-number query:\n" + ip["reference_plan"])
    sq = ip["search_exp"]
    print(f"\nScratch: ?q=<reference> statement alone p50 {fmt(sq['before']['p50'])} / p95 "
          f"{fmt(sq['before']['p95'])} ms; plan: {plan_nodes(sq['plan_before'])}")
    if "after" in sq:
        print(f"  with GIN trigram indexes on UPPER(reference/description/address) (built in "
              f"{sq['build_s']:.1f} s, rolled back): p50 {fmt(sq['after']['p50'])} / p95 "
              f"{fmt(sq['after']['p95'])} ms; plan: {plan_nodes(sq['plan_after'])}")
    x = ip["boundary_exp"]
    print(f"\nScratch (rolled back): list queryset + incident_answer in-process, as is / with "
          f"defer('commune__boundary'); boundaries of {x['points_demo']:.0f} points (demo) and "
          f"{x['points_detailed']:.0f} points (segmentised to 20 m, like real ones):")
    for name in ("bbox", "live"):
        d, t = x[name + "_demo"], x[name + "_detailed"]
        print(f"  {name} ({t['rows']} rows): demo p50 {fmt(d['full']['p50'])} / "
              f"{fmt(d['defer']['p50'])} ms; detailed p50 {fmt(t['full']['p50'])} / "
              f"{fmt(t['defer']['p50'])} ms, p95 {fmt(t['full']['p95'])} / {fmt(t['defer']['p95'])} ms")
    if "pooled" in r:
        print(f"\nScratch: loaded database, Daphne with pooled PostgreSQL connections "
              f"(load average {r['pooled']['load_avg']:.2f}):")
        print_table(["measure (ms)", "as is p50", "as is p95", "pooled p50", "pooled p95",
                     "ratio p50", "ratio p95", "target", ""], pool_rows(r))
    print("\nCreation SQL (one in-process request):")
    for q in ip["create_sql"]:
        print("  " + (q if len(q) < 150 else q[:147] + "..."))
    print("\nDetail SQL (one in-process request):")
    for q in ip["detail_sql"]:
        print("  " + (q if len(q) < 150 else q[:147] + "..."))


def markdown(r: dict, command: str) -> str:
    m, load, ip, e, lo = r["machine"], r["load"], r["inproc"], r["empty"], r["loaded"]
    ro, sq, x = ip["relay_once"], ip["search_exp"], ip["boundary_exp"]
    lines = [
        SECTION,
        "",
        "Script: `benchmarks/incidents.py`. Own database (`csu_bench_incidents`: created with "
        "PostGIS, migrated, `load_demo`), own Daphne on a free loopback port started with the same "
        "environment, `CHANNELS_PREFIX=bench-inc-<pid>`; one keep-alive connection with a bearer "
        "token (`operateur`); warm-up requests excluded; times client-side, in ms.",
        "",
        f"- **Measured** {r['date']} with `{command}` (after `source var/env.sh`; run time "
        f"{r['runtime_s']:.0f} s).",
        f"- **Machine**: {m['nproc']} CPU ({m['cpu']}), Linux {m['kernel']}; Python {m['python']}, "
        f"Django {m['django']}, PostgreSQL {m['postgresql']}, PostGIS {m['postgis']}. Client, "
        "Daphne, PostgreSQL and Redis share the machine; load average "
        f"{e['load_avg']:.2f} during the empty phase, {lo['load_avg']:.2f} during the loaded one "
        "(other work on the machine: noise, mostly in the p95s).",
        f"- **Data**: *empty* = no incident at the start (the phase creates its own "
        f"{e['incidents_end']} as it goes); *loaded* = {load['n']:,} historical incidents over "
        f"the last {HISTORY_DAYS} days, COPY in {load['copy_s']:.1f} s then VACUUM ANALYZE: "
        f"{load['by_status'].get('open', 0)} open, {load['by_status'].get('engaged', 0)} engaged, "
        f"{load['by_status'].get('cancelled', 0)} cancelled, the rest closed; points drawn inside "
        "the commune boundaries (communes weighted by population); one journal line each. Same "
        "seeded requests in both phases: boxes of 1 km around a commune centre (±250 m), "
        "creations at the same points, details of the incidents just created.",
        "",
        "| measure (ms) | empty p50 | empty p95 | loaded p50 | loaded p95 | loaded/empty p50 | "
        "loaded/empty p95 | Daphne CPU per request, empty / loaded | target | |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in table_rows(r):
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"- {lo['list']['n']} requests per main measure, {lo['healthz']['n']} per diagnostic. A list "
        f"answer holds {lo['list']['rows_mean']:.1f} incidents on average on the loaded database "
        f"(max {lo['list']['rows_max']}), the live list {lo['live']['rows_mean']:.0f}; a detail "
        f"suggests {lo['detail']['suggested_mean']:.1f} cameras.",
        f"- List plan on the loaded database: `{ip['list_plan_nodes']}`; the statement alone takes "
        f"{fmt(ip['list_db']['p50'])} ms at p50, {fmt(ip['list_db']['p95'])} ms at p95. "
        "`EXPLAIN (ANALYZE, BUFFERS)` of the view's queryset (rebuilt in-process; same SQL as the "
        f"view's: {'yes' if ip['list_sql_same'] else 'NO'}), the box's EWKB abbreviated:",
        "",
        "```",
        re.sub(r"'[0-9A-Fa-f]{40,}'", "'<1 km box>'", ip["list_plan"]),
        "```",
        "",
        f"- Queries per request (loaded, in-process): list {ip['list_queries']}, creation "
        f"{ip['create_queries']} ({ip['create_relay_passes']} relay passes after the commit, "
        f"{ip['create_shared_with']} `shared_with` reads of the new incident), detail "
        f"{ip['detail_queries']}. Database time of the pieces (p50): reference number "
        f"{fmt(ip['reference_db']['p50'])} ms, commune lookup {fmt(ip['commune_db']['p50'])} ms, "
        f"coverage lookup {fmt(ip['coverage_db']['p50'])} ms.",
        f"- PostgreSQL connections opened per request: "
        f"{lo['healthz']['connections_per_request']:.2f} (`GET /healthz`). A new connection costs "
        f"{fmt(ip['fresh']['connect']['p50'])} ms, and its first PostGIS statement (commune lookup) "
        f"{fmt(ip['fresh']['first']['p50'])} ms against {fmt(ip['fresh']['second']['p50'])} ms for "
        "the next one (the backend loads the PostGIS library): every request pays both.",
        f"- Scratch: `incident_create()` with the after-commit relay registered once per transaction "
        f"instead of once per event: p50 {fmt(ro['original']['p50'])} → {fmt(ro['once']['p50'])} ms, "
        f"p95 {fmt(ro['original']['p95'])} → {fmt(ro['once']['p95'])} ms (alternated, same points); "
        f"a relay pass with nothing to send costs {fmt(ip['empty_relay']['p50'])} ms at p50.",
        f"- Scratch: `?q=` statement alone {fmt(sq['before']['p50'])} ms p50 "
        f"(`{plan_nodes(sq['plan_before'])}`)"
        + (f"; with GIN trigram indexes on the three `UPPER(...)` expressions (rolled back) "
           f"{fmt(sq['after']['p50'])} ms (`{plan_nodes(sq['plan_after'])}`)." if "after" in sq else "."),
        f"- Scratch: list queryset + serializer in-process with commune boundaries of "
        f"{x['points_detailed']:.0f} points (demo ones segmentised to 20 m, rolled back): live list "
        f"p50 {fmt(x['live_detailed']['full']['p50'])} ms as is, "
        f"{fmt(x['live_detailed']['defer']['p50'])} ms with `defer(\"commune__boundary\")` "
        f"(demo boundaries: {fmt(x['live_demo']['full']['p50'])} / "
        f"{fmt(x['live_demo']['defer']['p50'])} ms).",
    ]
    if "pooled" in r:
        po = r["pooled"]
        lines += [
            "",
            f"Scratch, same loaded database: a second Daphne whose Django keeps its PostgreSQL "
            f"connections in a psycopg pool (`OPTIONS[\"pool\"]`, Django ≥ 5.1, package "
            f"`psycopg-pool`; a settings module written to a temporary directory extends "
            f"`config.settings`), {po['pooled']['list']['n']} requests per call, load average "
            f"{po['load_avg']:.2f}; the two servers run side by side and get each call in turn "
            "(alternating order), so drifting machine load weighs the same on both:",
            "",
            "| measure (ms) | as is p50 | as is p95 | pooled p50 | pooled p95 | pooled/as is p50 | "
            "pooled/as is p95 | target | |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in pool_rows(r)]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    """Replace our own section, or append it; every other section is left as it is."""
    text = DOCS.read_text() if DOCS.exists() else "# Performance\n"
    pattern = re.compile(r"^" + re.escape(SECTION) + r"\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text.rstrip("\n") + "\n")
    print(f"wrote the '{SECTION[3:]}' section of {DOCS.relative_to(ROOT)}")


# ---------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help=f"measured requests per main measure (default {REQUESTS})")
    parser.add_argument("--historical", type=int, default=HISTORICAL,
                        help=f"historical incidents to load (default {HISTORICAL})")
    parser.add_argument("--pool-requests", type=int, default=POOL_REQUESTS,
                        help="requests per call in the pooled-connection phase, when psycopg_pool "
                        f"is importable (default {POOL_REQUESTS}; 0 skips it)")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"rewrite the '{SECTION[3:]}' section of docs/performance.md")
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"

    started = time.monotonic()
    url = bench_database_url(DB_NAME)
    ensure_database(url)
    prefix = setup_django(url)
    print(f"database {DB_NAME}, CHANNELS_PREFIX={prefix}")
    prepare_database()
    empty_incidents()
    r: dict = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
               "machine": machine()}
    work = make_workload(args.requests)

    daphne = Daphne(log_prefix="bench-inc-daphne-")
    client = None
    try:
        daphne.wait_ready()
        SERVER_PID.append(daphne.proc.pid)
        client = Client(daphne.port)
        client.login(DEMO_USER, DEMO_PASSWORD)
        print(f"daphne on 127.0.0.1:{daphne.port}; phase 1: empty database", flush=True)
        r["empty"] = http_phase(client, work, args.requests, loaded=False)

        print(f"emptying, then loading {args.historical:,} historical incidents ...", flush=True)
        empty_incidents()
        r["load"] = bulk_load(args.historical)
        HISTORICAL_LOADED[0] = args.historical
        print(f"  COPY {r['load']['copy_s']:.1f} s; phase 2: loaded database", flush=True)
        r["loaded"] = http_phase(client, work, args.requests, loaded=True)

        print("in-process: SQL, plans, queries per request, scratch experiments ...", flush=True)
        r["inproc"] = inprocess(client.token, work, url)

        # Scratch: a second Daphne whose connections are kept in a pool, interleaved with
        # the first one on the loaded database.
        env, folder = pool_env() if args.pool_requests > 0 else (None, "")
        if args.pool_requests <= 0:
            print("pooled-connection phase skipped (--pool-requests 0)")
        elif env is None:
            print("pooled-connection phase skipped: psycopg_pool is not importable "
                  "(e.g. pip install --target DIR psycopg-pool, then PYTHONPATH=DIR)")
        else:
            pooled, pooled_client = Daphne(env, log_prefix="bench-inc-daphne-"), None
            try:
                pooled.wait_ready()
                pooled_client = Client(pooled.port)
                pooled_client.login(DEMO_USER, DEMO_PASSWORD)
                print(f"phase 3: loaded database, Daphne as is and Daphne with pooled connections "
                      f"(127.0.0.1:{pooled.port}) ...", flush=True)
                r["pooled"] = pool_phase(client, pooled_client, work, args.pool_requests)
            finally:
                if pooled_client is not None:
                    pooled_client.close()
                pooled.stop()
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if client is not None:
            client.close()
        daphne.stop()

    r["runtime_s"] = time.monotonic() - started
    print_report(r)
    print(f"\nrun time {r['runtime_s']:.0f} s")
    section = markdown(r, command)
    print("\n" + section)
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
