#!/usr/bin/env python
"""Realtime fan-out: 500 WebSocket clients on one Daphne, events from the real services.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/fanout.py                      # both layers, default sizes
    python benchmarks/fanout.py --layers pubsub      # one layer
    python benchmarks/fanout.py --clients 100 --events 50   # a quick smoke run

It prints figures; it never asserts a timing. Targets are printed beside
the figures for the reader to judge.

What runs where
---------------
* This process (the *producer*) sets up its own database, ``csu_bench_fanout`` on
  the server of ``DATABASE_URL`` (created with PostGIS when missing, migrated,
  ``load_demo`` loaded), creates the benchmark accounts (``bench-*``, tokens only)
  and then, for each channel layer in turn (``core`` = channels_redis
  ``RedisChannelLayer``, ``pubsub`` = ``realtime.layers.PubSubChannelLayer``, the hub's
  default: channels_redis' ``RedisPubSubChannelLayer`` made to survive a Redis restart):

  1. starts ONE Daphne process (``daphne -b 127.0.0.1 -p PORT config.asgi:application``
     with ``HUB_CHANNEL_LAYER`` set, its own ``CHANNELS_PREFIX``) and waits for
     ``GET /healthz`` to answer 200;
  2. starts ONE client process (this file with ``--client-worker``) that opens the
     WebSocket clients on ``/ws/events/`` with ``Authorization: Bearer <token>``
     and ``Origin: http://127.0.0.1:PORT`` (the hub's own); a client counts as connected once the
     consumer answered its ``ping`` (so its ``connect()`` is over);
  3. produces events with the real services, ``incidents.services.incident_create``
     and ``incident_share`` (2 outbox events each), with this process's channel
     layer switched to the same backend: the ``on_commit`` relay sends them
     through Redis exactly as a web request would;
  4. after a warm-up (8 events, not measured), three phases of N events (200):

     - "busy night": one producer at a fixed rate (20 events/s);
     - "flat out": as fast as ``--producers`` threads (default 1, each its own
       database connection, like concurrent requests) can commit;
     - "backlog": N events written by service calls inside ONE transaction, so the
       first on_commit relay sends them all at once, as the periodic relay does after
       Redis was away: what one Daphne delivers when it has more than it can send.

     Each phase ends when every client has what its audience says it should get, or
     when nothing arrived for ``--drain`` seconds (5).

Measures
--------
* commit time of each event: a ``transaction.on_commit`` hook registered before the
  service's own (the service runs inside our ``atomic`` block, so its hooks run after
  ours): the instant the COMMIT returned, before the relay starts; the time at which
  the service call returned (after the relay) is also kept, the gap is shown as
  "relay" (time spent in ``realtime.services.relay`` on the producer side);
* receipt time of each frame, per client and event id (``time.time()`` as the frame
  is read; producer and clients are on the same machine, same clock);
* latency = receipt - commit, over every (client, event) delivery of the phase;
* delivered messages/s = event frames received by all clients / phase wall time
  (first service call of the phase, or the backlog's commit, to the last frame
  received of the phase);
* expected recipients: ``realtime.models.Event.audience`` of each event against the
  groups of each client (``realtime.audiences.groups_of``); "lost" = expected and
  not received within the drain timeout, "dup" = received more than once, "leak" =
  received but not in the audience, "order" = an id not above the previous one
  received by the same client. All four must be 0.
* CPU of the Daphne, client and producer processes during each phase
  (``/proc/PID/stat``), and Daphne's CPU time per delivered frame: on a shared
  2-core machine the wall-clock figures move with the load, this one much less.
* PostgreSQL deadlocks the producers met (retried; only with ``--producers`` > 1).

Variants and knobs
------------------
* ``--layers pubsub-lib,pubsub``: channels_redis' own ``RedisPubSubChannelLayer`` beside the
  hub's subclass (``realtime.layers``), to see what the subclass costs per frame.
* ``--layers core-fixed,pubsub-fixed``: the same with the fixes this benchmark
  proposes applied to Daphne only (``benchmarks/fanout_settings.py``: a Redis
  ``socket_timeout`` above channels_redis' 5 s blocking pop; ``benchmarks/fanout_asgi.py``:
  ``hub.event`` dispatched without Channels' per-message ``aclose_old_connections``).
  The app code is not touched; these files only exist to measure the proposals.
* ``--redis-restart``: the run gets a redis-server of its own (a free port, no persistence,
  never the machine's Redis), and a fourth phase, "busy night, Redis restarted": the busy-night
  load, with that Redis killed a third of the way through and started again, empty,
  ``--outage`` seconds later (2). Writes go on meanwhile (their relay fails and is logged);
  after the phase the producer runs the relay once more, as the periodic task would. The
  same checks (lost, dup, leak, order) say whether the layer kept the stream exact.
* ``--daphne-env KEY=VALUE`` (repeatable): extra environment for Daphne, e.g.
  ``DB_POOL=0`` to see what the PostgreSQL connection pool does to the time 500
  clients take to connect.
* ``BENCH_KEEP_LOGS=1`` keeps Daphne's and the clients' logs in /tmp;
  ``BENCH_DAPHNE_PROFILE=/tmp/prof`` runs Daphne under cProfile (``/tmp/prof-<prefix>.prof``).

Clients resume like the browser client: a client dropped by the server reconnects
with ``?last_event_id=`` (the last id it saw, or its heartbeat's) after a short
backoff; such drops are counted and printed, and what the resume brings back counts
as delivered (late). A client that never connects is left out of the expected counts
and printed.

WebSocket client library: ``websockets`` when importable, else ``aiohttp``, else a
minimal RFC 6455 client below (asyncio streams; answers pings, handles fragments
and close). ``--ws-impl`` forces one. The figures are taken with one client process
for all 500 clients; its CPU share is printed to show it is not the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import datetime as dt
import hashlib
import json
import logging
import os
import platform
import random
import resource
import runpy
import secrets
import shlex
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402 (the benchmarks' shared Daphne)
from harness import bench_database_url, ensure_database, pct, setup_django  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB_NAME = "csu_bench_fanout"
LAYER_CLASSES = {"core": "RedisChannelLayer", "pubsub": "PubSubChannelLayer",
                 "pubsub-lib": "channels_redis' RedisPubSubChannelLayer as shipped"}
# ``pubsub-lib``: the library's class, without realtime.layers (what the subclass costs per frame;
# it does not survive a Redis restart). Daphne reads it from benchmarks/fanout_settings.py.
LIBRARY_PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
# What Daphne's own /metrics says of the layer at the end of a layer's run (loopback may read it).
DAPHNE_SERIES = {"hub_layer_over_capacity_total": "over capacity", "hub_layer_resubscribed_total":
                 "resubscribed", "hub_ws_gaps_total": "gaps refilled"}
ORIGIN = "http://127.0.0.1"
ACK_EVERY = 100  # a client acknowledges every this many events (as a real one would)
SEED = 20260403

TARGET_P99_MS = 250.0
TARGET_MSGS = 5000.0


# ===========================================================================
# WebSocket clients: the worker process (no Django here)
# ===========================================================================

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HandshakeRefused(Exception):
    pass


def _mask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


class BuiltinWS:
    """Just enough RFC 6455 for this benchmark: text frames, fragments, ping/pong, close."""

    name = "builtin (asyncio streams, RFC 6455 subset)"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str]) -> BuiltinWS:
        parsed = urlparse(url)
        host, port = parsed.hostname, parsed.port or 80
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        reader, writer = await asyncio.open_connection(host, port, limit=2**22)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        status = (await reader.readline()).split(None, 2)
        code = int(status[1]) if len(status) >= 2 and status[1].isdigit() else 0
        got: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            got[name.strip().lower()] = value.strip()
        if code != 101:
            writer.close()
            raise HandshakeRefused(f"HTTP {code}")
        accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
        if got.get("sec-websocket-accept") != accept:
            writer.close()
            raise HandshakeRefused("bad Sec-WebSocket-Accept")
        return cls(reader, writer)

    def _frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = os.urandom(4)
        self.writer.write(head + mask + _mask(payload, mask))

    async def send(self, text: str) -> None:
        self._frame(0x1, text.encode())
        await self.writer.drain()

    async def recv(self) -> str | None:
        """The next text message, or None once the connection is closed."""
        read = self.reader.readexactly
        parts: list[bytes] = []
        first_opcode = 0
        try:
            while True:
                b0, b1 = await read(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    (n,) = struct.unpack("!H", await read(2))
                elif n == 127:
                    (n,) = struct.unpack("!Q", await read(8))
                mask = await read(4) if b1 & 0x80 else b""
                payload = await read(n) if n else b""
                if mask:
                    payload = _mask(payload, mask)
                if opcode == 0x9:  # ping
                    self._frame(0xA, payload)
                    continue
                if opcode == 0xA:  # pong
                    continue
                if opcode == 0x8:  # close
                    self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    try:
                        self._frame(0x8, payload[:2])
                        await self.writer.drain()
                    except OSError:
                        pass
                    self.writer.close()
                    return None
                if opcode:
                    first_opcode = opcode
                parts.append(payload)
                if b0 & 0x80:
                    data = b"".join(parts)
                    parts = []
                    if first_opcode == 0x1:
                        return data.decode()
                    return data.decode("latin-1")  # the server sends no binary frames
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close_code = self.close_code or 1006
            return None

    async def close(self) -> None:
        try:
            self._frame(0x8, struct.pack("!H", 1000))
            await self.writer.drain()
            self.writer.close()
        except (OSError, RuntimeError):
            pass


class WebsocketsWS:
    """The ``websockets`` package (new asyncio API when present, else the legacy one)."""

    name = "websockets"

    def __init__(self, ws) -> None:
        self.ws = ws
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str]) -> WebsocketsWS:
        import websockets

        cls.name = f"websockets {getattr(websockets, '__version__', '?')}"
        kwargs = dict(compression=None, max_size=2**22, ping_interval=None, open_timeout=120)
        try:
            from websockets.asyncio.client import connect  # websockets >= 13
            ws = await connect(url, additional_headers=headers, **kwargs)
        except ImportError:
            ws = await websockets.connect(url, extra_headers=headers, **kwargs)
        return cls(ws)

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def recv(self) -> str | None:
        import websockets

        try:
            message = await self.ws.recv()
        except websockets.ConnectionClosed as exc:
            rcvd = getattr(exc, "rcvd", None)
            self.close_code = rcvd.code if rcvd is not None else getattr(exc, "code", 1006)
            return None
        return message if isinstance(message, str) else message.decode("latin-1")

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:  # noqa: BLE001 (closing at the end: nothing to do about it)
            pass


class AiohttpWS:
    name = "aiohttp"
    session = None

    def __init__(self, ws) -> None:
        self.ws = ws
        self.close_code: int | None = None

    @classmethod
    async def connect(cls, url: str, headers: dict[str, str]) -> AiohttpWS:
        import aiohttp

        cls.name = f"aiohttp {aiohttp.__version__}"
        if cls.session is None:
            cls.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))
        try:
            ws = await cls.session.ws_connect(url, headers=headers, autoping=True, compress=0,
                                              max_msg_size=2**22, heartbeat=None)
        except aiohttp.WSServerHandshakeError as exc:
            raise HandshakeRefused(f"HTTP {exc.status}") from exc
        return cls(ws)

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def recv(self) -> str | None:
        import aiohttp

        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            return msg.data
        if msg.type == aiohttp.WSMsgType.BINARY:
            return msg.data.decode("latin-1")
        self.close_code = self.ws.close_code or 1006
        return None

    async def close(self) -> None:
        await self.ws.close()


def pick_ws_impl(wanted: str):
    """``websockets`` if importable, else ``aiohttp``, else the builtin client."""
    import importlib.util

    if wanted == "websockets" or (wanted == "auto" and importlib.util.find_spec("websockets")):
        return WebsocketsWS
    if wanted == "aiohttp" or (wanted == "auto" and importlib.util.find_spec("aiohttp")):
        return AiohttpWS
    return BuiltinWS


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (0.0 where /proc is missing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def worker_main() -> None:
    """The client process: one line of JSON config on stdin, then commands, one per line;
    every answer is one line of JSON on stdout."""
    raise_nofile()

    def reply(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    async def read_command() -> dict:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            raise SystemExit(0)
        return json.loads(line)

    cfg = await read_command()
    impl = pick_ws_impl(cfg["impl"])
    tokens: list[str] = cfg["tokens"]
    n = len(tokens)
    receipts: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    others: collections.Counter[str] = collections.Counter()
    closes: collections.Counter[str] = collections.Counter()  # close code -> how many
    failed: list[tuple[int, str]] = []
    retries = collections.Counter()  # "connect" / "resume" -> how many attempts beyond the first
    conns: list = [None] * n
    ready = [asyncio.get_running_loop().create_future() for _ in range(n)]
    window = {"lo": 0, "hi": -1, "counts": [0] * n}
    seen: list[set[int]] = [set() for _ in range(n)]
    position = [cfg["start_id"]] * n  # last event id known to the client (events, heartbeats)
    sem = asyncio.Semaphore(cfg["concurrency"])
    stopping = False
    answers: list[tuple[float, dict]] = []  # (time read, ack or error frame)

    async def open_conn(i: int, resume: bool):
        """Connect (resuming from the last id known when ``resume``), send a ping and wait for
        the pong: the consumer's connect() and replay are then over."""
        url = cfg["url"] + (f"?last_event_id={position[i]}" if resume else "")
        headers = {"Authorization": f"Bearer {tokens[i]}", "Origin": cfg["origin"]}
        conn = await impl.connect(url, headers)
        await conn.send('{"type":"ping"}')
        while True:
            text = await conn.recv()
            if text is None:
                raise ConnectionError(f"closed {conn.close_code} before pong")
            if '"pong"' in text:
                return conn
            if not on_text(i, text, time.time()):
                others["before-pong"] += 1

    def on_text(i: int, text: str, t: float) -> bool:
        """Record an event frame; True when it was one."""
        if text.startswith('{"id":'):
            event_id = int(text[6:text.index(",", 6)])
            receipts[i].append((event_id, t))
            position[i] = max(position[i], event_id)
            if event_id not in seen[i]:
                seen[i].add(event_id)
                if window["lo"] < event_id <= window["hi"]:
                    window["counts"][i] += 1
            return True
        try:
            message = json.loads(text)
        except ValueError:
            others["unparsable"] += 1
            return False
        kind = str(message.get("type"))
        others[kind] += 1
        if kind in ("ack", "error") and message.get("id") is not None:
            # The answer to a message a client sent on its socket ("send" below).
            answers.append((t, message))
        if kind == "heartbeat" and isinstance(message.get("last_event_id"), int):
            position[i] = max(position[i], message["last_event_id"])
        return False

    async def client(i: int) -> None:
        conn = None
        async with sem:
            for attempt in range(6):
                try:
                    conn = await open_conn(i, resume=False)
                    break
                except Exception as exc:  # noqa: BLE001 (reported, not raised)
                    retries["connect"] += attempt < 5
                    error = f"{type(exc).__name__}: {exc}"
                    await asyncio.sleep(0.2 * 2**attempt)
            if conn is None:
                failed.append((i, error))
                ready[i].set_result(False)
                return
        conns[i] = conn
        ready[i].set_result(True)
        since_ack = 0
        while True:
            text = await conn.recv()
            t = time.time()
            if text is None:
                if stopping:
                    return
                # Dropped by the server: resume from the last id, as the browser client does.
                closes[str(conn.close_code)] += 1
                conn = None
                for attempt in range(8):
                    await asyncio.sleep(0.1 * 2**attempt)
                    retries["resume"] += 1
                    try:
                        conn = await open_conn(i, resume=True)
                        break
                    except Exception:  # noqa: BLE001, S112 (tried again)
                        continue
                if conn is None:
                    failed.append((i, "could not resume"))
                    return
                conns[i] = conn
                continue
            if on_text(i, text, t):
                since_ack += 1
                if since_ack >= ACK_EVERY:
                    since_ack = 0
                    await conn.send(json.dumps({"type": "ack", "last_event_id": position[i]}))

    t0 = time.time()
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    results = await asyncio.gather(*ready)
    reply({"ready": [bool(r) for r in results], "failed": failed[:20], "n_failed": len(failed),
           "connect_s": time.time() - t0, "impl": impl.name, "pid": os.getpid(),
           "connect_retries": retries["connect"]})

    while True:
        cmd = await read_command()
        if cmd["cmd"] == "await":
            lo, hi, expected = cmd["lo"], cmd["hi"], cmd["expected"]
            window["lo"], window["hi"] = lo, hi
            window["counts"] = [sum(1 for e in seen[i] if lo < e <= hi) for i in range(n)]
            # Wait until every client has its events, or nothing arrived for ``timeout``
            # seconds (a backlog may take longer than that to deliver, but keeps moving),
            # or ``cap`` seconds in all.
            start = last_move = time.monotonic()
            got = sum(window["counts"])
            while time.monotonic() - last_move < cmd["timeout"] and time.monotonic() - start < cmd["cap"]:
                if all(c >= e for c, e in zip(window["counts"], expected, strict=True)):
                    break
                await asyncio.sleep(0.01)
                if sum(window["counts"]) != got:
                    got, last_move = sum(window["counts"]), time.monotonic()
            short = sum(max(0, e - c) for c, e in zip(window["counts"], expected, strict=True))
            reply({"complete": short == 0, "short": short})
        elif cmd["cmd"] == "send":
            # A client sends a frame on its socket (no reply here: the hub's answer is kept in
            # ``answers``). A client between two connections drops it, as a tablet offline.
            conn = conns[cmd["i"]]
            if conn is not None:
                try:
                    await conn.send(cmd["text"])
                except Exception:  # noqa: BLE001 (counted, not raised)
                    others["send-failed"] += 1
            else:
                others["send-offline"] += 1
        elif cmd["cmd"] == "report":
            reply({"receipts": receipts, "others": dict(others), "closed": dict(closes),
                   "resumes": retries["resume"], "failed": failed[:20], "answers": answers})
        elif cmd["cmd"] == "quit":
            stopping = True
            await asyncio.gather(*(c.close() for c in conns if c is not None),
                                 return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if AiohttpWS.session is not None:
                await AiohttpWS.session.close()
            reply({"bye": True})
            return


# ===========================================================================
# The producer process: database, accounts, Daphne, events, statistics
# ===========================================================================

def layer_settings(layer: str, prefix: str) -> dict:
    """CHANNEL_LAYERS exactly as config/settings.py builds it for ``HUB_CHANNEL_LAYER=layer``."""
    saved = {k: os.environ.get(k) for k in ("HUB_CHANNEL_LAYER", "CHANNELS_PREFIX")}
    os.environ.update(HUB_CHANNEL_LAYER=layer, CHANNELS_PREFIX=prefix)
    try:
        return runpy.run_path(str(ROOT / "config" / "settings.py"))["CHANNEL_LAYERS"]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def fixed_hosts(hosts: list) -> list[dict]:
    """The channel-layer hosts with the Redis socket_timeout of benchmarks/fanout_settings.py."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from fanout_settings import with_socket_timeout
    finally:
        sys.path.pop(0)
    return with_socket_timeout(hosts)


def ensure_data() -> None:
    from django.core.management import call_command

    from partners.models import Agency

    call_command("migrate", interactive=False, verbosity=0)
    if not Agency.objects.filter(code="csu").exists():
        print("loading the demo data (first run on this database) ...")
        call_command("load_demo", verbosity=1)


class Account:
    __slots__ = ("user", "agency", "groups", "token")

    def __init__(self, user, agency: str, groups: list[str]) -> None:
        self.user, self.agency, self.groups, self.token = user, agency, frozenset(groups), ""


def ensure_accounts(n_clients: int, n_operators: int) -> list[Account]:
    """``n_operators`` centre operators and partner agents spread round-robin over every
    partner agency (PN, PM, GN, SDIS, CRF); created once, reused by later runs."""
    from django.contrib.auth import get_user_model
    from django.test import override_settings

    from partners.choices import AgencyKind, Role
    from partners.models import Agency, Member
    from partners.services import member_create
    from realtime.audiences import groups_of

    partners = list(Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "code")
                    .values_list("code", flat=True))
    wanted = [(f"bench-op-{i:03d}", "csu", Role.OPERATOR) for i in range(n_operators)]
    for j in range(n_clients - n_operators):
        code = partners[j % len(partners)]
        wanted.append((f"bench-{code}-{j // len(partners):03d}", code, Role.PARTNER_AGENT))
    User = get_user_model()
    existing = set(User.objects.filter(username__startswith="bench-").values_list("username", flat=True))
    missing = [w for w in wanted if w[0] not in existing]
    if missing:
        print(f"creating {len(missing)} benchmark accounts (token-only; fast hasher for their "
              "throw-away passwords) ...")
        # These accounts never log in with a password: a fast hasher keeps the setup short.
        with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
            for username, code, role in missing:
                member_create(username=username, password=secrets.token_urlsafe(24),
                              agency_code=code, role=role)
    members = {m.user.username: m for m in Member.objects.select_related("user", "agency")
               .filter(user__username__in=[w[0] for w in wanted])}
    return [Account(members[u].user, code, groups_of(members[u].user, members[u]))
            for u, code, _ in wanted]


def issue_tokens(accounts: list[Account]) -> None:
    from partners.services import api_token_issue

    for account in accounts:
        account.token, _ = api_token_issue(user=account.user)


def revoke_tokens(accounts: list[Account]) -> None:
    from partners.services import api_token_revoke

    for account in accounts:
        if account.token:
            api_token_revoke(raw=account.token)
            account.token = ""


class OwnRedis:
    """A redis-server of the run's own, on a free port, without persistence (``--redis-restart``):
    killing it loses everything, as a crash of a cache-only Redis does."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="fanout-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import socket

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def restart_later(self, after: float, outage: float) -> threading.Thread:
        """Kill it ``after`` seconds from now and start it again ``outage`` seconds later."""
        def go() -> None:
            time.sleep(after)
            self.kill()
            print(f"  redis-server killed at {time.strftime('%H:%M:%S')}", flush=True)
            time.sleep(outage)
            self.start()
            print(f"  redis-server started again (empty) at {time.strftime('%H:%M:%S')}", flush=True)
        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread


def redis_cleanup(prefix: str) -> int:
    """Delete what the core layer left in Redis under our prefix (groups, channel queues)."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


class OverCapacity(logging.Handler):
    """Counts channels_redis' "channels over capacity" notices (messages the core layer
    dropped; consumers refill such gaps from the outbox)."""

    def __init__(self, match: str = "over capacity") -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.match = match

    def emit(self, record: logging.LogRecord) -> None:
        if self.match in record.getMessage():
            self.count += 1


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

def daphne_command(port: int, tag: str = "", fixed: bool = False) -> list[str]:
    profile = os.environ.get("BENCH_DAPHNE_PROFILE")  # diagnostics: cProfile output path prefix
    app = "benchmarks.fanout_asgi:application" if fixed else "config.asgi:application"
    if profile and tag:
        return [sys.executable, "-m", "cProfile", "-o", f"{profile}-{tag}.prof", "-m", "daphne",
                "-b", "127.0.0.1", "-p", str(port), app]
    return harness.daphne_command(port, app)


class Daphne(harness.Daphne):
    """The shared Daphne (benchmarks/harness.py) on a channel layer and prefix of its own;
    ``fixed``: with this benchmark's proposed fixes (benchmarks/fanout_asgi.py)."""

    def __init__(self, layer: str, prefix: str, extra_env: dict[str, str], fixed: bool) -> None:
        super().__init__({"HUB_CHANNEL_LAYER": layer, "CHANNELS_PREFIX": prefix, **extra_env},
                         command=lambda port: daphne_command(port, prefix, fixed),
                         log_prefix=f"fanout-daphne-{layer}-")


def daphne_series(port: int) -> dict[str, float]:
    """The layer's counters of ``DAPHNE_SERIES`` and the refill frames, read from Daphne's ``/metrics``."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in DAPHNE_SERIES:
                found[DAPHNE_SERIES[sample.name]] = sample.value
            elif sample.name == "hub_ws_frames_sent_total" and sample.labels.get("kind") == "refill":
                found["refill frames"] = sample.value
    return found


class ClientWorker:
    def __init__(self, stderr_path: str) -> None:
        self.stderr = open(stderr_path, "w")  # noqa: SIM115 (closed in stop)
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--client-worker"],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)

    def send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.stderr.flush()
            raise RuntimeError("the client worker died:\n"
                               + Path(self.stderr_path).read_text(errors="replace")[-3000:])
        return json.loads(line)

    def ask(self, obj: dict) -> dict:
        self.send(obj)
        return self.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send({"cmd": "quit"})
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        if not os.environ.get("BENCH_KEEP_LOGS"):
            Path(self.stderr_path).unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Producing events with the real services
# ---------------------------------------------------------------------------

_OUTBOX_ROWS = threading.local()


def _event_created(sender, instance, created: bool, **kwargs) -> None:
    """post_save of realtime.Event: note the row for the producer running in this thread."""
    rows = getattr(_OUTBOX_ROWS, "rows", None)
    if created and rows is not None:
        rows.append((instance.id, frozenset(instance.audience)))


class Producer:
    """Alternates ``incident_create`` and two ``incident_share`` (round-robin over every
    partner agency, so that each agency's clients get traffic). Each call commits one
    transaction holding 2 outbox events. Several producer threads (each its own
    database connection, like concurrent requests) may run at once."""

    def __init__(self, author, partner_codes: list[str], seed: int) -> None:
        from django.contrib.gis.geos import Point
        from django.db.models.signals import post_save

        from geo.selectors import service_area
        from incidents.models import Nature
        from realtime.models import Event

        self.author = author
        self.partners = partner_codes
        self.natures = list(Nature.objects.filter(active=True).order_by("code")
                            .values_list("code", flat=True))
        area = service_area()
        if area is None or not self.natures:
            raise SystemExit("no commune or no nature: did load_demo and the migrations run?")
        prepared, (xmin, ymin, xmax, ymax) = area.prepared, area.extent
        rng = random.Random(seed)
        self.points = []
        while len(self.points) < 400:
            p = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax), srid=4326)
            if prepared.covers(p):
                self.points.append(p)
        self.lock = threading.Lock()
        self.counter = 0
        self.deadlocks = 0  # transactions PostgreSQL aborted as deadlocks (then retried)
        # The outbox rows each service call writes, as they are created (per thread).
        self.local = _OUTBOX_ROWS
        post_save.connect(_event_created, sender=Event, dispatch_uid="benchmarks-fanout-producer")
        self.commit_at: dict[int, float] = {}
        self.return_at: dict[int, float] = {}
        self.audience: dict[int, frozenset[str]] = {}

    def _next(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def _call(self, lane: dict) -> list[tuple[int, frozenset[str]]]:
        """One service call, inside the caller's transaction: ``incident_create`` when the
        lane's incident has had its two shares, else ``incident_share`` with the next
        partner agency. Returns the outbox rows it wrote (id, audience)."""
        from incidents.services.incidents import incident_create, incident_share

        n = self._next()
        self.local.rows = rows = []
        try:
            if lane.get("incident") is None or lane["shares_left"] == 0:
                incident = incident_create(
                    member=self.author, nature=self.natures[n % len(self.natures)],
                    location=self.points[n % len(self.points)],
                    description=f"Benchmark fan-out, incident {n}", priority=2)
                lane.update(incident=incident, shares_left=2, shared=set())
            else:
                code = next(c for i in range(len(self.partners))
                            if (c := self.partners[(n + i) % len(self.partners)]) not in lane["shared"])
                lane["incident"] = incident_share(incident=lane["incident"], agency_code=code,
                                                  member=self.author)
                lane["shared"].add(code)
                lane["shares_left"] -= 1
        finally:
            self.local.rows = None
        if not rows:
            raise RuntimeError("a service call wrote no outbox event")
        return rows

    def _record(self, rows, committed: float, returned: float) -> None:
        for event_id, audience in rows:
            self.commit_at[event_id] = committed
            self.return_at[event_id] = returned
            self.audience[event_id] = audience

    def step(self, lane: dict) -> int:
        """One service call in its own transaction. Returns how many events it wrote. A
        transaction that PostgreSQL aborts as a deadlock is counted (``deadlocks``) and
        tried again, as a client would."""
        from django.db import OperationalError, transaction

        for _attempt in range(10):
            marks: list[float] = []
            try:
                with transaction.atomic():
                    # Ours runs first: the service's hooks are registered after it.
                    transaction.on_commit(lambda marks=marks: marks.append(time.time()))
                    rows = self._call(lane)
            except OperationalError as exc:
                if getattr(exc.__cause__, "sqlstate", None) != "40P01":
                    raise
                with self.lock:
                    self.deadlocks += 1
                continue
            self._record(rows, marks[0], time.time())
            return len(rows)
        raise RuntimeError("10 deadlocks in a row")

    def burst(self, n_events: int, at_commit=None) -> tuple[int, int, float]:
        """``n_events`` events from service calls inside ONE transaction: they commit
        together and the first on_commit relay sends them all in one batch, a backlog
        such as the periodic relay sends after Redis was away. Returns (first id - 1,
        last id, commit time)."""
        from django.db import transaction

        from realtime.selectors import latest_event_id

        lo = latest_event_id()
        marks: list[float] = []
        rows: list = []
        lane: dict = {}
        def committed() -> None:
            marks.append(time.time())
            if at_commit is not None:
                at_commit()

        with transaction.atomic():
            transaction.on_commit(committed)
            while len(rows) < n_events:
                rows += self._call(lane)
        self._record(rows, marks[0], time.time())
        return lo, latest_event_id(), marks[0]

    def run(self, n_events: int, rate: float | None, threads: int = 1) -> tuple[int, int, float]:
        """Produce at least ``n_events`` events, at ``rate`` events/s (None: as fast as
        ``threads`` producers can). Returns (first id - 1, last id, start time)."""
        from django.db import connection

        from realtime.selectors import latest_event_id

        lo = latest_event_id()
        produced = [0]
        t0 = time.time()

        errors: list[BaseException] = []

        def loop(paced: bool) -> None:
            lane: dict = {}
            try:
                while True:
                    with self.lock:
                        if produced[0] >= n_events:
                            return
                        claimed = produced[0]
                        produced[0] += 2  # every service call here writes 2 events
                    if paced:
                        wait = t0 + claimed / rate - time.time()
                        if wait > 0:
                            time.sleep(wait)
                    got = self.step(lane)
                    with self.lock:
                        produced[0] += got - 2
            except BaseException as exc:
                errors.append(exc)
                with self.lock:
                    produced[0] = n_events  # stop the other producers too
                raise
            finally:
                if threading.current_thread() is not threading.main_thread():
                    connection.close()

        if rate or threads <= 1:
            loop(bool(rate))
        else:
            workers = [threading.Thread(target=loop, args=(False,)) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            if errors:
                raise RuntimeError("a producer thread failed") from errors[0]
        return lo, latest_event_id(), t0


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------

def expected_counts(accounts: list[Account], live: list[bool], producer: Producer,
                    lo: int, hi: int) -> list[int]:
    """Per client, how many events of ``lo < id <= hi`` its groups entitle it to (0 for a
    client that never connected: it is reported apart)."""
    ids = [i for i in range(lo + 1, hi + 1) if i in producer.audience]
    return [sum(1 for i in ids if producer.audience[i] & a.groups) if ok else 0
            for a, ok in zip(accounts, live, strict=True)]


def phase_stats(name: str, accounts: list[Account], live: list[bool], producer: Producer,
                receipts: list, lo: int, hi: int, t0: float, cpu: dict) -> dict:
    events = [i for i in range(lo + 1, hi + 1) if i in producer.audience]
    latencies: list[float] = []
    frames = dups = leaks = order = lost = 0
    t_last = t0
    first_at: dict[int, float] = {}
    last_at: dict[int, float] = {}
    for account, ok, got in zip(accounts, live, receipts, strict=True):
        if not ok:
            continue
        first: set[int] = set()
        previous = 0
        for event_id, t in got:
            if event_id <= previous:
                order += 1
            previous = max(previous, event_id)
            if not lo < event_id <= hi:
                continue
            frames += 1
            t_last = max(t_last, t)
            if event_id in first:
                dups += 1
                continue
            first.add(event_id)
            if not producer.audience[event_id] & account.groups:
                leaks += 1
                continue
            latencies.append((t - producer.commit_at[event_id]) * 1000.0)
            first_at[event_id] = min(first_at.get(event_id, t), t)
            last_at[event_id] = max(last_at.get(event_id, t), t)
        lost += sum(1 for i in events if producer.audience[i] & account.groups and i not in first)
    latencies.sort()
    relay = sorted({(producer.return_at[i] - producer.commit_at[i]) * 1000.0 for i in events})
    commits = [producer.commit_at[i] for i in events]
    wall = t_last - t0
    return {
        "phase": name, "events": len(events), "frames": frames, "expected": len(latencies) + lost,
        "wall": wall, "msgs": frames / wall if wall > 0 else float("nan"),
        "produced_rate": len(events) / (max(commits) - t0) if commits and max(commits) > t0 else float("nan"),
        "p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99),
        "max": latencies[-1] if latencies else float("nan"),
        "relay_p50": pct(relay, 50), "relay_p99": pct(relay, 99),
        # Per event: commit -> its first recipient, and its first -> its last recipient.
        "first_p50": pct(sorted((first_at[i] - producer.commit_at[i]) * 1000 for i in first_at), 50),
        "first_p99": pct(sorted((first_at[i] - producer.commit_at[i]) * 1000 for i in first_at), 99),
        "spread_p50": pct(sorted((last_at[i] - first_at[i]) * 1000 for i in first_at), 50),
        "spread_p99": pct(sorted((last_at[i] - first_at[i]) * 1000 for i in first_at), 99),
        "lost": lost, "dup": dups, "leak": leaks, "order": order,
        "daphne_cpu": cpu["daphne"] / wall * 100 if wall > 0 else float("nan"),
        "daphne_us_per_frame": cpu["daphne"] / frames * 1e6 if frames else float("nan"),
        "clients_cpu": cpu["clients"] / wall * 100 if wall > 0 else float("nan"),
        "producer_cpu": cpu["producer"] / wall * 100 if wall > 0 else float("nan"),
    }


# ---------------------------------------------------------------------------
# One layer
# ---------------------------------------------------------------------------

def run_layer(spec: str, base_prefix: str, accounts: list[Account], author, partners: list[str],
              args, over_capacity: OverCapacity, own_redis: OwnRedis | None = None) -> dict:
    """One Daphne, one client process, warm-up, then the two phases, for one layer ``spec``
    (``core``, ``pubsub``, or either with ``-fixed``: see ``benchmarks/fanout_settings.py``)."""
    from django.test import override_settings

    from realtime.selectors import latest_event_id

    layer, fixed = spec.removesuffix("-fixed"), spec.endswith("-fixed")
    library = layer == "pubsub-lib"
    layer = "pubsub" if library else layer
    prefix = f"{base_prefix}-{spec}"
    result: dict = {"layer": spec, "phases": []}
    daphne = worker = None
    channel_layers = layer_settings(layer, prefix)
    daphne_env = dict(kv.split("=", 1) for kv in args.daphne_env)
    if library:
        channel_layers["default"]["BACKEND"] = LIBRARY_PUBSUB
        daphne_env.update(DJANGO_SETTINGS_MODULE="benchmarks.fanout_settings",
                          FANOUT_LAYER_BACKEND=LIBRARY_PUBSUB)
    if fixed:
        config = channel_layers["default"]["CONFIG"]
        config["hosts"] = fixed_hosts(config["hosts"])
        daphne_env["DJANGO_SETTINGS_MODULE"] = "benchmarks.fanout_settings"
    with override_settings(CHANNEL_LAYERS=channel_layers):
        try:
            issue_tokens(accounts)
            daphne = Daphne(layer, prefix, daphne_env, fixed)
            t = time.time()
            daphne.wait_ready()
            extra = " ".join(f"{k}={v}" for k, v in daphne_env.items())
            print(f"[{spec}] daphne pid {daphne.proc.pid} ready in {time.time() - t:.1f}s: "
                  f"HUB_CHANNEL_LAYER={layer} {extra + ' ' if extra else ''}"
                  f"{shlex.join(daphne.command)}")
            load_before = os.getloadavg()
            worker = ClientWorker(tempfile.mktemp(prefix=f"fanout-clients-{spec}-", suffix=".log"))
            hello = worker.ask({"url": f"ws://127.0.0.1:{daphne.port}/ws/events/",
                                "tokens": [a.token for a in accounts], "origin": f"{ORIGIN}:{daphne.port}",
                                "concurrency": args.concurrency, "impl": args.ws_impl,
                                "start_id": latest_event_id()})
            live = hello["ready"]
            result.update(connected=sum(live), connect_s=hello["connect_s"], impl=hello["impl"],
                          n_failed=hello["n_failed"], connect_retries=hello["connect_retries"])
            print(f"[{spec}] {sum(live)}/{len(accounts)} clients connected in {hello['connect_s']:.1f}s "
                  f"({hello['impl']}, pid {hello['pid']}, {hello['connect_retries']} handshake retries)"
                  + (f"; failures: {hello['failed'][:3]}" if hello["n_failed"] else ""))
            if not any(live):
                raise RuntimeError(f"no client could connect; daphne log:\n{daphne.tail()}")
            pids = {"daphne": daphne.proc.pid, "clients": hello["pid"], "producer": os.getpid()}

            producer = Producer(author, partners, SEED)
            # Warm-up (not measured): one incident shared with three agencies.
            lo, hi, _ = producer.run(8, None)
            worker.ask({"cmd": "await", "lo": lo, "hi": hi, "timeout": args.drain, "cap": args.drain_cap,
                        "expected": expected_counts(accounts, live, producer, lo, hi)})
            capacity_before = over_capacity.count
            phases = [(f"busy night ({args.rate:g} ev/s)", args.rate),
                      (f"flat out ({args.producers} producer{'s' if args.producers > 1 else ''})", None),
                      ("backlog (1 commit)", "burst")]
            if own_redis is not None:
                phases.append((f"busy night, Redis restarted ({args.outage:g} s away)", "restart"))
            raw = []
            for name, rate in phases:
                cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
                deadlocks0 = producer.deadlocks
                if rate == "burst":  # CPU from the commit on, not while the transaction is built
                    lo, hi, t0 = producer.burst(args.events, at_commit=lambda cpu0=cpu0: cpu0.update(
                        {k: cpu_seconds(p) for k, p in pids.items()}))
                elif rate == "restart":
                    restarter = own_redis.restart_later(args.events / args.rate / 3, args.outage)
                    lo, hi, t0 = producer.run(args.events, args.rate, 1)
                    restarter.join()
                    from realtime.services import relay

                    print(f"  the periodic relay's pass after the phase sent {relay()} events", flush=True)
                else:
                    lo, hi, t0 = producer.run(args.events, rate, 1 if rate else args.producers)
                deadlocks = producer.deadlocks - deadlocks0
                drained = worker.ask({"cmd": "await", "lo": lo, "hi": hi, "timeout": args.drain,
                                      "cap": args.drain_cap,
                                      "expected": expected_counts(accounts, live, producer, lo, hi)})
                cpu = {k: cpu_seconds(p) - cpu0[k] for k, p in pids.items()}
                raw.append((name, lo, hi, t0, cpu, deadlocks))
                print(f"[{spec}] {name}: events {lo + 1}..{hi}, {time.time() - t0:.1f}s with the drain, "
                      + ("every client got its events" if drained["complete"]
                         else f"{drained['short']} deliveries missing after the drain"))
            result["load"] = (load_before, os.getloadavg())
            report = worker.ask({"cmd": "report"})
            for name, lo, hi, t0, cpu, deadlocks in raw:
                stats = phase_stats(name, accounts, live, producer, report["receipts"], lo, hi, t0, cpu)
                stats["deadlocks"] = deadlocks
                result["phases"].append(stats)
            result.update(others=report["others"], closed=report["closed"], resumes=report["resumes"],
                          late_failed=report["failed"],
                          over_capacity=over_capacity.count - capacity_before,
                          daphne_errors=daphne.errors())
            try:
                result["daphne_series"] = daphne_series(daphne.port)
            except (OSError, ValueError) as error:
                result["daphne_series"] = {"unreadable": str(error)}
        finally:
            if worker is not None:
                worker.stop()
            if daphne is not None:
                daphne.stop()
            revoke_tokens(accounts)
            redis_cleanup(prefix)
    return result


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def machine() -> str:
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"nproc {len(os.sched_getaffinity(0))}, {model}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def layer_label(spec: str) -> str:
    layer = spec.removesuffix("-fixed")
    return f"{spec} ({LAYER_CLASSES[layer]}{' + proposed fixes' if spec != layer else ''})"


def table(results: list[dict]) -> str:
    head = ("| layer | phase | events | frames | wall s | delivered msg/s | p50 ms | p95 ms | p99 ms "
            "| max ms | lost | dup | leak | order |")
    rows = [head, "| --- | --- |" + " ---: |" * (head.count("|") - 3)]
    for r in results:
        for s in r["phases"]:
            rows.append(
                f"| {layer_label(r['layer'])} | {s['phase']} | {s['events']} | {s['frames']:,} "
                f"| {s['wall']:.2f} | {s['msgs']:,.0f} | {s['p50']:.1f} | {s['p95']:.1f} "
                f"| {s['p99']:.1f} | {s['max']:.1f} | {s['lost']} | {s['dup']} | {s['leak']} "
                f"| {s['order']} |")
    return "\n".join(rows)


def breakdown(results: list[dict]) -> str:
    head = ("| layer | phase | producer ev/s | relay p50 / p99 ms | commit→first recipient p50 / p99 ms "
            "| first→last recipient p50 / p99 ms | CPU daphne / clients / producer "
            "| daphne CPU µs per frame | ⇒ frames per Daphne CPU-second | producer deadlocks |")
    rows = [head, "| --- | --- |" + " ---: |" * (head.count("|") - 3)]
    for r in results:
        for s in r["phases"]:
            rows.append(
                f"| {r['layer']} | {s['phase']} | "
                + ("one commit" if s["phase"].startswith("backlog") else f"{s['produced_rate']:.0f}")
                + " "
                f"| {s['relay_p50']:.1f} / {s['relay_p99']:.1f} "
                f"| {s['first_p50']:.1f} / {s['first_p99']:.1f} "
                f"| {s['spread_p50']:.1f} / {s['spread_p99']:.1f} "
                f"| {s['daphne_cpu']:.0f} % / {s['clients_cpu']:.0f} % / {s['producer_cpu']:.0f} % "
                f"| {s['daphne_us_per_frame']:.0f} | {1e6 / s['daphne_us_per_frame']:,.0f} "
                f"| {s['deadlocks']} |")
    return "\n".join(rows)


def notes(r: dict, n_clients: int) -> str:
    out = [f"{r['connected']}/{n_clients} connected in {r['connect_s']:.1f}s with {r['impl']} "
           f"({r['connect_retries']} handshake retries)"]
    if r["n_failed"]:
        out.append(f"{r['n_failed']} never connected (left out of the expected counts)")
    if r["closed"]:
        out.append("dropped by the server during the run (close code: count): "
                   + ", ".join(f"{k}: {v}" for k, v in sorted(r["closed"].items()))
                   + f"; the clients resumed with ?last_event_id ({r['resumes']} reconnects)")
    if r["late_failed"]:
        out.append(f"clients that gave up: {len(r['late_failed'])}")
    if r["others"]:
        out.append("other frames: " + ", ".join(f"{k} {v}" for k, v in sorted(r["others"].items())))
    if r["layer"].startswith("core"):
        out.append(f"channels_redis over-capacity notices: {r['over_capacity']}")
    if r.get("daphne_series"):
        out.append("Daphne's /metrics since it started: " + ", ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(r["daphne_series"].items())))
    if r["daphne_errors"]:
        out.append("daphne log: " + "; ".join(f"{v}× {k}" for k, v in r["daphne_errors"].items()))
    (b1, _, _), (a1, _, _) = r["load"]
    out.append(f"load average {b1:.2f} → {a1:.2f}")
    return f"- {r['layer']}: " + "; ".join(out)


def verdict(results: list[dict]) -> list[str]:
    """Figures against the targets. The p99 target is for live events (busy night, flat
    out); a backlog's latency includes its own queue, so only its rate is judged."""
    lines = []
    for r in results:
        for s in r["phases"]:
            backlog = s["phase"].startswith("backlog")
            p99 = (f"p99 {s['p99']:.0f} ms ("
                   + ("a backlog: not judged" if backlog else
                      f"{'meets' if s['p99'] <= TARGET_P99_MS else 'misses'} ≤ {TARGET_P99_MS:.0f}")
                   + ")")
            lines.append(
                f"- {r['layer']}, {s['phase']}: {p99}; {s['msgs']:,.0f} msg/s "
                f"({'meets' if s['msgs'] >= TARGET_MSGS else 'misses'} ≥ {TARGET_MSGS:,.0f}); "
                f"lost {s['lost']}, dup {s['dup']}, leak {s['leak']}, order {s['order']}")

    def live(r: dict) -> list[dict]:
        return [s for s in r["phases"] if not s["phase"].startswith("backlog")]

    def score(r: dict) -> tuple:
        faults = sum(s["lost"] + s["dup"] + s["leak"] + s["order"] for s in r["phases"])
        faults += sum(r["closed"].values()) + r["n_failed"]
        return (faults, round(sum(s["p99"] for s in live(r))), -round(max(s["msgs"] for s in r["phases"])))

    if len(results) > 1:
        best = min(results, key=score)
        lines.append(
            f"- better default on these figures: **{best['layer']}**, ranked by faults (lost, dup, "
            "leak, order, connections the server dropped, clients that never connected), then by "
            "the sum of the live phases' p99, then by the best msg/s: " + "; ".join(
                f"{r['layer']}: faults {score(r)[0]}, p99 "
                + "/".join(f"{s['p99']:.0f}" for s in live(r))
                + f" ms, best {-score(r)[2]:,} msg/s" for r in results))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--layers", default="core,pubsub",
                        help="comma-separated among core, pubsub, pubsub-lib, core-fixed, pubsub-fixed "
                             "(-fixed: Daphne runs with the fixes this benchmark proposes, "
                             "benchmarks/fanout_settings.py and benchmarks/fanout_asgi.py)")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--operators", type=int, default=30, help="centre operators among the clients")
    parser.add_argument("--events", type=int, default=200, help="outbox events per phase")
    parser.add_argument("--rate", type=float, default=20.0, help="events/s of the busy-night phase")
    parser.add_argument("--producers", type=int, default=1,
                        help="producer threads of the flat-out phase (concurrent writers)")
    parser.add_argument("--drain", type=float, default=5.0,
                        help="a phase ends when every client has its events, or when none arrived "
                             "for this many seconds (what is still missing then is lost)")
    parser.add_argument("--drain-cap", type=float, default=60.0, help="longest wait for a phase's end")
    parser.add_argument("--concurrency", type=int, default=10, help="handshakes in flight")
    parser.add_argument("--ws-impl", default="auto", choices=["auto", "websockets", "aiohttp", "builtin"])
    parser.add_argument("--redis-restart", action="store_true",
                        help="a redis-server of the run's own, killed and started again in a fourth phase")
    parser.add_argument("--outage", type=float, default=2.0, help="seconds Redis stays away (--redis-restart)")
    parser.add_argument("--daphne-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the Daphne process (e.g. DB_POOL=0)")
    args = parser.parse_args()
    if args.client_worker:
        asyncio.run(worker_main())
        return

    started = time.time()
    soft, hard = raise_nofile()
    specs = [x.strip() for x in args.layers.split(",") if x.strip()]
    for spec in specs:
        if spec.removesuffix("-fixed") not in LAYER_CLASSES:
            raise SystemExit(f"unknown layer {spec!r}; choose among core, pubsub, pubsub-lib, core-fixed, "
                             "pubsub-fixed")
    url = bench_database_url(BENCH_DB_NAME, "BENCH_FANOUT_DATABASE_URL")
    base_prefix = f"bench-{os.getpid()}"
    own_redis = None
    if args.redis_restart:
        # The relay's failures while Redis is away are expected: counted, not printed.
        relay_failures = OverCapacity(match="relay failed")
        logging.getLogger("realtime.services").addHandler(relay_failures)
        logging.getLogger("realtime.services").propagate = False
        own_redis = OwnRedis()
        own_redis.start()
        os.environ["REDIS_URL"] = own_redis.url  # Daphne, this process's layer and cache
    ensure_database(url)
    setup_django(url, base_prefix)
    ensure_data()
    logging.getLogger("channels_redis").setLevel(logging.INFO)
    over_capacity = OverCapacity()
    logging.getLogger("channels_redis").addHandler(over_capacity)

    from partners.choices import AgencyKind
    from partners.models import Agency

    partners = list(Agency.objects.exclude(kind=AgencyKind.CSU).order_by("kind", "code")
                    .values_list("code", flat=True))
    accounts = ensure_accounts(args.clients, args.operators)
    from partners.selectors import member_of

    author = member_of(accounts[0].user)  # the acting member of the services
    kinds = dict(Agency.objects.values_list("code", "kind"))
    mix = collections.Counter("CSU operators" if a.agency == "csu" else f"{kinds[a.agency]} agents"
                              for a in accounts)
    print(f"machine: {machine()}; open files {soft}/{hard}")
    print(f"database {urlparse(url).path.lstrip('/')}, redis {os.environ.get('REDIS_URL', '(default)')}, "
          f"channel prefix {base_prefix}-<layer>")
    print(f"{len(accounts)} clients: " + ", ".join(f"{v} {k}" for k, v in sorted(mix.items()))
          + f" ({len(partners)} partner agencies + the centre)")

    try:
        results = [run_layer(spec, base_prefix, accounts, author, partners, args, over_capacity, own_redis)
                   for spec in specs]
    finally:
        if own_redis is not None:
            own_redis.kill()

    print()
    print(f"Realtime fan-out: {args.clients} clients on one Daphne, {args.events} outbox events per "
          f"phase — {dt.datetime.now().astimezone().isoformat(timespec='minutes')}, {machine()}")
    print()
    print(table(results))
    print()
    print(breakdown(results))
    print()
    for r in results:
        print(notes(r, args.clients))
    print()
    print(f"Targets: p99 ≤ {TARGET_P99_MS:.0f} ms, ≥ {TARGET_MSGS:,.0f} delivered msg/s from "
          "one Daphne process, 0 lost/dup:")
    print("\n".join(verdict(results)))
    if args.redis_restart:
        print(f"\nrelays that failed while Redis was away (logged by realtime.services): "
              f"{relay_failures.count}")
    print(f"\ntotal run time {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
