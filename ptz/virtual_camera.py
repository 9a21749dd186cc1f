"""A virtual ONVIF PTZ camera for tests, benchmarks and the demo: ipycam (PyPI), started on
loopback only, without WS-Discovery, fed with a synthetic pattern.

    python -m ptz.virtual_camera --onvif-port 18080 --rtsp-port 18554 [--user u --password p]
    python -m ptz.virtual_camera --onvif-port 18100 --count 30 --no-rtsp     (benchmarks)

It prints ``READY <onvif-port> <rtsp-url>`` per camera once they answer, then runs until
stdin closes or it is terminated. ipycam's digital PTZ crops and zooms a larger source
picture, so a move changes what is received over RTSP: the pattern is made of coloured
tiles, each one different, so that any crop of it looks different from another.

ipycam is not ours: it binds every interface and multicasts discovery when started with
``IPCamera.start()``; here its parts are started one by one, bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time

import numpy as np


def pattern(width: int, height: int) -> np.ndarray:
    """A BGR picture of 8×6 tiles of distinct colours with a diagonal gradient: no two
    crops of it look alike, so a pan or a zoom always changes the picture."""
    y, x = np.mgrid[0:height, 0:width]
    tiles_x, tiles_y = 8, 6
    tx = (x * tiles_x // width).astype(np.int32)
    ty = (y * tiles_y // height).astype(np.int32)
    index = ty * tiles_x + tx
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (index * 37 + x * 64 // width) % 256
    image[..., 1] = (index * 91 + y * 64 // height) % 256
    image[..., 2] = (index * 53 + 128) % 256
    # Tile borders: dark lines, so that edges move visibly.
    image[(x % (width // tiles_x)) < 3] = 20
    image[(y % (height // tiles_y)) < 3] = 20
    return image


class VirtualCamera:
    """One ipycam camera on loopback: ONVIF (HTTP) and, optionally, RTSP (ffmpeg)."""

    def __init__(self, *, onvif_port: int, rtsp_port: int, user: str = "", password: str = "",
                 width: int = 640, height: int = 360, fps: int = 15, rtsp: bool = True,
                 workdir: str | None = None) -> None:
        from ipycam import CameraConfig, IPCamera

        self.workdir = workdir or tempfile.mkdtemp(prefix="ipycam-")
        config = CameraConfig(local_ip="127.0.0.1", onvif_port=onvif_port, rtsp_port=rtsp_port,
                              main_width=width, main_height=height, main_fps=fps,
                              sub_width=width, sub_height=height, sub_fps=fps, show_timestamp=False,
                              hw_accel="cpu", name=f"Virtual PTZ {onvif_port}")
        if user:
            config.set_credentials(user, password)
        self.camera = IPCamera(config)
        self.rtsp = rtsp
        self.source = pattern(width * 2, height * 2)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def rtsp_url(self) -> str:
        return self.camera.config.main_stream_rtsp

    def start(self) -> None:
        import socketserver

        from ipycam.camera import ReusableThreadingTCPServer
        from ipycam.http import IPCameraHTTPHandler
        from ipycam.rtsp import NativeRTSPServer

        cam = self.camera
        # ipycam keeps its camera on the handler class: one subclass per camera.
        handler = type("Handler", (IPCameraHTTPHandler,), {"camera": cam})
        server: socketserver.TCPServer = ReusableThreadingTCPServer(
            ("127.0.0.1", cam.config.onvif_port), handler)
        cam._http_server = server
        self._threads.append(threading.Thread(target=server.serve_forever, daemon=True))
        if self.rtsp:
            rtsp = NativeRTSPServer(port=cam.config.rtsp_port, host="127.0.0.1")
            rtsp.add_stream(name=cam.config.main_stream_name, width=cam.config.main_width,
                            height=cam.config.main_height, fps=cam.config.main_fps, bitrate="1M")
            rtsp.add_stream(name=cam.config.sub_stream_name, width=cam.config.sub_width,
                            height=cam.config.sub_height, fps=cam.config.sub_fps, bitrate="1M")
            if not rtsp.start():
                raise RuntimeError("ipycam's RTSP server did not start (is ffmpeg installed?)")
            cam.rtsp_server = rtsp
            cam._start_rtsp_fanout()
        cam._running = True
        if self.rtsp:  # without RTSP nobody sees the picture: do not spend CPU making it
            self._threads.append(threading.Thread(target=self._feed, daemon=True))
        for thread in self._threads:
            thread.start()

    def _feed(self) -> None:
        while not self._stop.is_set():
            self.camera.stream(self.source)  # paces itself at the configured rate

    def stop(self) -> None:
        self._stop.set()
        cam = self.camera
        cam._running = False
        if cam.ptz:
            cam.ptz.stop()
        if cam.rtsp_server:
            cam._stop_rtsp_fanout()
            cam.rtsp_server.stop()
        if cam._http_server:
            cam._http_server.shutdown()
            cam._http_server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onvif-port", type=int, required=True)
    parser.add_argument("--rtsp-port", type=int, default=0)
    parser.add_argument("--count", type=int, default=1, help="cameras on consecutive ONVIF ports")
    parser.add_argument("--no-rtsp", action="store_true")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    workdir = args.workdir or tempfile.mkdtemp(prefix="ipycam-")
    # ipycam writes its presets to ./ptz_presets.json: keep them out of the checkout.
    os.chdir(workdir)
    cameras = []
    for i in range(args.count):
        rtsp_port = (args.rtsp_port + i) if args.rtsp_port else 0
        camera = VirtualCamera(onvif_port=args.onvif_port + i, rtsp_port=rtsp_port,
                               user=args.user, password=args.password, width=width, height=height,
                               fps=args.fps, rtsp=not args.no_rtsp, workdir=workdir)
        camera.start()
        cameras.append(camera)
        print(f"READY {args.onvif_port + i} {camera.rtsp_url if not args.no_rtsp else '-'}", flush=True)
    try:
        while sys.stdin.read(1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for camera in cameras:
            camera.stop()
        time.sleep(0.1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
