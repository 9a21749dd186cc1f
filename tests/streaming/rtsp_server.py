"""A real RTSP server for the video tests: GStreamer's gst-rtsp-server (Debian's
``gir1.2-gst-rtsp-server-1.0``), run with the SYSTEM python (``/usr/bin/python3``,
which has ``python3-gi``), not the project's virtualenv.

    /usr/bin/python3 tests/streaming/rtsp_server.py PORT [--path /cam] [--size 320x180] [--fps 25]
                                                   [--pattern smpte] [--bitrate KBIT_S]
                                                   [--mounts N]

Serves a live H.264 test pattern (``videotestsrc is-live=true``, x264 zero-latency,
a key frame every second, SPS/PPS before each one) at ``rtsp://127.0.0.1:PORT/cam``.
With ``--mounts N``, also ``/cam0`` … ``/cam{N-1}``: one stream (pipeline) each, so that
the clients of one camera never disturb those of another.
Prints ``READY`` once it listens; stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--size", default="320x180")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--pattern", default="smpte")
    parser.add_argument("--bitrate", type=int, default=0,
                        help="x264enc's target in kbit/s (0: its default, 2048)")
    parser.add_argument("--mounts", type=int, default=0, help="also serve /cam0 … /cam{N-1}, a stream each")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    launch = (
        f"( videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,width={width},height={height},framerate={args.fps}/1 "
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={args.fps} "
        f"{f'bitrate={args.bitrate} ' if args.bitrate else ''}"
        f"! rtph264pay name=pay0 pt=96 config-interval=1 )")
    for path in [args.path] + [f"/cam{i}" for i in range(args.mounts)]:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch)
        factory.set_shared(True)
        server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print("could not listen", file=sys.stderr, flush=True)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print("READY", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
