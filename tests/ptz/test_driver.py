"""The ONVIF driver against ipycam, a virtual camera this project did not write, on loopback;
recorded SOAP exchanges where ipycam cannot answer as a camera would."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from ptz.driver import CameraAuthFailed, CameraFault, CameraUnreachable, OnvifPtzDriver, repair_reply
from tests.ptz.virtual import difference, free_port, grab_frames

RECORDED = Path(__file__).parent / "recorded"


def driver_for(camera, **kwargs) -> OnvifPtzDriver:
    return OnvifPtzDriver(host="127.0.0.1", port=camera.onvif_port, **kwargs)


# --- The tolerant parser (offline).


def test_repair_declares_the_prefixes_a_reply_uses_without_declaring():
    raw = (RECORDED / "ipycam_get_status.xml").read_bytes()
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(raw)  # what a strict client refuses
    root = etree.fromstring(repair_reply(raw))
    status = root.find(".//{http://www.onvif.org/ver20/ptz/wsdl}PTZStatus")
    assert status is not None
    pan_tilt = status.find("{http://www.onvif.org/ver10/schema}Position/{http://www.onvif.org/ver10/schema}PanTilt")
    assert pan_tilt.get("x") == "0.5" and pan_tilt.get("y") == "0.2"
    # Unfilled placeholders are dropped, not passed on as values.
    assert b"{{" not in repair_reply(raw)
    assert status.find("{http://www.onvif.org/ver10/schema}UtcTime") is None


def test_repair_leaves_a_correct_reply_as_it_is():
    good = (RECORDED / "goto_preset_no_token.xml").read_bytes()
    assert repair_reply(good) == good


def test_repair_does_not_invent_unknown_prefixes():
    raw = b"<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body><acme:X/></s:Body></s:Envelope>"
    assert b"xmlns:acme" not in repair_reply(raw)


# --- Against ipycam.


async def test_capabilities_are_read_once_and_cached(virtual_camera):
    driver = driver_for(virtual_camera)
    try:
        caps = await driver.capabilities()
        assert caps.absolute and caps.relative and caps.continuous and caps.home
        assert caps.stream_uri == virtual_camera.rtsp_url
        assert await driver.capabilities() is caps
    finally:
        await driver.close()


async def test_absolute_move_is_read_back_and_changes_the_picture(virtual_camera):
    """The test checks the picture received over RTSP changed as the move says: a zoom crops."""
    before = (await asyncio.to_thread(grab_frames, virtual_camera.rtsp_url, skip=5))[0]
    driver = driver_for(virtual_camera)
    try:
        await driver.absolute_move(pan=0.6, tilt=-0.4, zoom=0.8)
        status = await driver.status()
        assert status.position.pan == pytest.approx(0.6)
        assert status.position.tilt == pytest.approx(-0.4)
        assert status.position.zoom == pytest.approx(0.8)
        after = (await asyncio.to_thread(grab_frames, virtual_camera.rtsp_url, skip=5))[0]
        assert difference(before, after) > 15
        # Home again: the picture is the first one again (same crop of the same pattern).
        await driver.goto_home()
        assert (await driver.status()).position.zoom == pytest.approx(0.0)
        home = (await asyncio.to_thread(grab_frames, virtual_camera.rtsp_url, skip=5))[0]
        assert difference(before, home) < 6
    finally:
        await driver.close()


async def test_presets_are_stored_listed_and_recalled(virtual_camera):
    driver = driver_for(virtual_camera)
    try:
        await driver.absolute_move(pan=-0.5, tilt=0.3, zoom=0.5)
        token = await driver.set_preset(name="Parvis de la gare")
        presets = {p.token: p for p in await driver.presets()}
        assert presets[token].name == "Parvis de la gare"
        assert presets[token].position.pan == pytest.approx(-0.5)
        await driver.goto_home()
        await driver.goto_preset(token)
        status = await driver.status()
        position = status.position
        assert (position.pan, position.tilt, position.zoom) == pytest.approx((-0.5, 0.3, 0.5))
        assert status.moving is None  # ipycam does not fill its move status: unknown, not "idle"
    finally:
        await driver.close()


async def test_continuous_move_moves_until_stopped(virtual_camera):
    driver = driver_for(virtual_camera)
    try:
        await driver.continuous_move(pan=1.0, tilt=0.0, zoom=0.0)
        await asyncio.sleep(0.3)
        await driver.stop()
        stopped_at = (await driver.status()).position.pan
        assert stopped_at > 0.05
        await asyncio.sleep(0.3)
        assert (await driver.status()).position.pan == pytest.approx(stopped_at)
        await driver.relative_move(pan=-0.05, tilt=0.0, zoom=0.0)
        assert (await driver.status()).position.pan == pytest.approx(stopped_at - 0.05)
    finally:
        await driver.close()


async def test_wrong_credentials_are_told_apart(secured_camera):
    wrong = driver_for(secured_camera, user="admin", password="nope")
    right = driver_for(secured_camera, user="admin", password="s3cret")
    try:
        with pytest.raises(CameraAuthFailed):
            await wrong.status()
        assert (await right.status()).position.pan == pytest.approx(0.0)
    finally:
        await wrong.close()
        await right.close()


async def test_a_closed_port_is_unreachable():
    driver = OnvifPtzDriver(host="127.0.0.1", port=free_port(), timeout=1)
    with pytest.raises(CameraUnreachable):
        await driver.status()


async def test_a_camera_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        driver = OnvifPtzDriver(host="127.0.0.1", port=silent.getsockname()[1], timeout=0.4)
        # The driver's own deadline ends the call (CameraUnreachable); the outer bound only keeps
        # a driver without one from hanging the test (it would raise TimeoutError instead).
        with pytest.raises(CameraUnreachable):
            await asyncio.wait_for(driver.status(), timeout=20)


class _Replaying(http.server.BaseHTTPRequestHandler):
    """Forwards to ipycam, except a GotoPreset of an unknown token: the recorded fault."""

    upstream = 0
    fault = (RECORDED / "goto_preset_no_token.xml").read_bytes()

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if b"GotoPreset" in body and b"no-such-preset" in body:
            status, reply = 400, self.fault
        else:
            request = urllib.request.Request(f"http://127.0.0.1:{self.upstream}{self.path}", data=body,
                                             headers={"Content-Type": self.headers.get("Content-Type", "")})
            with urllib.request.urlopen(request, timeout=5) as answer:
                status, reply = answer.status, answer.read()
            # The addresses ipycam gives for its services must lead back here.
            reply = reply.replace(f"127.0.0.1:{self.upstream}".encode(),
                                  f"127.0.0.1:{self.server.server_address[1]}".encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


async def test_an_unknown_preset_is_a_camera_fault(virtual_camera):
    """ipycam accepts any preset token; a camera answers ter:NoToken (recorded exchange)."""
    handler = type("H", (_Replaying,), {"upstream": virtual_camera.onvif_port})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = OnvifPtzDriver(host="127.0.0.1", port=server.server_address[1])
    try:
        with pytest.raises(CameraFault, match="preset token does not exist"):
            await driver.goto_preset("no-such-preset")
    finally:
        await driver.close()
        server.shutdown()
        server.server_close()
