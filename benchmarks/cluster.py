#!/usr/bin/env python
"""Recorder nodes on SeaweedFS: CPU per camera against the single-process recorder, balance,
takeover of a killed node, segment loss, objects in the store against index rows.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/cluster.py                           # 40 cameras, 4 nodes
    python benchmarks/cluster.py --cameras 200 --seconds 60

It prints figures; it never asserts a timing. Targets are printed beside them.

* Its own database, ``csu_bench_cluster`` (created with PostGIS when missing, migrated, its
  recordings tables emptied at the start and the end), its own ``CHANNELS_PREFIX`` /
  ``CACHE_KEY_PREFIX`` (``benchcluster``), its own SeaweedFS (``config.seaweed``: temporary
  directory, free ports, killed at the end), a temporary buffer directory per recorder.
* The cameras: GStreamer's RTSP server of ``tests/streaming/rtsp_server.py`` (system python)
  serving one mount point per camera (``--mounts N``: a ``videotestsrc`` + x264 pipeline each,
  at ``--size``/``--fps``, low resolution, a keyframe a second), in *its* process: the figures
  are the recorders' CPU only (remux, MP4, SHA-256, upload, index).
* **single**: ``manage.py record`` (today's recorder: one process, a thread per camera) records
  them for S seconds once every camera has a segment; its CPU (user + system, /proc) / wall / N.
* **nodes**: the same cameras by 4 ``manage.py record --node`` processes (lease 10 s, renewal
  3 s, the defaults; ``--lease-seconds``, ``--renew-seconds``): cameras per node once the shares settle, their CPU summed / wall / N.
* **kill**: the node holding the most cameras is SIGKILLed in the middle of its segments. Per
  camera it held: the time from the kill to the start of the first segment another node
  recorded (p50, p95; target p95 ≤ 10 s); the time until the leases moved. Loss: gaps indexed
  on the other cameras (target 0) and gaps ending after the kill beyond one per killed camera
  (target 0).
* **store**: (the single recorder wrote to a bucket of its own) every node stopped (SIGTERM, then SIGKILL after 20 s): objects in the bucket
  against the index rows (segments indexed without an object, objects without a row).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import bench_database_url, ensure_database, free_port, pct, process_cpu_ms, setup_django  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB_NAME = "csu_bench_cluster"
PREFIX = "benchcluster"
SYSTEM_PYTHON = "/usr/bin/python3"
ACCESS_KEY, SECRET_KEY = "bench-cluster", "bench-cluster-secret"


def group_cpu_ms(pids: list[int]) -> float:
    return sum(process_cpu_ms(pid) or 0.0 for pid in pids)


def start_rtsp(count: int, size: str, fps: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([SYSTEM_PYTHON, str(ROOT / "tests/streaming/rtsp_server.py"), str(port),
                                "--size", size, "--fps", str(fps), "--mounts", str(count)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                               text=True)
    line = process.stdout.readline() if process.stdout else ""
    if "READY" not in line:
        raise SystemExit(f"the RTSP server did not start: {line}")
    return process, port


def kill_group(process: subprocess.Popen, *, term: bool = True, wait: float = 20.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM if term else signal.SIGKILL)
        process.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass


def recorder(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "manage.py", "record", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate, seconds: float) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.5)
    return None


def cameras_make(count: int, port: int) -> list:
    from cameras.models import Camera
    from geo.models import Commune
    from recordings.models import RecordingPlan
    from tests import factories

    if not Commune.objects.exists():
        factories.make_commune()
    Camera.objects.filter(code__startswith="bclu-").update(stream_uri="")  # a smaller run: the rest idle
    RecordingPlan.objects.filter(camera__code__startswith="bclu-").delete()
    site = factories.make_site(commune=Commune.objects.first(), code=f"bench-cluster-{os.getpid()}")
    cameras = []
    for i in range(count):
        code = f"bclu-{i:04d}"
        camera = Camera.objects.filter(code=code).first() or factories.make_camera(code=code, site=site)
        camera.stream_uri = f"rtsp://127.0.0.1:{port}/cam{i}"
        camera.save(update_fields=["stream_uri"])
        cameras.append(camera)
    RecordingPlan.objects.bulk_create([RecordingPlan(camera=camera) for camera in cameras])
    return cameras


def tables_empty() -> None:
    from realtime.models import Event
    from recordings.models import RecordingSegment
    from streaming.models import CameraLease, Node

    RecordingSegment.objects.all().delete()
    CameraLease.objects.all().delete()
    Node.objects.all().delete()
    Event.objects.filter(type__startswith="node.").delete()


def recorded_since(cameras, since: dt.datetime) -> int:
    from recordings.models import RecordingSegment

    return (RecordingSegment.objects.filter(camera__in=cameras, is_gap=False, start__gt=since)
            .values("camera").distinct().count())


def cpu_window(pids: list[int], seconds: float) -> float:
    """Share of a core the processes used over ``seconds`` (CPU time / wall time)."""
    cpu0, t0 = group_cpu_ms(pids), time.monotonic()
    time.sleep(seconds)
    return (group_cpu_ms(pids) - cpu0) / 1000.0 / (time.monotonic() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=40,
                        help="synthetic cameras (default 40: 200 x264 sources do not fit this shared 2-core machine)")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30, help="CPU measurement window")
    parser.add_argument("--segment-seconds", type=int, default=4)
    parser.add_argument("--lease-seconds", type=float, default=6, help="HUB_NODE_LEASE_SECONDS (default 6, the hub's)")
    parser.add_argument("--renew-seconds", type=float, default=2, help="HUB_NODE_RENEW_SECONDS (default 2, the hub's)")
    parser.add_argument("--size", default="160x96")
    parser.add_argument("--fps", type=int, default=10)
    args = parser.parse_args()

    url = bench_database_url(BENCH_DB_NAME, "BENCH_DATABASE_URL")
    ensure_database(url)
    setup_django(url, PREFIX)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from django.utils import timezone

    from config.seaweed import SeaweedServer, free_base
    from recordings.models import RecordingSegment
    from recordings.storage import S3Store
    from streaming.models import CameraLease

    print(f"uptime before: {os.popen('uptime').read().strip()}")
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    weed = SeaweedServer(directory=work / "seaweed", base=free_base(), access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                         max_volumes=50)
    processes: list[subprocess.Popen] = []
    rtsp = None
    try:
        weed.start()
        weed.bucket_create("bench-single")
        weed.bucket_create("bench-cluster")
        rtsp, port = start_rtsp(args.cameras, args.size, args.fps)
        tables_empty()
        cameras = cameras_make(args.cameras, port)
        env = dict(os.environ, LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", HUB_RECORDINGS_STORAGE="s3",
                   HUB_S3_ENDPOINT=weed.endpoint, HUB_S3_BUCKET="bench-cluster", HUB_S3_ACCESS_KEY=ACCESS_KEY,
                   HUB_S3_SECRET_KEY=SECRET_KEY, HUB_RECORDING_MIN_FREE_BYTES="0",
                   HUB_RECORDING_SEGMENT_SECONDS=str(args.segment_seconds), HUB_VIDEO_RTSP_TIMEOUT_SECONDS="5",
                   HUB_NODE_LEASE_SECONDS=str(args.lease_seconds), HUB_NODE_RENEW_SECONDS=str(args.renew_seconds))
        print(f"{args.cameras} cameras {args.size} at {args.fps} fps (RTSP, a mount each), segments of "
              f"{args.segment_seconds} s, lease {args.lease_seconds:g} s, renewal {args.renew_seconds:g} s, "
              f"SeaweedFS {weed.endpoint}")

        # --- single: today's recorder ---------------------------------------------------------
        started = timezone.now()
        single = recorder([], dict(env, HUB_RECORDINGS_DIR=str(work / "buffer-single"), HUB_S3_BUCKET="bench-single"),
                          work / "single.log")
        processes.append(single)
        ready = wait_for(lambda: recorded_since(cameras, started) == len(cameras), 60 + args.cameras)
        if ready is None:
            print(f"single: only {recorded_since(cameras, started)}/{len(cameras)} cameras recorded; see {work}")
        share = cpu_window([single.pid], args.seconds)
        print(f"single process: {share * 100:.1f} % of a core for {len(cameras)} cameras = "
              f"{share * 100 / len(cameras):.3f} % per camera")
        kill_group(single)
        processes.remove(single)

        # --- nodes ----------------------------------------------------------------------------
        tables_empty()
        names = [f"bench-rec-{i}" for i in range(args.nodes)]
        nodes = {}
        started = timezone.now()
        for name in names:
            nodes[name] = recorder(["--node", name], dict(env, HUB_RECORDINGS_DIR=str(work / f"buffer-{name}")),
                                   work / f"{name}.log")
            processes.append(nodes[name])

        def shares() -> dict[str, int]:
            held: dict[str, int] = {}
            for name in CameraLease.objects.filter(node__isnull=False).values_list("node__name", flat=True):
                held[name] = held.get(name, 0) + 1
            return held

        settled = wait_for(lambda: sum(shares().values()) == len(cameras) and len(shares()) == args.nodes
                           and max(shares().values()) - min(shares().values()) <= 1, 90)
        wait_for(lambda: recorded_since(cameras, started) == len(cameras), 60 + args.cameras)
        print(f"nodes: shares {dict(sorted(shares().items()))} (settled in "
              f"{'not within 90 s' if settled is None else f'{settled:.1f} s'}); "
              f"{recorded_since(cameras, started)}/{len(cameras)} cameras recorded")
        share = cpu_window([p.pid for p in nodes.values()], args.seconds)
        print(f"{args.nodes} nodes: {share * 100:.1f} % of a core for {len(cameras)} cameras = "
              f"{share * 100 / len(cameras):.3f} % per camera")

        # --- kill -----------------------------------------------------------------------------
        held = shares()
        victim = max(held, key=lambda name: held[name])
        victim_cameras = set(CameraLease.objects.filter(node__name=victim).values_list("camera_id", flat=True))
        others = [c for c in cameras if c.pk not in victim_cameras]
        killed_at = timezone.now()
        before_gaps = RecordingSegment.objects.filter(camera__in=others, is_gap=True).count()
        os.killpg(nodes[victim].pid, signal.SIGKILL)
        nodes[victim].wait(10)
        t0 = time.monotonic()
        moved = wait_for(lambda: not CameraLease.objects.filter(camera_id__in=victim_cameras, node__name=victim)
                         .exists() and CameraLease.objects.filter(camera_id__in=victim_cameras,
                                                                 node__isnull=False).count() == len(victim_cameras),
                         60)
        wait_for(lambda: RecordingSegment.objects.filter(camera_id__in=victim_cameras, is_gap=False,
                                                         start__gt=killed_at).values("camera").distinct().count()
                 == len(victim_cameras), max(5.0, 90 - (time.monotonic() - t0)))
        takeovers = []
        for camera_id in victim_cameras:
            first = (RecordingSegment.objects.filter(camera_id=camera_id, is_gap=False, start__gt=killed_at)
                     .order_by("start").first())
            if first is not None:
                takeovers.append((first.start - killed_at).total_seconds())
        print(f"kill -9 {victim} ({len(victim_cameras)} cameras): leases moved in "
              f"{'>60 s' if moved is None else f'{moved:.1f} s'}; recorded again by the others: "
              f"{len(takeovers)}/{len(victim_cameras)}, p50 {pct(takeovers, 50):.1f} s, "
              f"p95 {pct(takeovers, 95):.1f} s, max {max(takeovers, default=float('nan')):.1f} s (target p95 ≤ 10 s)")
        time.sleep(2 * args.segment_seconds)  # the gaps are indexed with the first segment after the takeover
        other_gaps = RecordingSegment.objects.filter(camera__in=others, is_gap=True).count() - before_gaps
        victim_gaps = {camera_id: RecordingSegment.objects.filter(camera_id=camera_id, is_gap=True,
                                                                  end__gt=killed_at).count()
                       for camera_id in victim_cameras}
        beyond = sum(max(0, n - 1) for n in victim_gaps.values())
        extra = [round((g.end - g.start).total_seconds(), 1) for g in
                 RecordingSegment.objects.filter(camera_id__in=victim_cameras, is_gap=True, start__gt=killed_at)]
        print(f"loss: gaps on the other {len(others)} cameras {other_gaps} (target 0); killed cameras with a gap "
              f"{sum(1 for n in victim_gaps.values() if n)}/{len(victim_cameras)}, gaps beyond one per camera "
              f"{beyond} (target 0){f', starting after the takeover, of {extra} s' if extra else ''}")

        # --- store ----------------------------------------------------------------------------
        for name, process in nodes.items():
            if name != victim:
                kill_group(process)
        store = S3Store(endpoint=weed.endpoint, bucket="bench-cluster", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        for name in names:
            if name != victim:  # the survivors' share changes: a camera moved twice shows here
                moves = [line for line in (work / f"{name}.log").read_text(errors="replace").splitlines()
                         if " cameras (+" in line]
                print(f"  {name}: {' | '.join(line.split(': ', 1)[-1] for line in moves[-4:])}")
        refused = sum(log.read_text(errors="replace").count("Invalid argument") for log in work.glob("*.log"))
        print(f"segments ended by the muxer refusing a time stamp ('Invalid argument' in the recorders' logs): "
              f"{refused}")
        keys = set(store.keys())
        rows = set(RecordingSegment.objects.filter(camera__in=cameras, is_gap=False).values_list("path", flat=True))
        print(f"store: {len(keys)} objects, {len(rows)} segment rows; rows without an object {len(rows - keys)}, "
              f"objects without a row {len(keys - rows)} (both target 0)")
    finally:
        for process in processes:
            kill_group(process, wait=20)
        if rtsp is not None:
            kill_group(rtsp, wait=5)
        weed.stop()
        try:
            tables_empty()
        except Exception as exc:  # noqa: BLE001 - the figures are printed already
            print(f"could not empty the tables: {exc}")
        subprocess.run(["rm", "-rf", str(work)], check=False)
        print(f"uptime after: {os.popen('uptime').read().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
