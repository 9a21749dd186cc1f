"""Real server processes for the tests that need them: Daphne, and a Redis of the test's own."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The URL of the database this test runs on (the test database, once set up)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


@contextlib.contextmanager
def daphnes(count: int, *, tmp_path: Path, redis_url: str | None = None,
            env: dict[str, str] | None = None) -> Iterator[list[int]]:
    """``count`` Daphne processes serving ``config.asgi`` on the test database; their ports.

    They share the test's Redis (or ``redis_url``) and channel prefix, as the
    processes of one deployment do. ``env`` adds to (or overrides) their environment.
    """
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
               LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", **(env or {}))
    if redis_url:
        env["REDIS_URL"] = redis_url
    started: list[tuple[subprocess.Popen, int, Path]] = []
    try:
        for n in range(count):
            port = free_port()
            log = tmp_path / f"daphne-{n}-{port}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                     "config.asgi:application"], cwd=BASE_DIR, env=env, stdout=out,
                    stderr=subprocess.STDOUT)
            started.append((process, port, log))
        for process, port, log in started:
            _wait_ready(process, port, log)
        yield [port for _, port, _ in started]
    finally:
        for process, _, _ in started:
            _stop(process)


def _wait_ready(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    """Poll ``/healthz`` until it answers 200 (the process serves and reaches the database)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne on {port} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"daphne on {port} not ready after {timeout}s:\n{_tail(log)}")


def daphne_log(tmp_path: Path) -> str:
    return "\n".join(_tail(p) for p in sorted(tmp_path.glob("daphne-*.log")))


class RedisServer:
    """A redis-server of the test's own, on a free port, without persistence: a restart
    loses everything, as a crash of a cache-only Redis does."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.tmp_path = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def http(port: int, method: str, path: str, *, token: str, body: dict | None = None) -> tuple[int, dict]:
    """A JSON request to a Daphne process; ``(status, body)``."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class Hub:
    """The processes of ``make run`` by role, behind a real HAProxy configured from
    ``config/haproxy.cfg.in``: ``api`` + ``ws`` Daphne processes, two relay processes (one
    active, one standby). ``port`` is HAProxy's; the others can be killed one by one."""

    def __init__(self, tmp_path: Path, *, api: int, ws: int, env: dict[str, str] | None = None) -> None:
        self.tmp_path = tmp_path
        self.env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
                        LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", HUB_RELAY_INLINE="0",
                        HUB_TRUSTED_PROXIES="127.0.0.1", **(env or {}))
        self.api_ports = [free_port() for _ in range(api)]
        self.ws_ports = [free_port() for _ in range(ws)]
        self.port = free_port()
        self.daphnes: dict[int, subprocess.Popen] = {}
        self.relays: list[tuple[subprocess.Popen, Path]] = []
        self.haproxy: subprocess.Popen | None = None

    def _spawn(self, argv: list[str], log: Path) -> subprocess.Popen:
        with log.open("wb") as out:
            return subprocess.Popen(argv, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        from config.topology import Topology

        for port in self.api_ports + self.ws_ports:
            self.daphnes[port] = self._spawn(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                 "config.asgi:application"], self.tmp_path / f"daphne-{port}.log")
        for n in range(2):
            log = self.tmp_path / f"relay-{n}.log"
            self.relays.append((self._spawn([sys.executable, "manage.py", "relay"], log), log))
        # No video process here: its routes go to the first API process.
        topology = Topology(port=self.port, api=len(self.api_ports), ws=len(self.ws_ports),
                            api_ports=self.api_ports, ws_ports=self.ws_ports,
                            video_ports=[self.api_ports[0]], check_interval="500ms")
        cfg = self.tmp_path / "haproxy.cfg"
        # A stats socket, so that the test starts once HAProxy itself sees every process up
        # (a process slow to start is marked down by the first checks and comes back later).
        self.stats = self.tmp_path / "haproxy.sock"
        cfg.write_text(topology.haproxy_cfg().replace(
            "global\n", f"global\n    stats socket {self.stats} level user\n", 1))
        self.haproxy = self._spawn(["haproxy", "-W", "-db", "-f", str(cfg)], self.tmp_path / "haproxy.log")
        for port, process in self.daphnes.items():
            _wait_ready(process, port, self.tmp_path / f"daphne-{port}.log")
        _wait_ready(self.haproxy, self.port, self.tmp_path / "haproxy.log")
        self.wait_all_up()
        deadline = time.monotonic() + 30
        while not any("relay: active" in _tail(log) for _, log in self.relays):
            if time.monotonic() > deadline:
                raise RuntimeError("no relay became active:\n" + self.log())
            time.sleep(0.05)

    def servers_down(self) -> list[str]:
        """The servers HAProxy does not route to now (``backend/server``), from its stats."""
        from config.topology import haproxy_servers_down

        return haproxy_servers_down(self.stats)

    def wait_all_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while down := self.servers_down():
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy still sees {down} down:\n" + self.log())
            time.sleep(0.1)

    def active_relay(self) -> subprocess.Popen:
        return next(p for p, log in self.relays if p.poll() is None and "relay: active" in _tail(log))

    def kill(self, process: subprocess.Popen) -> None:
        """As a crash: no goodbye to clients, to HAProxy or to the database."""
        process.kill()
        process.wait(5)

    def stop(self) -> None:
        for process in [self.haproxy, *self.daphnes.values(), *(p for p, _ in self.relays)]:
            if process is not None:
                _stop(process)

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted(self.tmp_path.glob("*.log")))


@contextlib.contextmanager
def hub(tmp_path: Path, *, api: int = 2, ws: int = 2, env: dict[str, str] | None = None) -> Iterator[Hub]:
    started = Hub(tmp_path, api=api, ws=ws, env=env)
    try:
        started.start()
        yield started
    finally:
        started.stop()
