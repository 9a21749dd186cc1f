#!/usr/bin/env python
"""Recordings: recorder CPU per 720p H.264 camera, extraction of one hour, retention sweep.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/recording.py                         # everything, default sizes
    python benchmarks/recording.py --only cpu --cameras 2 --seconds 20
    python benchmarks/recording.py --only sweep --sweep-days 2 --sweep-cameras 10   # a quick run
    python benchmarks/recording.py --only extract --masked-minutes 5                 # masked: 5 min

It prints figures; it never asserts a timing. Targets are printed beside them.

* Its own database, ``csu_bench_recording`` on the server of ``DATABASE_URL`` (created with
  PostGIS when missing, migrated), its own ``CHANNELS_PREFIX``/``CACHE_KEY_PREFIX``
  (``benchrec``); recordings and exports go to a temporary directory, removed at the end.
* **cpu**: GStreamer's RTSP server of ``tests/streaming/rtsp_server.py`` (system python,
  1280x720 at 25 fps, x264 in *its* process) serves N cameras; this process records them with
  ``recordings.recorder.record_camera`` (the remux path: demux RTSP, mux MP4, hash, index) for
  S seconds. The figure is this process's CPU time (user + system) / wall time / N.
* **extract**: one 60 s 1280x720 25 fps H.264 segment (a 2 s libx264 clip, ~3 Mbit/s, repeated
  with shifted timestamps, so a keyframe every 2 s), hard-linked 60 times as one hour of one
  camera and indexed; then the real path: ``requisition_create`` (holds) and
  ``requisition_extract`` (remux of 60 segments with a caption cue per second, SHA-256, signed
  manifest), timed. Then the same segments (``--masked-minutes``, default the whole hour) on a
  camera with two privacy masks: the same path re-encodes them (decode, masks painted, name and
  time burned in, libx264); its time, frames per second and ratio to the remux are printed.
* **sweep**: the index of D days × C cameras of 60 s segments (COPY, rows only: the sweep
  never opens a file it keeps) plus one hour per camera past the retention with tiny real
  files; then ``retention_sweep`` timed twice: the one that destroys the expired hour, then
  a steady-state one with nothing to destroy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_database_url, ensure_database, free_port, setup_django  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB_NAME = "csu_bench_recording"
PREFIX = "benchrec"
SYSTEM_PYTHON = "/usr/bin/python3"


def bench_cameras(count: int, prefix: str):
    from cameras.models import Camera, Site
    from geo.models import Commune
    from tests import factories

    if not Commune.objects.exists():
        factories.make_commune()
    site = Site.objects.filter(code="bench-recording").first()
    if site is None:
        site = factories.make_site(commune=Commune.objects.first(), code="bench-recording")
    cameras = []
    for i in range(count):
        code = f"{prefix}-{i:03d}"
        camera = Camera.objects.filter(code=code).first() or factories.make_camera(code=code, site=site)
        cameras.append(camera)
    return cameras


def clean(prefix: str) -> None:
    from recordings.models import DestructionRecord, LegalHold, RecordingSegment, Requisition

    LegalHold.objects.filter(camera__code__startswith=prefix).delete()
    Requisition.objects.filter(cameras__code__startswith=prefix).delete()
    RecordingSegment.objects.filter(camera__code__startswith=prefix).delete()
    DestructionRecord.objects.filter(camera__code__startswith=prefix).delete()


# --------------------------------------------------------------------------- cpu

def bench_cpu(*, cameras: int, seconds: float, size: str, fps: int, pattern: str = "smpte",
              kbits: int = 0) -> dict:
    from recordings.recorder import record_camera
    from streaming.sources import open_source

    port = free_port()
    server = subprocess.Popen([SYSTEM_PYTHON, str(ROOT / "tests/streaming/rtsp_server.py"), str(port),
                               "--size", size, "--fps", str(fps), "--pattern", pattern,
                               "--bitrate", str(kbits)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the RTSP server did not start") from None
                time.sleep(0.1)
        url = f"rtsp://127.0.0.1:{port}/cam"
        stop = threading.Event()
        closed = []
        threads = []
        for camera in bench_cameras(cameras, "BENCH-REC-CPU"):
            def opener():
                return open_source(url, name="bench", default_size="", default_fps=fps, timeout=5)
            thread = threading.Thread(target=record_camera, kwargs=dict(
                camera=camera, stop=stop, segment_seconds=10, opener=opener, on_segment=closed.append),
                daemon=True)
            threads.append(thread)
            thread.start()
        time.sleep(3)  # connect, first keyframe: not measured
        cpu0, wall0, closed0 = time.process_time(), time.monotonic(), len(closed)
        time.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        segments = len(closed) - closed0
        window = closed[closed0:]
        # The stream's bit rate as recorded: bytes of the segments closed in the window over their
        # duration (the recorder's cost has a part per packet and a part per byte: SHA-256, write).
        recorded_s = sum((s.end - s.start).total_seconds() for s in window)
        bitrate = 8 * sum(s.size for s in window) / recorded_s if recorded_s else float("nan")
        stop.set()
        for thread in threads:
            thread.join(20)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    share = (cpu1 - cpu0) / (wall1 - wall0)
    return {"cameras": cameras, "seconds": wall1 - wall0, "core_share_total": share,
            "core_share_per_camera": share / cameras, "segments_closed": segments, "bitrate": bitrate}


# --------------------------------------------------------------------------- extract

def make_minute(path: Path, *, size: str, fps: int, bitrate: int) -> int:
    """A 60 s H.264 MP4: a 2 s libx264 clip repeated with shifted timestamps. Returns its size."""
    import av
    import numpy as np

    width, height = (int(v) for v in size.split("x"))
    clip = path.with_suffix(".clip.mp4")
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {"preset": "ultrafast", "g": str(2 * fps), "keyint_min": str(2 * fps)}
        rng = np.random.default_rng(1)
        base = (np.indices((height, width)).sum(axis=0) % 256).astype(np.uint8)
        for i in range(2 * fps):
            img = np.stack([base, np.roll(base, 8 * i, axis=1), np.full_like(base, (5 * i) % 256)], axis=-1)
            img[rng.integers(0, height, 2000), rng.integers(0, width, 2000)] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with av.open(str(clip)) as src, av.open(str(path), "w", format="mp4") as out:
        stream_in = src.streams.video[0]
        stream_out = out.add_stream_from_template(stream_in)
        packets = [p for p in src.demux(stream_in) if p.size]
        period = round(Fraction(2, 1) / stream_in.time_base)
        for rep in range(30):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + rep * period, p.dts + rep * period
                q.time_base = stream_in.time_base
                q.is_keyframe = p.is_keyframe
                q.stream = stream_out
                out.mux(q)
    clip.unlink()
    return path.stat().st_size


# Two privacy masks, as a town's cameras have them: a building's frontage along the left edge, a
# window to the upper right (fractions of the picture).
BENCH_MASKS = [[[0, 0], [0.25, 0], [0.3, 1], [0, 1]],
               [[0.62, 0.12], [0.74, 0.12], [0.74, 0.3], [0.62, 0.3]]]


def index_minutes(*, camera, minute: Path, minute_size: int, digest: str, end: dt.datetime,
                  minutes: int) -> dt.datetime:
    """Hard-link ``minute`` as the camera's last ``minutes`` segments before ``end``, indexed;
    returns the first one's start."""
    from django.conf import settings

    from recordings.models import RecordingSegment

    folder = Path(settings.HUB_RECORDINGS_DIR) / camera.code
    folder.mkdir(parents=True, exist_ok=True)
    start = end - dt.timedelta(minutes=minutes)
    rows = []
    for i in range(minutes):
        name = f"{i:02d}.mp4"
        os.link(minute, folder / name)
        s = start + dt.timedelta(minutes=i)
        rows.append(RecordingSegment(camera=camera, start=s, end=s + dt.timedelta(minutes=1),
                                     size=minute_size, sha256=digest, path=f"{camera.code}/{name}"))
    RecordingSegment.objects.bulk_create(rows)
    return start


def timed_extraction(*, camera, start: dt.datetime, end: dt.datetime) -> dict:
    """``requisition_create`` (holds) then ``requisition_extract``, each timed."""
    from django.contrib.auth import get_user_model

    from recordings.manifest import MANIFEST
    from recordings.models import Requisition
    from recordings.requisitions import requisition_create, requisition_extract

    user, _ = get_user_model().objects.get_or_create(username="bench-recording")
    t0 = time.monotonic()
    requisition = requisition_create(
        created_by=user, requesting_officer="OPJ Bench", service="Bench", procedure_number="BENCH/1",
        legal_basis="", cameras=[camera], window_start=start, window_end=end)
    hold = time.monotonic() - t0
    t0 = time.monotonic()
    directory = requisition_extract(requisition_id=requisition.pk)
    extract = time.monotonic() - t0
    requisition = Requisition.objects.get(pk=requisition.pk)
    out = sum(p.stat().st_size for p in Path(directory).glob("*.mp4")) if directory else 0
    entry = json.loads((Path(directory) / MANIFEST).read_text())["cameras"][0] if directory else {}
    return {"hold_s": hold, "extract_s": extract, "status": requisition.status, "error": requisition.error,
            "output_bytes": out, "packets": entry.get("file", {}).get("packets", 0),
            "overlay": entry.get("overlay", {})}


def timed_snapshots(*, camera, runs: int = 5) -> dict:
    """``snapshot_take`` of the latest recorded picture (the end of a 60 s segment), against the
    same picture found by decoding the segment from its start (what it did before seeking)."""
    import av
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from recordings.models import RecordingSegment
    from recordings.snapshots import snapshot_take
    from recordings.storage import recording_store

    user, _ = get_user_model().objects.get_or_create(username="bench-recording")
    taken, from_start = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        snapshot = snapshot_take(camera=camera, by=user)
        taken.append((time.perf_counter() - t0) * 1000)
        recording_store().delete(snapshot.path)
        snapshot.delete()
        segment = RecordingSegment.objects.filter(camera=camera).order_by("-end").first()
        t0 = time.perf_counter()
        with av.open(str(Path(settings.HUB_RECORDINGS_DIR) / segment.path)) as container:
            for _frame in container.decode(container.streams.video[0]):
                pass
        from_start.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": statistics.median(taken), "decode_from_start_p50_ms": statistics.median(from_start)}


def bench_extract(*, size: str, fps: int, bitrate: int, masked_minutes: int) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from cameras.services import mask_create
    from recordings.recorder import file_sha256

    (camera,) = bench_cameras(1, "BENCH-REC-EXT")
    root = Path(settings.HUB_RECORDINGS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    minute = root / "minute.mp4"
    minute_size = make_minute(minute, size=size, fps=fps, bitrate=bitrate)
    digest = file_sha256(minute)
    generate = time.monotonic() - t0
    end = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=2)
    start = index_minutes(camera=camera, minute=minute, minute_size=minute_size, digest=digest, end=end,
                          minutes=60)
    result = {"generate_s": generate, "segment_bytes": minute_size,
              "remux": timed_extraction(camera=camera, start=start, end=end),
              "snapshot": timed_snapshots(camera=camera)}
    if masked_minutes:
        # The same pictures on a camera with privacy masks: decoded, masked, stamped, re-encoded.
        (masked,) = bench_cameras(1, "BENCH-REC-MSK")
        if not masked.masks.exists():
            for polygon in BENCH_MASKS:
                mask_create(camera=masked, polygon=polygon, label="Bench")
        start = index_minutes(camera=masked, minute=minute, minute_size=minute_size, digest=digest, end=end,
                              minutes=masked_minutes)
        result["masked"] = timed_extraction(camera=masked, start=start, end=end)
        result["masked"]["minutes"] = masked_minutes
    return result


# --------------------------------------------------------------------------- sweep

def bench_sweep(*, days: int, cameras: int) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from recordings.models import RecordingSegment
    from recordings.retention import retention_sweep

    cams = bench_cameras(cameras, "BENCH-REC-SWP")
    root = Path(settings.HUB_RECORDINGS_DIR)
    now = timezone.now().replace(second=0, microsecond=0)
    retention = 14
    first = now - dt.timedelta(days=days)
    expired_from = now - dt.timedelta(days=retention, hours=1)
    t0 = time.monotonic()
    kept = expired = 0
    with connection.cursor() as cursor, cursor.cursor.copy(
            'COPY streaming_recordingsegment (camera_id, start, "end", size, sha256, path, is_gap, created_at) '
            "FROM STDIN") as copy:
        for camera in cams:
            folder = root / camera.code
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(60):  # the hour past the retention: tiny real files
                s = expired_from + dt.timedelta(minutes=i)
                (folder / f"x{i}.mp4").write_bytes(b"x" * 64)
                copy.write_row((camera.pk, s, s + dt.timedelta(minutes=1), 64, "0" * 64,
                                f"{camera.code}/x{i}.mp4", False, s))
                expired += 1
            for i in range(days * 1440):  # the kept index: rows only
                s = first + dt.timedelta(minutes=i)
                if s < expired_from + dt.timedelta(hours=1):
                    continue
                copy.write_row((camera.pk, s, s + dt.timedelta(minutes=1), 0, "", f"{camera.code}/{i}.mp4",
                                False, s))
                kept += 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE streaming_recordingsegment")
    index = time.monotonic() - t0
    t0 = time.monotonic()
    first_sweep = retention_sweep(now=now)
    destroy = time.monotonic() - t0
    t0 = time.monotonic()
    second = retention_sweep(now=now)
    steady = time.monotonic() - t0
    left = RecordingSegment.objects.filter(camera__in=cams).count()
    return {"rows": kept + expired, "expired": expired, "index_s": index, "destroyed": first_sweep.destroyed,
            "destroy_s": destroy, "steady_destroyed": second.destroyed, "steady_s": steady, "left": left}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["cpu", "extract", "sweep"], action="append")
    parser.add_argument("--cameras", type=int, default=4, help="cameras recorded at once (cpu)")
    parser.add_argument("--seconds", type=float, default=30, help="measured recording time (cpu)")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--camera-kbits", type=int, default=0,
                        help="the RTSP server's x264 bit rate in kbit/s (cpu); 0: x264enc's default, 2048")
    parser.add_argument("--pattern", default="smpte",
                        help="the RTSP server's videotestsrc pattern (cpu): smpte (light), snow (noise: "
                             "x264enc's default 2 Mbit/s is reached)")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=3_000_000, help="of the extract benchmark's segment")
    parser.add_argument("--masked-minutes", type=int, default=60,
                        help="minutes extracted from the masked camera (re-encoded); 0: not measured")
    parser.add_argument("--sweep-days", type=int, default=14)
    parser.add_argument("--sweep-cameras", type=int, default=50)
    args = parser.parse_args()
    only = set(args.only or ["cpu", "extract", "sweep"])

    url = bench_database_url(BENCH_DB_NAME, "BENCH_RECORDING_DATABASE_URL")
    ensure_database(url)
    setup_django(url, PREFIX)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from django.conf import settings

    work = Path(tempfile.mkdtemp(prefix="bench-recording-"))
    settings.HUB_RECORDINGS_DIR = work / "recordings"
    settings.HUB_EXPORTS_DIR = work / "exports"
    settings.HUB_SIGNING_KEY_PATH = work / "keys" / "hub.pem"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    settings.HUB_RECORDINGS_DIR.mkdir(parents=True)
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}; database {urlparse(url).path.lstrip('/')}; {dt.date.today()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    clean("BENCH-REC")
    try:
        if "cpu" in only:
            r = bench_cpu(cameras=args.cameras, seconds=args.seconds, size=args.size, fps=args.fps,
                          pattern=args.pattern, kbits=args.camera_kbits)
            print(f"recorder (remux) {args.size}@{args.fps} H.264 over RTSP ({args.pattern} pattern, "
                  f"{r['bitrate'] / 1e6:.2f} Mbit/s as recorded), {r['cameras']} cameras, "
                  f"{r['seconds']:.1f} s: {100 * r['core_share_total']:.2f} % of a core in all, "
                  f"{100 * r['core_share_per_camera']:.2f} % per camera (target <= 2 %); "
                  f"{r['segments_closed']} segments of 10 s closed; load average {os.getloadavg()[0]:.2f}")
        if "extract" in only:
            r = bench_extract(size=args.size, fps=args.fps, bitrate=args.bitrate,
                              masked_minutes=args.masked_minutes)
            remux = r["remux"]
            print(f"extraction of one hour of one camera (60 x 60 s {args.size}@{args.fps}, "
                  f"{r['segment_bytes'] / 1e6:.1f} MB each, made in {r['generate_s']:.1f} s), remux "
                  f"+ {remux['overlay'].get('cues', 0)} caption cues: holds {remux['hold_s'] * 1000:.0f} ms, "
                  f"extraction {remux['extract_s']:.2f} s (target <= 10 s), status {remux['status']} "
                  f"{remux['error']}, output {remux['output_bytes'] / 1e6:.0f} MB")
            snap = r["snapshot"]
            print(f"snapshot of the latest picture (masks, name and time, JPEG, hashed, journalled): "
                  f"p50 {snap['p50_ms']:.0f} ms; decoding its 60 s segment from the start alone: "
                  f"{snap['decode_from_start_p50_ms']:.0f} ms "
                  f"({snap['decode_from_start_p50_ms'] / snap['p50_ms']:.1f} x)")
            if "masked" in r:
                masked = r["masked"]
                per_hour = masked["extract_s"] * 60 / masked["minutes"]
                frames = masked["packets"]
                print(f"extraction of {masked['minutes']} min of a camera with {len(BENCH_MASKS)} privacy "
                      f"masks (the same segments; decode, masks, name and time burned in, libx264 veryfast "
                      f"CRF 20): {masked['extract_s']:.1f} s ({frames / masked['extract_s']:.0f} frames/s; "
                      f"{per_hour:.0f} s per hour, {per_hour / remux['extract_s']:.0f} x the remux; "
                      f"no target, the remux one is <= 10 s), status {masked['status']} {masked['error']}, "
                      f"output {masked['output_bytes'] / 1e6:.0f} MB")
        if "sweep" in only:
            r = bench_sweep(days=args.sweep_days, cameras=args.sweep_cameras)
            print(f"retention sweep, index of {args.sweep_days} days x {args.sweep_cameras} cameras "
                  f"({r['rows']} rows, written in {r['index_s']:.1f} s): destroying the expired hour "
                  f"({r['destroyed']} segments) {r['destroy_s']:.2f} s "
                  f"({1000 * r['destroy_s'] / max(r['destroyed'], 1):.2f} ms each); steady-state sweep "
                  f"(nothing to destroy: {r['steady_destroyed']}) {r['steady_s'] * 1000:.0f} ms; "
                  f"{r['left']} rows left")
    finally:
        clean("BENCH-REC")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
