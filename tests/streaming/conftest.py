"""Fixtures of the video tests: small pictures, short timeouts, loopback ICE, a real RTSP server."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.utils import timezone

from partners.choices import AgencyKind
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"
POINT = {"type": "Point", "coordinates": [2.3222, 48.9883]}


@pytest.fixture
def video_settings(settings):
    settings.HUB_WEBRTC_HOST_ADDRESSES = ["127.0.0.1"]
    settings.HUB_WEBRTC_ICE_SERVERS = []
    settings.HUB_VIDEO_SYNTHETIC_SIZE = "320x180"
    settings.HUB_VIDEO_SYNTHETIC_FPS = 25
    settings.HUB_VIDEO_LINGER_SECONDS = 0.5
    settings.HUB_VIDEO_START_TIMEOUT_SECONDS = 4
    settings.HUB_VIDEO_PEER_TIMEOUT_SECONDS = 3
    settings.HUB_VIDEO_WATCHDOG_SECONDS = 0.2
    settings.HUB_VIDEO_RTSP_TIMEOUT_SECONDS = 2
    settings.HUB_VIDEO_RECONNECT_MIN_SECONDS = 0.2
    settings.HUB_VIDEO_RECONNECT_MAX_SECONDS = 0.5
    settings.HUB_VIDEO_BITRATE = 600_000
    return settings


@pytest.fixture
def runtime(video_settings, transactional_db):
    """This process's video runtime, stopped (every viewing ended) after the test."""
    from streaming.runtime import get_runtime, reset_runtime

    reset_runtime()
    yield get_runtime()
    reset_runtime()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """GStreamer's RTSP server in a subprocess (the system python, which has python3-gi)."""

    def __init__(self, *, size: str = "320x180", fps: int = 25, mounts: int = 0) -> None:
        self.port = free_port()
        self.size, self.fps, self.mounts = size, fps, mounts
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(ROOT / "tests/streaming/rtsp_server.py"), str(self.port),
             "--size", self.size, "--fps", str(self.fps), "--mounts", str(self.mounts)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, text=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the RTSP server exited: {self.process.stdout.read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("the RTSP server did not listen within 15 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def rtsp_server_check() -> None:
    """Skip the test when GStreamer's RTSP server is not installed."""
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run(
            [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0')"],
            capture_output=True, timeout=20).returncode != 0:
        pytest.skip("GStreamer's RTSP server is not installed (BOOTSTRAP_TEST=1 scripts/bootstrap.sh)")


@pytest.fixture
def rtsp_server():
    rtsp_server_check()
    server = RtspServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def scene(transactional_db, area):
    """A camera under an authorisation for the PN, an operator, a habilitated PN agent, an incident."""
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["PN", "PM", "GN", "SDIS"])
    operator = factories.make_member(role="operator")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-video")
    agent = factories.make_member(role="partner_agent", agency=pn, habilitation_reference="HAB-V1",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    op_api = factories.TokenClient().as_member(operator)
    incident = op_api.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                               "description": "Rixe"}).json()
    return {"camera": camera, "operator": operator, "agent": agent, "pn": pn, "op_api": op_api,
            "incident": incident}


def share(scene, *, minutes: int = 30) -> dict:
    """Share the incident with the scene's PN station, then its camera (*renvoi d'images*)."""
    scene["op_api"].post(f"/api/incidents/{scene['incident']['id']}/shares/", {"agency": scene["pn"].code})
    response = scene["op_api"].post("/api/streaming/grants/", {
        "camera": scene["camera"].pk, "agency": scene["pn"].code, "incident": scene["incident"]["id"],
        "minutes": minutes})
    assert response.status_code == 201, response.content
    return response.json()
