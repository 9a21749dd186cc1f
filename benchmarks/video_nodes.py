#!/usr/bin/env python
"""Video nodes behind HAProxy: viewers of 10 cameras spread over 2 video nodes, encodes per camera.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/video_nodes.py                    # 10 cameras, 2 viewers each, 2 nodes
    python benchmarks/video_nodes.py --cameras 6 --viewers 3
    python benchmarks/video_nodes.py --leases 2142      # only: one node's leases at that scale

On its own database (``csu_bench_video_nodes``, created and migrated) and channel prefix: two
``manage.py video --node video1|video2`` processes and HAProxy configured by
``config.topology.Topology`` (what ``make run`` writes with ``HUB_VIDEO_PROCESSES=2``). The
cameras are synthetic (320×180 at 15 fps, transcoded: one encode per pipeline). Each viewer is an
aiortc peer (tests/streaming/peer.py) that posts its offer to HAProxy, follows a 307 by hand (as a
browser's fetch does) and waits for 3 decoded frames. It prints:

- how the nodes share the cameras (leases), and where each offer first landed;
- **pipelines per camera** across the nodes (target: 1) and the viewers on each;
- the time of an offer answered at once (201) and of one sent on (307, then 201 from the holder),
  and of the 307 alone: what the redirect costs a viewer.

With ``--leases N``: instead, N cameras with a source (bare copies of one camera) and one video
node, in this process: the time of its join and first rebalance (it takes every camera, what a
video node does before Daphne serves), of a renewal (every ``HUB_NODE_RENEW_SECONDS``), of its
leave.

It never asserts a timing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

ROOT = harness.ROOT
BENCH_DB = "csu_bench_video_nodes"
SOURCE = "synthetic:320x180@15"


def post(port: int, path: str, body: str, token: str) -> tuple[int, dict[str, str], bytes, float]:
    """One POST to HAProxy; status, headers, body and its time in ms."""
    started = harness.now_ms()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body.encode(), headers={
            "Content-Type": "application/sdp", "Accept": "application/sdp", "Authorization": f"Bearer {token}"})
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data, harness.now_ms() - started
    finally:
        connection.close()


def get_json(port: int, path: str, token: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def part_leases(count: int) -> None:
    from cameras.models import Camera
    from streaming.models import Node, NodeRole
    from streaming.nodes import node_join, node_leave, rebalance

    base = Camera.objects.filter(code__startswith="bench-vnodes-").first() or Camera.objects.first()
    if base is None:
        raise SystemExit("run once without --leases first (it makes the cameras)")
    have = Camera.objects.filter(code__startswith="bench-leases-").count()
    fields = {f.attname: getattr(base, f.attname) for f in Camera._meta.concrete_fields
              if f.attname not in ("id", "code")}
    Camera.objects.bulk_create([Camera(**fields, code=f"bench-leases-{i:05d}") for i in range(have, count)])
    Camera.objects.exclude(stream_uri="").update(stream_uri="")
    Camera.objects.filter(code__startswith="bench-leases-", code__lt=f"bench-leases-{count:05d}"
                          ).update(stream_uri=SOURCE)
    Node.objects.filter(role=NodeRole.VIDEO).delete()
    started = time.perf_counter()
    node = node_join(name="bench-leases", role=NodeRole.VIDEO)
    taken = len(rebalance(node).taken)
    joined = time.perf_counter() - started
    renewals = []
    for _ in range(5):
        started = time.perf_counter()
        rebalance(node)
        renewals.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    node_leave(node)
    left = (time.perf_counter() - started) * 1000
    Camera.objects.filter(code__startswith="bench-leases-").update(stream_uri="")
    s = harness.summary(renewals)
    print(f"one video node, {count} cameras with a source: join and first rebalance {joined:.2f} s "
          f"(took {taken}); a renewal p50 {s['p50']:.0f} ms, max {s['max']:.0f} ms (5); leave {left:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=10)
    parser.add_argument("--viewers", type=int, default=2, help="viewers per camera")
    parser.add_argument("--leases", type=int, default=0, help="only time one node's leases of N cameras")
    args = parser.parse_args()

    url = harness.bench_database_url(BENCH_DB)
    harness.ensure_database(url)
    prefix = f"bench-vnodes-{os.getpid()}"
    harness.setup_django(url, prefix, {"HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1"})
    from django.conf import settings
    from django.core.management import call_command

    assert settings.DATABASES["default"]["NAME"] == BENCH_DB  # it rewrites cameras' stream addresses
    call_command("migrate", interactive=False, verbosity=0)
    logging.getLogger("aioice").setLevel(logging.WARNING)  # the viewers' ICE checks, line by line
    if args.leases:
        part_leases(args.leases)
        return
    from cameras.models import Camera
    from config.topology import Topology, haproxy_servers_down
    from geo.models import Commune
    from partners.models import Member
    from partners.services import api_token_issue
    from streaming.models import CameraLease, Node, NodeRole
    from tests import factories
    from tests.streaming.peer import WhepPeer

    if not Commune.objects.filter(insee_code="95428").exists():
        factories.make_commune()
    operator = (Member.objects.filter(user__username="bench-vnodes-op").first()
                or factories.make_member(role="operator", username="bench-vnodes-op"))
    cameras = list(Camera.objects.filter(code__startswith="bench-vnodes-").order_by("code"))
    for i in range(len(cameras), args.cameras):
        camera = factories.make_camera(code=f"bench-vnodes-{i:02d}")
        factories.make_authorisation(cameras=[camera])
    Camera.objects.filter(code__startswith="bench-vnodes-").update(stream_uri=SOURCE)
    # Only this run's cameras are shared (a camera of an earlier, larger run has no source now).
    Camera.objects.exclude(code__startswith="bench-vnodes-").update(stream_uri="")
    Camera.objects.filter(code__startswith="bench-vnodes-", code__gte=f"bench-vnodes-{args.cameras:02d}"
                          ).update(stream_uri="")
    cameras = list(Camera.objects.filter(code__startswith="bench-vnodes-").exclude(stream_uri="").order_by("code"))
    Node.objects.filter(role=NodeRole.VIDEO).delete()  # nodes of an earlier run
    token, _ = api_token_issue(user=operator.user)

    tmp = Path(tempfile.mkdtemp(prefix="bench-video-nodes-"))
    port = harness.free_port()
    ports = [harness.free_port(), harness.free_port()]
    topology = Topology(port=port, api=2, ws=1, video=2, api_ports=ports, ws_ports=ports[:1], video_ports=ports)
    env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL="WARNING", HUB_NODE_RENEW_SECONDS="1",
               HUB_TRUSTED_PROXIES="127.0.0.1", HUB_VIDEO_LINGER_SECONDS="1")
    processes = []
    for name, node_port in zip(topology.video_names, ports, strict=True):
        with (tmp / f"{name}.log").open("wb") as out:
            processes.append(subprocess.Popen(
                [sys.executable, "manage.py", "video", "--node", name, "--port", str(node_port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    stats = tmp / "haproxy.sock"
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(topology.haproxy_cfg().replace("global\n", f"global\n    stats socket {stats} level user\n", 1))
    processes.append(subprocess.Popen(["haproxy", "-W", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    peers: list[WhepPeer] = []
    try:
        deadline = time.monotonic() + 60
        while not stats.exists() or haproxy_servers_down(stats):
            if time.monotonic() > deadline:
                raise SystemExit(f"the nodes were not up behind HAProxy; logs in {tmp}")
            time.sleep(0.2)
        leases = CameraLease.objects.filter(role=NodeRole.VIDEO, camera__in=cameras, node__isnull=False)
        while leases.count() < len(cameras) or len(set(leases.values_list("node", flat=True))) < 2:
            if time.monotonic() > deadline:
                raise SystemExit("the nodes did not take every camera")
            time.sleep(0.2)
        time.sleep(2.5)  # two more renewals: the shares settle
        holders = dict(leases.values_list("camera_id", "node__name"))
        share = {name: sorted(c.code for c in cameras if holders[c.pk] == name) for name in topology.video_names}

        direct, sent_on, redirects, landed = [], [], [], {"holder": 0, "other": 0}
        for _ in range(args.viewers):
            for camera in cameras:
                peer = WhepPeer()
                peers.append(peer)
                path = f"/api/streaming/cameras/{camera.pk}/whep"
                offer = peer.offer()
                status, headers, body, ms = post(port, path, offer, token)
                if status == 307:
                    landed["other"] += 1
                    redirects.append(ms)
                    status, headers, body, more = post(port, headers["location"], offer, token)
                    sent_on.append(ms + more)
                else:
                    landed["holder"] += 1
                    direct.append(ms)
                if status != 201:
                    raise SystemExit(f"offer for {camera.code}: {status} {body[:200]!r}")
                peer.accept(body.decode())
        frames = [peer.wait_frames(3, timeout=15) for peer in peers]
        per_node = {name: get_json(node_port, "/api/streaming/pipelines/", token)["pipelines"]
                    for name, node_port in zip(topology.video_names, ports, strict=True)}
    finally:
        for peer in peers:
            peer.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()

    pipelines_per_camera = {c.code: sum(1 for ps in per_node.values() for p in ps if p["camera"] == c.pk)
                            for c in cameras}
    print(f"{len(cameras)} cameras ({SOURCE}), {args.viewers} viewers each, 2 video nodes behind HAProxy")
    for name in topology.video_names:
        viewers = sum(p["viewers"] for p in per_node[name])
        print(f"  {name}: holds {len(share[name])} cameras; runs {len(per_node[name])} pipelines, "
              f"{viewers} viewers, encodes {sum(p['encodes'] for p in per_node[name])}")
    print(f"  pipelines per camera across the nodes: max {max(pipelines_per_camera.values())}, "
          f"min {min(pipelines_per_camera.values())} (target 1)")
    print(f"  viewers that got 3 frames: {sum(f >= 3 for f in frames)}/{len(frames)}")
    print(f"  offers landing on the holder: {landed['holder']}, sent on (307): {landed['other']}")

    def line(label: str, samples: list[float]) -> str:
        s = harness.summary(samples)
        return f"  {label}: n={s['n']} p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms, max {s['max']:.1f} ms"

    print(line("offer answered at once (201)", direct))
    print(line("offer sent on (307 + 201)", sent_on))
    print(line("the 307 alone", redirects))


if __name__ == "__main__":
    main()
