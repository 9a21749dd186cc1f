"""ipycam, the virtual ONVIF PTZ camera, in a subprocess on loopback (``ptz.virtual_camera``):
its own ports, no discovery, its presets in a temporary folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VirtualPtzCamera:
    def __init__(self, *, workdir: Path, rtsp: bool = True, user: str = "", password: str = "",
                 size: str = "320x180", fps: int = 15, count: int = 1) -> None:
        self.onvif_port = free_port() if count == 1 else _free_range(count)
        self.rtsp_port = free_port() if rtsp else 0
        args = [sys.executable, "-m", "ptz.virtual_camera", "--onvif-port", str(self.onvif_port),
                "--size", size, "--fps", str(fps), "--workdir", str(workdir), "--count", str(count)]
        args += ["--rtsp-port", str(self.rtsp_port)] if rtsp else ["--no-rtsp"]
        if user:
            args += ["--user", user, "--password", password]
        self.process = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, env={**os.environ})
        self.rtsp_url = ""
        deadline = time.monotonic() + 20
        ready = 0
        while ready < count:
            line = self.process.stdout.readline() if self.process.stdout else ""
            if not line:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the virtual camera did not start")
                continue
            if line.startswith("READY"):
                ready += 1
                self.rtsp_url = self.rtsp_url or line.split()[2]

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _free_range(count: int) -> int:
    """A first port such that ``count`` consecutive ports are free."""
    for _ in range(50):
        start = free_port()
        if start + count >= 65000:
            continue
        socks = []
        try:
            for port in range(start, start + count):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                socks.append(sock)
            return start
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no range of free ports")


def grab_frames(url: str, *, count: int = 1, skip: int = 0, timeout: float = 8):
    """``count`` decoded frames (numpy gray, small) read from ``url`` over RTSP/TCP."""
    import av

    container = av.open(url, options={"rtsp_transport": "tcp", "timeout": "5000000"}, timeout=timeout)
    try:
        frames = []
        for index, frame in enumerate(container.decode(video=0)):
            if index < skip:
                continue
            frames.append(frame.to_ndarray(format="gray")[::4, ::4].astype(int))
            if len(frames) >= count:
                break
        return frames
    finally:
        container.close()


def difference(a, b) -> float:
    """Mean absolute difference of two gray pictures (0..255)."""
    return float(abs(a - b).mean())


def store_preset(port: int, *, pan: float, tilt: float, zoom: float, name: str) -> str:
    """Store a preset in the virtual camera, as its installer would, and send it back home;
    the camera's token for it. The ONVIF client runs in a thread of its own, so that this works
    from a test whose thread already runs an event loop (Playwright's)."""
    import asyncio
    import concurrent.futures

    from ptz.driver import OnvifPtzDriver

    async def store() -> str:
        driver = OnvifPtzDriver(host="127.0.0.1", port=port)
        try:
            await driver.absolute_move(pan=pan, tilt=tilt, zoom=zoom)
            token = await driver.set_preset(name=name)
            await driver.goto_home()
            return token
        finally:
            await driver.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, store()).result(timeout=30)
