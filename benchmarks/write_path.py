#!/usr/bin/env python
"""The write path in-process (issue 16): CPU and SQL statements of one position report, one radio
message to a unit and one on the all-partners net, and of a position sent on the tablet's socket.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/write_path.py                    # 6726f87 (before), then this tree, side by side
    python benchmarks/write_path.py --baseline none    # this tree only
    python benchmarks/write_path.py --n 300            # more requests per figure

Method (the one of the CPU table in docs/performance.md): ``django.test.Client`` (the HTTP writes,
with a bearer token and an ``Idempotency-Key``) and ``channels.testing.WebsocketCommunicator`` on
``config.asgi`` (the socket), all in this process, ``DEBUG`` off; ``--n`` requests of each kind
after 10 not measured, one after the other; CPU = ``time.process_time()`` over them (every
thread of the process: the request, the database thread of the socket, the client side, which
is small) / n. SQL = the statements of one more request (``CaptureQueriesContext``). Each figure
twice: the relay inside the request after commit (``HUB_RELAY_INLINE`` on, how the table was
measured) and the relay in its own process (off, the ``make run`` topology: the events are then
relayed between the rounds, not counted).

Its own database ``csu_bench_write`` (``BENCH_WRITE_DATABASE_URL`` overrides), created, migrated,
``load_demo`` loaded, with 200 tablets (field units, as ``benchmarks/radio.py`` makes them: the
all-partners message is one receipt per tablet). ``--baseline REF`` (default 6726f87, the code
before this work) runs the same measures on ``git archive REF`` in a child process (the same
database) and prints both.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fanout import ensure_data, ensure_database, machine, setup_django  # noqa: E402
from harness import bench_database_url  # noqa: E402

TABLETS = 200
WARMUP = 10
TARGETS = {"position": 10.0, "radio_direct": 12.0, "radio_all": 30.0}
# The last commit before this work (issue 16, item 2): the "before" of docs/performance.md.
BASELINE = "6726f87"


def _point_near(base, i: int):
    """A point 0–27 m from ``base``, back and forth (a unit standing about: the speed check holds)."""
    from django.contrib.gis.geos import Point

    metres = 3.0 * (i % 10)
    return Point(base.x + metres / (111_320 * math.cos(math.radians(base.y))), base.y, srid=4326)


def setup() -> dict:
    from django.conf import settings
    from radio import ensure_accounts

    from incidents.choices import NetKind
    from incidents.models import Net
    from incidents.services.radio import nets_ensure
    from partners.services import api_token_issue

    nets_ensure()
    tablets, operators, units = ensure_accounts(TABLETS, 1)
    net = Net.objects.get(kind=NetKind.ALL_PARTNERS).pk
    out: dict = {"net": net, "operator": operators[0], "tablets": []}
    for account in tablets[:2]:
        unit = units[account.user.username]
        raw, _ = api_token_issue(user=account.user)
        out["tablets"].append({"account": account, "unit": unit, "token": raw})
    out["operator_token"], _ = api_token_issue(user=operators[0].user)
    out["socket"] = _has_socket_positions()
    out["token_cache"] = hasattr(settings, "HUB_TOKEN_CACHE_SECONDS")
    return out


def _has_socket_positions() -> bool:
    try:
        from realtime.inbound import inbound_handler
    except ImportError:
        return False
    return inbound_handler("unit.position") is not None


def _base_point(unit):
    from geo.selectors import service_area

    if unit.position is not None:
        return unit.position
    area = service_area()
    assert area is not None
    return area.point_on_surface


def _relay() -> None:
    from realtime.services import relay

    relay()


def http_measure(n: int, token: str, requests) -> tuple[float, int]:
    """CPU ms per request over ``n`` (after WARMUP), and the SQL statements of one more."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    def send(i: int) -> None:
        path, body, status = requests(i)
        answer = client.post(path, data=json.dumps(body), content_type="application/json",
                             HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        if answer.status_code != status:
            raise SystemExit(f"{path}: {answer.status_code} {answer.content[:300]!r}")

    for i in range(WARMUP):
        send(i)
    _relay()
    cpu = time.process_time()
    for i in range(WARMUP, WARMUP + n):
        send(i)
    cpu = time.process_time() - cpu
    _relay()
    with CaptureQueriesContext(connection) as ctx:
        send(WARMUP + n)
    _relay()
    return cpu * 1000 / n, len(ctx.captured_queries)


def socket_measure(n: int, tablet: dict) -> tuple[float, int, float]:
    """The same for a position on the tablet's socket; SQL: the handler's write, run in this
    thread (the consumer's writer runs it in its own thread)."""
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from config.asgi import application
    from incidents.inbound import position_report
    from incidents.services.units import unit_positions_live

    base = _base_point(tablet["unit"])

    def message(i: int) -> dict:
        p = _point_near(base, i)
        return {"type": "unit.position", "id": uuid.uuid4().hex, "lat": p.y, "lon": p.x,
                "at": timezone.now().isoformat(), "accuracy": 5}

    async def run() -> float:
        headers = [(b"host", b"localhost"), (b"authorization", f"Bearer {tablet['token']}".encode())]
        communicator = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected, "the tablet's socket was refused"

        async def one(i: int) -> None:
            await communicator.send_to(text_data=json.dumps(message(i)))
            while True:
                frame = json.loads(await communicator.receive_from(timeout=10))
                if frame["type"] == "ack":
                    return
                if frame["type"] == "error":
                    raise SystemExit(f"socket position refused: {frame}")

        for i in range(WARMUP):
            await one(i)
        cpu = time.process_time()
        for i in range(WARMUP, WARMUP + n):
            await one(i)
        cpu = time.process_time() - cpu
        # The socket's own cost, for reference: a ping and its pong (client side included).
        ping = time.process_time()
        for _ in range(n):
            await communicator.send_to(text_data='{"type":"ping"}')
            while json.loads(await communicator.receive_from(timeout=10))["type"] != "pong":
                pass
        pings.append((time.process_time() - ping) * 1000 / n)
        await communicator.disconnect()
        return cpu

    pings: list[float] = []
    cpu = asyncio.run(run())
    _relay()
    user = get_user_model().objects.get(pk=tablet["account"].user.pk)
    report = position_report(user, message(WARMUP + n))
    assert not isinstance(report, dict), report
    with CaptureQueriesContext(connection) as ctx:
        unit_positions_live([report])
    assert report.reply is not None and report.reply["type"] == "ack", report.reply
    _relay()
    return cpu * 1000 / n, len(ctx.captured_queries), pings[0]


def measure(n: int) -> dict:
    from django.conf import settings
    from django.test.utils import override_settings
    from django.utils import timezone

    ctx = setup()
    tablet, net, op_token = ctx["tablets"][0], ctx["net"], ctx["operator_token"]
    unit = tablet["unit"]
    base = _base_point(unit)

    def position(i: int):
        p = _point_near(base, i)
        return (f"/api/units/{unit.pk}/position/",
                {"location": {"type": "Point", "coordinates": [p.x, p.y]}, "at": timezone.now().isoformat(),
                 "accuracy": 5}, 201)

    def direct(i: int):
        return "/api/radio/messages/", {"to_unit": unit.pk, "text": f"Message {i} à l'unité"}, 201

    def all_partners(i: int):
        return "/api/radio/messages/", {"net": net, "text": f"Message {i} à tous les partenaires"}, 201

    out: dict = {"socket": ctx["socket"], "token_cache": ctx["token_cache"], "rows": {}}
    for inline in (True, False):
        with override_settings(HUB_RELAY_INLINE=inline):
            relay = "inline" if inline else "process"
            rows = out["rows"]
            rows.setdefault("position", {})[relay] = http_measure(n, tablet["token"], position)
            if ctx["socket"]:
                cpu, sql, ping = socket_measure(n, ctx["tablets"][1])
                rows.setdefault("position_socket", {})[relay] = (cpu, sql)
                rows.setdefault("socket_ping", {})[relay] = (ping, 0)
            rows.setdefault("radio_direct", {})[relay] = http_measure(n, op_token, direct)
            rows.setdefault("radio_all", {})[relay] = http_measure(n, op_token, all_partners)
    out["relay_inline_default"] = settings.HUB_RELAY_INLINE
    return out


LABELS = {"position": "position report, POST", "position_socket": "position on the tablet's socket",
          "socket_ping": "(reference) ping → pong on that socket",
          "radio_direct": "radio, direct (POST)", "radio_all": "radio, all-partners (POST)"}


def table(results: dict[str, dict]) -> str:
    lines = ["| write | tree | CPU ms, relay in the request (SQL) | CPU ms, relay in its own process (SQL) |",
             "|---|---|---:|---:|"]
    for key, label in LABELS.items():
        for tree, result in results.items():
            row = result["rows"].get(key)
            if row is None:
                continue
            cells = [f"{row[r][0]:.1f} ({row[r][1]})" for r in ("inline", "process")]
            lines.append(f"| {label} | {tree} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def verdicts(result: dict) -> list[str]:
    rows = result["rows"]
    out = []
    for key, target in TARGETS.items():
        candidates = [key] + (["position_socket"] if key == "position" and "position_socket" in rows else [])
        for name in candidates:
            for relay in ("inline", "process"):
                cpu = rows[name][relay][0]
                gap = cpu - target
                state = "met" if gap <= 0 else f"NOT met, {gap:.1f} ms over"
                out.append(f"{LABELS[name]}, relay {'in the request' if relay == 'inline' else 'in its process'}: "
                           f"{cpu:.1f} ms against ≤ {target:.0f} ms: {state}")
    return out


def baseline(ref: str, n: int) -> dict:
    """The same measures on ``git archive ref``, in a child process."""
    tmp = Path(tempfile.mkdtemp(prefix="write-path-baseline-"))
    try:
        archive = subprocess.run(["git", "archive", ref], cwd=HERE.parent, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        for name in ("write_path.py",):
            shutil.copy(HERE / name, tmp / "benchmarks" / name)
        for extra in ("locale",):  # compiled messages are not in git
            src = HERE.parent / extra
            if src.exists():
                shutil.copytree(src, tmp / extra, dirs_exist_ok=True)
        done = subprocess.run([sys.executable, str(tmp / "benchmarks" / "write_path.py"), "--child", "--n", str(n)],
                              cwd=tmp, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--n", type=int, default=100, help="measured requests of each kind")
    parser.add_argument("--baseline", default=BASELINE,
                        help="git ref measured the same way for comparison; none: skip")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    url = bench_database_url("csu_bench_write", "BENCH_WRITE_DATABASE_URL")
    ensure_database(url)
    setup_django(url, f"bench-write-{os.getpid()}")
    if args.child:
        ensure_data()
        print(json.dumps(measure(args.n)))
        return
    ensure_data()
    started = time.time()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True,
                          text=True).stdout.strip()
    results = {}
    if args.baseline != "none":
        ref = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=HERE.parent, capture_output=True,
                             text=True).stdout.strip()
        print(f"measuring {args.baseline} ({ref}) in a child process ...", flush=True)
        results[f"{args.baseline} {ref}"] = baseline(args.baseline, args.n)
    print(f"measuring this tree ({head}, with what is not committed) ...", flush=True)
    results[f"this tree {head}"] = measure(args.n)
    print(f"\n{args.n} requests of each kind after {WARMUP} (CPU ms per request, SQL statements of one):\n")
    print(table(results))
    print()
    for line in verdicts(results[f"this tree {head}"]):
        print(line)
    print(f"\nload average {os.getloadavg()[0]:.1f}; {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
