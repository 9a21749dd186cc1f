"""HAProxy's health checks of the pools, as `make run` writes them (config/haproxy.cfg.in): a
WebSocket process that is slow to answer ``/healthz`` (busy: its sockets' frames, their
positions) keeps its sockets; one that is gone leaves the pool."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from config.topology import Topology, haproxy_servers_down, haproxy_stats
from tests.realtime.processes import free_port

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="needs haproxy")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the handler's name)
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve() -> ThreadingHTTPServer:
    """A stand-in for a Daphne process: answers ``/healthz`` after ``server.delay`` seconds."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Health)
    server.delay = 0.0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stat(stats, backend: str, server: str, column: str) -> str:
    """One column of HAProxy's ``show stat`` for ``backend/server``."""
    for row in haproxy_stats(stats):
        if (row["pxname"], row["svname"]) == (backend, server):
            return row[column]
    raise AssertionError(f"{backend}/{server} not in HAProxy's stats")


def _until(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        time.sleep(0.1)


def test_a_slow_websocket_process_keeps_its_sockets_and_a_gone_one_leaves(tmp_path):
    api, ws = _serve(), _serve()
    topology = Topology(port=free_port(), api=1, ws=1, api_ports=[api.server_port],
                        ws_ports=[ws.server_port], video_ports=[api.server_port],
                        check_interval="500ms")
    stats = tmp_path / "haproxy.sock"
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(topology.haproxy_cfg().replace(
        "global\n", f"global\n    stats socket {stats} level user\n", 1))
    with (tmp_path / "haproxy.log").open("wb") as log:
        haproxy = subprocess.Popen(["haproxy", "-W", "-db", "-f", str(cfg)], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        _until(lambda: stats.exists() and not haproxy_servers_down(stats), "the pools never came up")

        # Busy: two seconds to answer, four times the check interval. Checks keep passing.
        ws.delay = 2.0  # type: ignore[attr-defined]
        checks_before = int(_stat(stats, "websockets", "ws1", "chkfail") or 0)
        time.sleep(5)
        assert _stat(stats, "websockets", "ws1", "status") == "UP"
        assert _stat(stats, "websockets", "ws1", "chkdown") == "0"
        assert int(_stat(stats, "websockets", "ws1", "chkfail") or 0) == checks_before

        # Gone: its port refuses the checks, and it leaves the pool.
        ws.shutdown()
        ws.server_close()
        _until(lambda: "websockets/ws1:DOWN" in haproxy_servers_down(stats), "a gone process stayed UP")
    finally:
        haproxy.terminate()
        haproxy.wait(10)
        api.shutdown()
        api.server_close()
