"""What the benchmarks share: a Daphne process started on a free loopback port, and a keep-alive
HTTP client with a bearer token. Standard library only (the benchmarks run it before Django is set
up); imported as ``harness`` with ``benchmarks/`` on ``sys.path``."""

from __future__ import annotations

import collections
import http.client
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent


def bench_database_url(name: str, override_env: str | None = None) -> str:
    """The benchmark's own database ``name``: ``$override_env`` if set, else the server (and
    user) of ``DATABASE_URL``, else the local PostgreSQL."""
    if override_env and os.environ.get(override_env):
        return os.environ[override_env]
    given = os.environ.get("DATABASE_URL")
    if not given:
        return f"postgres://postgres@127.0.0.1:5432/{name}"
    return urlunparse(urlparse(given)._replace(path=f"/{name}", query=""))


def ensure_database(url: str) -> None:
    """CREATE DATABASE and CREATE EXTENSION postgis when missing."""
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    conninfo = {k: v for k, v in dict(host=parsed.hostname, port=parsed.port, user=parsed.username,
                                       password=parsed.password).items() if v}
    with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True, **conninfo) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def setup_django(url: str, prefix: str, env: dict[str, str] | None = None) -> None:
    """Django on ``url``, its channel and cache keys under ``prefix`` (apart from a hub running on
    the same Redis), DEBUG off (it would keep every query in memory); ``env`` set too. The Daphne
    processes started afterwards inherit the same environment."""
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings", CHANNELS_PREFIX=prefix,
                      CACHE_KEY_PREFIX=prefix, **(env or {}))
    os.environ.pop("DJANGO_DEBUG", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def wait_healthz(proc: subprocess.Popen, port: int, deadline: float, *, name: str, tail) -> None:
    """Wait until the process on ``port`` answers ``GET /healthz`` with 200, until ``deadline``
    (``time.monotonic()``); raises with ``tail()`` (its log) if it exits or never answers."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not answer /healthz in time:\n{tail()}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms() -> float:
    return time.perf_counter() * 1000.0


def pct(samples: list[float], p: float) -> float:
    """Percentile with linear interpolation (p in 0..100); NaN without samples."""
    data = sorted(samples)
    if not data:
        return math.nan
    if len(data) == 1:
        return data[0]
    k = (len(data) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def summary(samples_ms: list[float]) -> dict:
    """n, p50, p95, max and mean of timings (NaN without samples)."""
    if not samples_ms:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan, "mean": math.nan}
    return {"n": len(samples_ms), "p50": pct(samples_ms, 50), "p95": pct(samples_ms, 95),
            "max": max(samples_ms), "mean": statistics.fmean(samples_ms)}


def process_cpu_ms(pid: int) -> float | None:
    """User + system CPU time a process used so far (/proc/PID/stat), in ms; None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def daphne_command(port: int, app: str = "config.asgi:application") -> list[str]:
    script = Path(sys.executable).with_name("daphne")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "daphne"]
    return [*head, "-b", "127.0.0.1", "-p", str(port), app]


class Daphne:
    """``daphne config.asgi:application`` on a free port of 127.0.0.1, logging to a temporary
    file (kept with ``BENCH_KEEP_LOGS=1``), ``DJANGO_DEBUG`` unset, ``LOG_LEVEL`` from
    ``BENCH_DAPHNE_LOG_LEVEL`` (WARNING). ``env`` is added to this process's environment."""

    def __init__(self, env: dict[str, str] | None = None, *, command=None, log_prefix: str = "bench-daphne-"):
        self.port = free_port()
        self.command = command(self.port) if command else daphne_command(self.port)
        self.log = tempfile.NamedTemporaryFile(prefix=log_prefix, suffix=".log", delete=False)
        full = dict(os.environ, LOG_LEVEL=os.environ.get("BENCH_DAPHNE_LOG_LEVEL", "WARNING"), **(env or {}))
        full.pop("DJANGO_DEBUG", None)
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=full, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        wait_healthz(self.proc, self.port, time.monotonic() + timeout, name="daphne", tail=self.tail)

    def cpu_ms(self) -> float | None:
        """CPU time (user + system) the Daphne process used so far."""
        return process_cpu_ms(self.proc.pid)

    def tail(self, chars: int = 3000) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-chars:]

    def errors(self) -> dict[str, int]:
        """The last line of each traceback in the log (its exception), and how often."""
        lines = Path(self.log.name).read_text(errors="replace").splitlines()
        found: collections.Counter[str] = collections.Counter()
        for i, line in enumerate(lines):
            if line.startswith("Exception inside application") or line.startswith("ERROR"):
                found[line[:160]] += 1
            elif line.startswith("Traceback"):
                j = i + 1
                while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()
                                          or lines[j].startswith(("The above", "During"))
                                          or lines[j].startswith("Traceback")):
                    j += 1
                if j < len(lines) and not lines[j - 1].startswith("Exception inside"):
                    found[lines[j][:160]] += 1
        return dict(found)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if not os.environ.get("BENCH_KEEP_LOGS"):
            Path(self.log.name).unlink(missing_ok=True)


class Client:
    """One keep-alive HTTP/1.1 connection; after :meth:`login`, with a bearer token."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, body: bytes | dict | list | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers in lower case, body, elapsed ms). A dict or list body is sent as JSON."""
        h = dict(self.headers, **(headers or {}))
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        t0 = now_ms()
        self.conn.request(method, path, body=body, headers=h)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = now_ms() - t0
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, elapsed

    def login(self, username: str, password: str) -> None:
        status, _, data, _ = self.request("POST", "/api/auth/token/",
                                          {"username": username, "password": password})
        if status != 201:
            raise RuntimeError(f"token: HTTP {status} {data[:300]!r}")
        self.token = json.loads(data)["token"]
        self.headers["Authorization"] = "Bearer " + self.token

    def close(self, *, revoke: bool = True) -> None:
        if revoke and self.token:  # leave no live token behind
            try:
                self.request("POST", "/api/auth/token/revoke/")
            except (OSError, http.client.HTTPException):
                pass
        self.conn.close()


def machine() -> dict:
    """What the figures were measured on (Django must be set up: PostgreSQL and PostGIS versions)."""
    import django
    from django.db import connection

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg,) = cursor.fetchone()
        cursor.execute("SELECT postgis_lib_version()")
        (postgis,) = cursor.fetchone()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "django": django.get_version(), "postgresql": pg.split()[0], "postgis": postgis,
            "kernel": platform.release(), "load": os.getloadavg()}
