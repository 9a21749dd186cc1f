#!/usr/bin/env python
"""The recordings' object store: what the hub's S3 client (boto3) costs per segment uploaded,
what a ranged read and a delete take, on SeaweedFS on this machine.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/object_store.py                      # 20 segments of 60 s at 2.5 Mbit/s
    python benchmarks/object_store.py --segments 5 --mbits 4

It prints figures; it never asserts a timing. No database: it drives ``recordings.storage``
directly (the same ``put_file``, ``open``/``read_range``, ``delete``, ``hold_set`` the recorder,
the extractions, the snapshots and the sweep use), with a SeaweedFS of its own
(``config.seaweed``, temporary directory, free ports), killed at the end.

* **upload**: N segment-sized files (random bytes: 60 s at M Mbit/s, 18.75 MB at 2.5) put one
  after the other, as a recorder does after each segment. Figures: this process's CPU
  (user + system) per segment, and per camera as a share of a core (÷ the segment's 60 s);
  SeaweedFS's own CPU (its process group, from /proc) per segment; wall time per segment and
  throughput.
* **ranged read**: 1 MiB at random offsets of the stored segments (``read_range``), the median
  and 95th percentile; and a snapshot-like read (``open`` + seek near the end + 64 KiB): the
  bytes fetched.
* **delete**: every segment deleted (every version), median time per segment; one held segment
  (``hold_set``) refused.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def weed_cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its children (weed runs as one process)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--mbits", type=float, default=2.5, help="camera bit rate, Mbit/s")
    parser.add_argument("--seconds", type=int, default=60, help="segment length")
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from config.seaweed import SeaweedServer, free_base
    from recordings.storage import ObjectHeld, recording_store

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    server = SeaweedServer(directory=work / "seaweed", base=free_base(), access_key="bench",
                           secret_key="bench-secret")
    started = time.monotonic()
    server.start()
    print(f"SeaweedFS {server.endpoint}: S3 answering after {time.monotonic() - started:.1f} s")
    try:
        server.bucket_create("bench")
        settings.HUB_RECORDINGS_STORAGE = "s3"
        settings.HUB_S3_ENDPOINT, settings.HUB_S3_BUCKET = server.endpoint, "bench"
        settings.HUB_S3_ACCESS_KEY, settings.HUB_S3_SECRET_KEY = "bench", "bench-secret"
        store = recording_store()
        size = int(args.mbits * 1e6 / 8 * args.seconds)
        source = work / "segment.mp4"
        source.write_bytes(os.urandom(size))
        assert server.process is not None
        weed_pid = server.process.pid

        keys = [f"CAM{n % 10:02d}/20261207/segment-{n:04d}.mp4" for n in range(args.segments)]
        cpu0, weed0, wall0 = cpu(), weed_cpu_seconds(weed_pid), time.monotonic()
        for key in keys:
            store.put_file(key, source)
        cpu1, weed1, wall1 = cpu(), weed_cpu_seconds(weed_pid), time.monotonic()
        per = (cpu1 - cpu0) / args.segments
        print(f"upload: {args.segments} segments of {size / 1e6:.2f} MB ({args.seconds} s at {args.mbits} Mbit/s)")
        print(f"  hub's client CPU    {per * 1000:.1f} ms per segment = {per / args.seconds * 100:.3f} % of a core"
              " per camera")
        print(f"  SeaweedFS CPU       {(weed1 - weed0) / args.segments * 1000:.1f} ms per segment"
              f" = {(weed1 - weed0) / args.segments / args.seconds * 100:.3f} % of a core per camera")
        wall = (wall1 - wall0) / args.segments
        print(f"  wall                {wall * 1000:.0f} ms per segment, {size / wall / 1e6:.0f} MB/s")

        rng = random.Random(7)
        times = []
        for _ in range(args.reads):
            key, offset = rng.choice(keys), rng.randrange(0, size - (1 << 20))
            t = time.monotonic()
            assert len(store.read_range(key, offset, 1 << 20)) == 1 << 20
            times.append(time.monotonic() - t)
        times.sort()
        print(f"ranged read of 1 MiB: median {statistics.median(times) * 1000:.1f} ms,"
              f" p95 {times[int(len(times) * 0.95) - 1] * 1000:.1f} ms ({args.reads} reads)")
        reader = store.open(keys[0])
        reader.seek(-200_000, 2)
        reader.read(65536)
        print(f"snapshot-like read (seek near the end, 64 KiB): {reader.fetched / 1e6:.2f} MB fetched of"
              f" {size / 1e6:.2f} MB")

        store.hold_set(keys[0], held=True)
        try:
            store.delete(keys[0])
            print("held segment: DELETED (the store does not enforce legal holds)")
        except ObjectHeld:
            print("held segment: delete refused (Object Lock legal hold)")
        store.hold_set(keys[0], held=False)
        times = []
        for key in keys:
            t = time.monotonic()
            store.delete(key)
            times.append(time.monotonic() - t)
        print(f"delete (every version): median {statistics.median(times) * 1000:.1f} ms per segment")
        print(f"idle SeaweedFS after the run: {Path(f'/proc/{weed_pid}/status').read_text().split('VmRSS:')[1].split()[0]}"
              " kB resident")
    finally:
        server.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
