"""The ``make run`` topology for a benchmark: HAProxy in front of API and WebSocket Daphne
pools, and the relay process with its standby (``manage.py relay``), on the benchmark's own
database and channel prefix.

The HAProxy configuration comes from ``config.topology.Topology`` (what ``make run`` and the
scale-out test write; health checks every 1 s as in ``make run``, where the scale-out test
uses 500 ms), with a stats socket so that the benchmark starts once HAProxy itself
sees every server up (as ``tests/realtime/processes.py``'s ``Hub`` does). No video process:
its routes go to the first API process (the radio benchmark never asks for them).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import harness

ROOT = harness.ROOT


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (HAProxy's master → its worker), from /proc."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


class Pools:
    """HAProxy + ``api`` API Daphnes + ``ws`` WebSocket Daphnes + relay + standby relay.
    ``port`` is HAProxy's: the load (HTTP and WebSockets) goes there. ``env`` is added to
    this process's environment (which ``harness.setup_django`` set for the benchmark's
    database and prefix)."""

    def __init__(self, env: dict[str, str], *, api: int = 2, ws: int = 1, log_prefix: str = "radio-pools-") -> None:
        from config.topology import Topology

        self.dir = Path(tempfile.mkdtemp(prefix=log_prefix))
        self.env = dict(os.environ, LOG_LEVEL=os.environ.get("BENCH_DAPHNE_LOG_LEVEL", "WARNING"),
                        PYTHONUNBUFFERED="1", HUB_RELAY_INLINE="0", HUB_TRUSTED_PROXIES="127.0.0.1", **env)
        self.env.pop("DJANGO_DEBUG", None)
        self.port = harness.free_port()
        self.api_ports = [harness.free_port() for _ in range(api)]
        self.ws_ports = [harness.free_port() for _ in range(ws)]
        # name → (process, log, port or None)
        self.procs: dict[str, tuple[subprocess.Popen, Path, int | None]] = {}
        self.command = ""
        try:
            for n, port in enumerate(self.api_ports):
                self._spawn(f"api{n + 1}", harness.daphne_command(port), port)
            for n, port in enumerate(self.ws_ports):
                self._spawn(f"ws{n + 1}", harness.daphne_command(port), port)
            # Each relay serves /metrics on loopback (its pass and send times: relay_metrics()).
            self.relay_metrics_ports = [harness.free_port(), harness.free_port()]
            self._spawn("relay", [sys.executable, "manage.py", "relay",
                                  "--metrics-port", str(self.relay_metrics_ports[0])], None)
            self._spawn("relay_standby", [sys.executable, "manage.py", "relay",
                                          "--metrics-port", str(self.relay_metrics_ports[1])], None)
            topology = Topology(port=self.port, api=api, ws=ws, api_ports=self.api_ports,
                                ws_ports=self.ws_ports, video_ports=[self.api_ports[0]])
            self.cfg = self.dir / "haproxy.cfg"
            self.stats = self.dir / "haproxy.sock"
            self.cfg.write_text(topology.haproxy_cfg().replace(
                "global\n", f"global\n    stats socket {self.stats} level user\n", 1))
            self._spawn("haproxy", ["haproxy", "-W", "-db", "-f", str(self.cfg)], self.port)
        except BaseException:
            self.stop()
            raise
        self.command = (f"haproxy :{self.port} → {api} API Daphne {self.api_ports}, {ws} WebSocket "
                        f"Daphne {self.ws_ports}; manage.py relay + standby; HUB_RELAY_INLINE=0")

    def _spawn(self, name: str, argv: list[str], port: int | None) -> None:
        log = self.dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.procs[name] = (process, log, port)

    # -- readiness --------------------------------------------------------

    def _wait_healthz(self, name: str, deadline: float) -> None:
        process, log, port = self.procs[name]
        harness.wait_healthz(process, port, deadline, name=name, tail=lambda: self._tail(log))

    def servers_down(self) -> list[str]:
        """The servers HAProxy does not route to now (``backend/server``), from its stats."""
        from config.topology import haproxy_servers_down

        return haproxy_servers_down(self.stats)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for name, (_, _, port) in self.procs.items():
            if port is not None:
                self._wait_healthz(name, deadline)
        while True:
            try:
                down = self.servers_down()
            except OSError as exc:
                down = [f"stats socket: {exc}"]
            if not down:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy still sees {down} down:\n{self.tail()}")
            time.sleep(0.1)
        while not any("relay: active" in self._tail(self.procs[n][1]) for n in ("relay", "relay_standby")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no relay became active:\n{self.tail()}")
            time.sleep(0.05)

    # -- what the benchmark reads -----------------------------------------

    def pids(self) -> dict[str, int]:
        """Every process of the hub by name (HAProxy's master and its worker)."""
        out = {name: p.pid for name, (p, _, _) in self.procs.items()}
        for n, child in enumerate(_children(out["haproxy"])):
            out[f"haproxy worker{n + 1 if n else ''}"] = child
        return out

    def relay_metrics(self) -> list[str]:
        """The ``/metrics`` text of each relay process that answers (the active one and the
        standby)."""
        import urllib.request

        texts = []
        for port in self.relay_metrics_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    texts.append(answer.read().decode())
            except OSError:
                continue
        return texts

    def active_relay(self) -> str:
        return next((n for n in ("relay", "relay_standby")
                     if "relay: active" in self._tail(self.procs[n][1])), "none")

    @staticmethod
    def _tail(path: Path, chars: int = 3000) -> str:
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def tail(self) -> str:
        return "\n".join(f"--- {name}\n{self._tail(log)}" for name, (_, log, _) in self.procs.items())

    def errors(self) -> dict[str, int]:
        """Tracebacks and ERROR lines of every process's log, as ``harness.Daphne.errors``."""
        found: collections.Counter[str] = collections.Counter()
        for name, (_, log, _) in self.procs.items():
            if name == "haproxy":
                continue
            for line, n in harness.Daphne.errors(types.SimpleNamespace(log=types.SimpleNamespace(name=str(log)))).items():
                found[f"{name}: {line}"] += n
        return dict(found)

    def count(self, text: str) -> int:
        return sum(log.read_text(errors="replace").count(text) for _, log, _ in self.procs.values()
                   if log.exists())

    def stop(self) -> None:
        """HAProxy first (no new work reaches the pools), then every process; each is
        terminated, and killed if it has not left within 10 s."""
        order = ["haproxy", *(n for n in self.procs if n != "haproxy")]
        for name in order:
            if name in self.procs and self.procs[name][0].poll() is None:
                self.procs[name][0].terminate()
        for name in order:
            if name not in self.procs:
                continue
            process = self.procs[name][0]
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not os.environ.get("BENCH_KEEP_LOGS"):
            shutil.rmtree(self.dir, ignore_errors=True)
