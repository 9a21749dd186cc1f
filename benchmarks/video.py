#!/usr/bin/env python
"""Live video: the encode-once pipeline against aiortc's own path, in one run.

Run from the repository root (after ``source var/env.sh``)::

    python benchmarks/video.py                       # everything (about 4 minutes)
    python benchmarks/video.py --parts micro,pipeline --viewers 1,2,5,10 --seconds 6
    python benchmarks/video.py --parts browser,events

It prints figures; it never asserts a timing. Targets are printed beside
the figures for the reader to judge.

Parts
-----
``micro`` (in this process, one thread): on 1280×720 frames, the time to paint two
mask polygons (about 20 % of the picture) on one frame, and the full
decode → copy → mask → encode of one frame of an H.264 stream (the pipeline's work
for a masked RTSP camera).

``pipeline``: for each configuration, a child process (``--child``) runs a server
and N viewers. The viewers are aiortc peers in their own event-loop thread that do
*not* decode (their receivers' decoder threads are replaced by a frame counter),
so that what is measured is the server: the process CPU time minus the viewers'
threads, over a steady window (after every viewer got 25 frames and 2 s of
warm-up). Configurations, at 1280×720, 25 fps:

- masked camera (synthetic source + 2 masks), **ours**: ``VideoRuntime`` with one
  shared libx264 encode, packets fanned out (``streaming.pipeline``);
- masked camera, **baseline**: aiortc's own path: the same source and masks in a
  thread feeding a ``MediaStreamTrack`` of frames, ``MediaRelay().subscribe()`` per
  viewer, each ``RTCRtpSender`` encoding for its viewer (aiortc's H264 encoder);
- unmasked H.264 camera (GStreamer RTSP server, 1280×720 x264), **ours**: passthrough
  (the run reports how many frames the pipeline decoded: the target is none), and
  **baseline**: aiortc's ``MediaPlayer`` (decode) + ``MediaRelay`` + per-viewer encode.

``browser``: a Daphne on its own database (``csu_bench_video``, created and
migrated) and Debian's Chromium (Playwright). A masked 1280×720 synthetic camera,
an operator's session. Measures the time from ``new RTCPeerConnection`` (offer,
ICE, POST, answer) to the first decoded frame on screen
(``requestVideoFrameCallback``), and the delay from source to screen: the synthetic
source draws its capture time (ms) as a 32-bit barcode in each frame; the page
draws each presented frame on a canvas, reads the barcode and compares it with
``Date.now()`` (same machine, same clock).

``events``: on the same Daphne, 20 WebSocket clients of the centre; incidents
created by the real service in this process (one ``incident.created`` each, sent on
commit); latency = receipt − commit, first with no video, then while 5 masked
1280×720 cameras stream to 5 aiortc viewers (not decoding) in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZE = "1280x720"
FPS = 25
MASKS = (
    ((0.05, 0.1), (0.30, 0.1), (0.30, 0.45), (0.05, 0.45)),
    ((0.55, 0.5), (0.9, 0.55), (0.85, 0.9), (0.6, 0.85)),
)
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_DB = "csu_bench_video"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def django_setup(extra_env: dict[str, str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.update(extra_env or {})
    import logging

    import django

    django.setup()
    for name in ("aioice", "aiortc", "streaming"):
        logging.getLogger(name).setLevel(logging.WARNING)


# ---------------------------------------------------------------------------
# micro: painting and decode-mask-encode, one thread
# ---------------------------------------------------------------------------


def part_micro() -> dict:

    from streaming.masking import MaskPainter
    from streaming.pipeline import copy_frame
    from streaming.sources import SyntheticSource

    width, height = (int(v) for v in SIZE.split("x"))
    source = SyntheticSource(name="Banc d'essai", width=width, height=height, fps=FPS)
    frames = [source.frame_at(time.time() + i / FPS, i) for i in range(150)]
    painter = MaskPainter(MASKS, width, height)
    paint = []
    for frame in frames[:100]:
        copy = copy_frame(frame)
        started = time.perf_counter()
        painter.paint(copy)
        paint.append((time.perf_counter() - started) * 1000)
    rasterise_ms = []
    for _ in range(5):
        started = time.perf_counter()
        MaskPainter(MASKS, width, height).paint(copy_frame(frames[0]))
        rasterise_ms.append((time.perf_counter() - started) * 1000)

    return {
        "paint_ms": paint,
        "rasterise_ms": rasterise_ms,
        "covered": painter.covered,
        "steps": decode_mask_encode(frames, painter, width, height),
        "noisy": decode_mask_encode(noisy(frames), painter, width, height),
    }


def noisy(frames: list) -> list:
    """The pattern with sensor-like noise on every pixel: every macroblock changes, as in a
    real street scene at night (the encoder's worst case; the flat bars are its best)."""
    import numpy as np

    from streaming.pipeline import copy_frame
    from streaming.sources import plane

    rng = np.random.default_rng(7)
    out = []
    for frame in frames:
        f = copy_frame(frame)
        luma = plane(f, 0)
        luma[:] = np.clip(luma.astype(np.int16) + rng.integers(-10, 11, luma.shape, dtype=np.int16), 0, 255)
        out.append(f)
    return out


def decode_mask_encode(frames: list, painter, width: int, height: int) -> dict[str, list[float]]:
    import av

    from streaming.pipeline import H264Encoder, copy_frame
    from streaming.sources import VIDEO_TIME_BASE

    # An H.264 "camera" stream to decode (encoded once, beforehand, by another encoder).
    camera = H264Encoder(
        width=width, height=height, fps=FPS, bitrate=4_000_000, keyframe_seconds=2, threads=1
    )
    stream = []
    for i, frame in enumerate(frames):
        frame.pts, frame.time_base = i * 3600, VIDEO_TIME_BASE
        stream += camera.encode(frame, keyframe=False)
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1
    encoder = H264Encoder(
        width=width, height=height, fps=FPS, bitrate=2_500_000, keyframe_seconds=2, threads=1
    )
    steps: dict[str, list[float]] = {"decode": [], "copy": [], "mask": [], "encode": [], "total": []}
    for packet in stream:
        t0 = time.perf_counter()
        decoded = decoder.decode(packet)
        t1 = time.perf_counter()
        for frame in decoded:
            f = copy_frame(frame)
            t2 = time.perf_counter()
            painter.paint(f)
            t3 = time.perf_counter()
            encoder.encode(f, keyframe=False)
            t4 = time.perf_counter()
            for name, value in (
                ("decode", t1 - t0),
                ("copy", t2 - t1),
                ("mask", t3 - t2),
                ("encode", t4 - t3),
                ("total", t4 - t0),
            ):
                steps[name].append(value * 1000)
    return steps


# ---------------------------------------------------------------------------
# pipeline: one child process per configuration
# ---------------------------------------------------------------------------


def thread_cpu(native_id: int) -> float:
    try:
        fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return 0.0


def process_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


class Viewers:
    """N aiortc peers in their own loop thread, which count frames instead of decoding them."""

    def __init__(self) -> None:
        import aiortc.rtcrtpreceiver as receiver

        self.counts: dict[int, int] = {}
        self.thread_ids: set[int] = set()
        self._lock = threading.Lock()

        def counting_worker(loop, input_q, output_q, decode_error) -> None:  # replaces the decoder
            self.thread_ids.add(threading.get_native_id())
            key = id(input_q)
            while True:
                task = input_q.get()
                if task is None:
                    break
                with self._lock:
                    self.counts[key] = self.counts.get(key, 0) + 1

        receiver.decoder_worker = counting_worker
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="viewers")
        self.thread.start()
        self.native_id = self._run(self._native())
        self.pcs: list = []

    async def _native(self) -> int:
        return threading.get_native_id()

    def _run(self, coro, timeout: float = 20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def offer(self) -> object:
        return self._run(self._offer())

    async def _offer(self):
        from aiortc import RTCConfiguration, RTCPeerConnection

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")

        @pc.on("track")
        def on_track(track) -> None:
            async def drain() -> None:
                try:
                    while True:
                        await track.recv()
                except Exception:  # noqa: BLE001
                    pass

            asyncio.ensure_future(drain())

        await pc.setLocalDescription(await pc.createOffer())
        self.pcs.append(pc)
        return pc

    def accept(self, pc, answer: str) -> None:
        from aiortc import RTCSessionDescription

        self._run(pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer")))

    def frames(self) -> list[int]:
        with self._lock:
            return list(self.counts.values())

    def client_cpu(self) -> float:
        return sum(thread_cpu(t) for t in {self.native_id, *self.thread_ids})

    def close(self) -> None:
        for pc in self.pcs:
            try:
                self._run(pc.close(), 5)
            except Exception:  # noqa: BLE001
                pass


class FrameSourceThread:
    """Baseline: the same source (synthetic + masks painted, or nothing else) in a thread."""

    def __init__(self, loop, masked: bool) -> None:
        from streaming.masking import MaskPainter
        from streaming.sources import SyntheticSource

        width, height = (int(v) for v in SIZE.split("x"))
        self.source = SyntheticSource(name="Banc d'essai", width=width, height=height, fps=FPS)
        self.painter = MaskPainter(MASKS, width, height) if masked else None
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=3)
        self.thread = threading.Thread(target=self._run, daemon=True, name="baseline-source")

    def _put(self, frame) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(frame)

    def _run(self) -> None:
        for frame in self.source.read():
            if self.painter is not None:
                self.painter.paint(frame)
            self.loop.call_soon_threadsafe(self._put, frame)

    def track(self):
        from aiortc.mediastreams import MediaStreamTrack

        queue = self.queue

        class FrameTrack(MediaStreamTrack):
            kind = "video"

            async def recv(self):
                return await queue.get()

        return FrameTrack()


def h264_only(transceiver) -> None:
    from aiortc import RTCRtpSender

    codecs = RTCRtpSender.getCapabilities("video").codecs
    h264 = [
        c
        for c in codecs
        if c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode")) == "1"
    ]
    transceiver.setCodecPreferences(h264 + [c for c in codecs if c.mimeType.lower() == "video/rtx"])


def child_pipeline(mode: str, n: int, source: str, seconds: float, agencies: int = 0) -> dict:
    django_setup(
        {
            "HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
            "HUB_VIDEO_MAX_VIEWERS": "100",
            "HUB_VIDEO_MAX_PENDING_OFFERS": "100",
            "LOG_LEVEL": "WARNING",
        }
    )
    viewers = Viewers()
    masked = source == "masked"
    uri = f"synthetic:{SIZE}@{FPS}" if masked else source
    if mode == "ours":
        from streaming.pipeline import CameraFeed, PipelineSettings
        from streaming.runtime import VideoRuntime, Viewer, _restrict_host_addresses
        from streaming.selectors import MasksInForce

        _restrict_host_addresses(["127.0.0.1"])
        runtime = VideoRuntime(
            config=PipelineSettings(synthetic_size=SIZE, synthetic_fps=FPS), watchdog=False, journal=False
        )
        feed = CameraFeed(camera_id=1, code="bench", name="Banc d'essai", stream_uri=uri)
        masks = MasksInForce(partners=MASKS, centre=MASKS) if masked else MasksInForce((), ())
        for i in range(n):
            pc = viewers.offer()
            runtime.admit()
            # agencies > 0: the viewers are partner agents of that many agencies, round robin
            # (one watermarked encode per agency); 0: operators (the centre's output).
            key = f"agency:a{i % agencies}" if agencies else "centre"
            viewer = Viewer(
                user_id=i,
                username=f"agent-{i}",
                output_key=key,
                output_label=f"Agence {i % agencies}" if agencies else "",
            )
            session = runtime.open_viewing(
                feed=feed, viewer=viewer, offer=pc.localDescription.sdp, masks=masks, start_timeout=15
            )
            viewers.accept(pc, session.answer)

        def server_stats() -> dict:
            s = runtime.pipelines()[0].stats()
            return {
                "frames_decoded": s["frames_decoded"],
                "encodes": s["encodes"],
                "packets_in": s["packets_in"],
                "frames_in": s["frames_in"],
                "mode": s["outputs"][0]["mode"],
                "bytes": s["outputs"][0]["bytes_out"],
                "outputs": len(s["outputs"]),
            }
    else:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from aiortc.contrib.media import MediaPlayer, MediaRelay

        from streaming.runtime import _restrict_host_addresses

        _restrict_host_addresses(["127.0.0.1"])
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True, name="baseline-loop").start()

        def run(coro):
            return asyncio.run_coroutine_threadsafe(coro, loop).result(20)

        relay = MediaRelay()
        if masked:
            feeder = FrameSourceThread(loop, masked=True)
            track = feeder.track()
            feeder.thread.start()
        else:

            async def open_player():
                return MediaPlayer(uri, options={"rtsp_transport": "tcp"})

            player = run(open_player())
            track = player.video
        encodes = {"n": 0}
        import aiortc.codecs.h264 as h264

        original = h264.H264Encoder.encode

        def counted(self, frame, force_keyframe=False):
            encodes["n"] += 1
            return original(self, frame, force_keyframe)

        h264.H264Encoder.encode = counted

        async def answer(offer: str) -> str:
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            transceiver = pc.addTransceiver(relay.subscribe(track), direction="sendonly")
            h264_only(transceiver)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            return pc.localDescription.sdp

        for _ in range(n):
            pc = viewers.offer()
            viewers.accept(pc, run(answer(pc.localDescription.sdp)))

        def server_stats() -> dict:
            return {
                "encodes": encodes["n"],
                "frames_decoded": None if masked else "every frame (MediaPlayer)",
            }

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(viewers.frames()) < n or min(viewers.frames()) < 25):
        time.sleep(0.1)
    time.sleep(2)  # warm-up
    frames0, total0, client0, stats0 = viewers.frames(), process_cpu(), viewers.client_cpu(), server_stats()
    wall0 = time.monotonic()
    time.sleep(seconds)
    frames1, total1, client1, stats1 = viewers.frames(), process_cpu(), viewers.client_cpu(), server_stats()
    wall = time.monotonic() - wall0
    server_cpu = (total1 - total0) - (client1 - client0)
    fps = [(b - a) / wall for a, b in zip(frames0, frames1, strict=False)] if frames0 else []
    result = {
        "mode": mode,
        "viewers": n,
        "source": "masked" if masked else "rtsp",
        "server_cpu_pct": 100 * server_cpu / wall,
        "client_cpu_pct": 100 * (client1 - client0) / wall,
        "fps_min": min(fps) if fps else 0,
        "fps_avg": statistics.mean(fps) if fps else 0,
        "connected": len(frames1),
    }
    if isinstance(stats1.get("encodes"), int) and isinstance(stats0.get("encodes"), int):
        result["encodes_per_s"] = (stats1["encodes"] - stats0["encodes"]) / wall
    if "bytes" in stats1:
        result["mbps_per_output"] = (stats1["bytes"] - stats0["bytes"]) * 8 / wall / 1e6
        result["outputs"] = stats1["outputs"]
    result["agencies"] = agencies
    result["frames_decoded"] = stats1.get("frames_decoded")
    result["output_mode"] = stats1.get("mode")
    viewers.close()
    return result


def run_child(mode: str, n: int, source: str, seconds: float, agencies: int = 0) -> dict | None:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--viewers",
        str(n),
        "--source",
        source,
        "--seconds",
        str(seconds),
        "--agencies",
        str(agencies),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180)
    line = next((x for x in done.stdout.splitlines() if x.startswith("{")), None)
    if line is None:
        print(f"  {mode} {n} {source}: failed\n{done.stderr[-2000:]}")
        return None
    return json.loads(line)


def part_watermark(seconds: float) -> list[dict]:
    """4 partner viewers of a masked camera: one agency (one watermarked encode) against four
    (one encode each: what a watermark per viewer would cost)."""
    results = []
    for agencies in (0, 1, 2, 4):
        r = run_child("ours", 4, "masked", seconds, agencies=agencies)
        if r:
            results.append(r)
            print(
                f"  watermark: 4 viewers, {agencies or 'no'} agencies: "
                f"server CPU {r['server_cpu_pct']:.1f} %, "
                f"encodes/s {r.get('encodes_per_s', 0):.1f}",
                flush=True,
            )
    return results


def part_pipeline(counts: list[int], seconds: float) -> list[dict]:
    from tests.streaming.conftest import RtspServer

    server = RtspServer(size=SIZE, fps=FPS)
    server.start()
    time.sleep(1)
    results = []
    try:
        for source in ("masked", server.url):
            for mode in ("ours", "baseline"):
                for n in counts:
                    result = run_child(mode, n, source, seconds)
                    if result is None:
                        continue
                    results.append(result)
                    print(
                        f"  {result['source']:6} {mode:8} {n:2} viewers: "
                        f"server CPU {result['server_cpu_pct']:6.1f} %"
                        f"  fps min {result['fps_min']:5.1f}  encodes/s {result.get('encodes_per_s', 0):6.1f}"
                        f"  decoded {result['frames_decoded']}",
                        flush=True,
                    )
    finally:
        server.stop()
    return results


# ---------------------------------------------------------------------------
# browser and events: a Daphne on its own database
# ---------------------------------------------------------------------------

FIRST_FRAME_JS = """async (url) => {
  const { WhepPlayer } = await import('/static/js/video.js');
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.append(video);
  const t0 = performance.now();
  const player = new WhepPlayer(video, { url });
  const first = new Promise((resolve) => {
    const check = () => video.srcObject ? video.requestVideoFrameCallback(() => resolve(performance.now()))
                                        : setTimeout(check, 5);
    check();
  });
  const ok = await player.start();
  const t1 = await Promise.race([first, new Promise((r) => setTimeout(() => r(null), 10000))]);
  await player.stop();
  video.remove();
  return ok && t1 ? t1 - t0 : null;
}"""

DELAY_JS = """async ([url, ms]) => {
  const { WhepPlayer } = await import('/static/js/video.js');
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.append(video);
  const player = new WhepPlayer(video, { url });
  await player.start();
  const canvas = document.createElement('canvas');
  const delays = [];
  const start = performance.now();
  await new Promise((resolve) => {
    const onFrame = (now, meta) => {
      const w = video.videoWidth, h = video.videoHeight;
      if (w) {
        canvas.width = w; canvas.height = h;
        const ctx = canvas.getContext('2d', { willReadFrequently: true });
        ctx.drawImage(video, 0, 0);
        const block = Math.floor(Math.max(4, Math.min(Math.floor(w / 36), Math.floor(h / 16))) / 2) * 2;
        const y0 = h - 2 * block;
        const row = ctx.getImageData(0, y0 + block / 2, w, 1).data;
        let value = 0;
        for (let bit = 0; bit < 32; bit++) {
          const x = block + bit * block + block / 2;
          const i = 4 * x;
          const luma = 0.299 * row[i] + 0.587 * row[i + 1] + 0.114 * row[i + 2];
          value = (value * 2) + (luma > 150 ? 1 : 0);
        }
        const nowMs = Date.now() % 4294967296;
        const delay = (nowMs - value + 4294967296) % 4294967296;
        if (delay < 10000) delays.push(delay);
      }
      if (performance.now() - start < ms) video.requestVideoFrameCallback(onFrame); else resolve();
    };
    const wait = () => video.srcObject ? video.requestVideoFrameCallback(onFrame) : setTimeout(wait, 10);
    wait();
  });
  await player.stop();
  video.remove();
  return delays;
}"""


async def listen_events(
    port: int,
    token: str,
    received: dict[int, list[float]],
    ready: threading.Event,
    stop: threading.Event,
    n_clients: int = 20,
) -> None:
    """``n_clients`` sockets of the centre; the receipt times of each ``incident.created``."""
    from fanout import BuiltinWS

    url = f"ws://127.0.0.1:{port}/ws/events/"
    sockets = [await BuiltinWS.connect(url, {"Authorization": f"Bearer {token}"}) for _ in range(n_clients)]
    ready.set()

    async def read(ws) -> None:
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            if text is None:
                return
            frame = json.loads(text)
            if frame.get("type") == "incident.created":
                received.setdefault(frame["data"]["incident"]["id"], []).append(time.time())

    await asyncio.gather(*(read(ws) for ws in sockets))
    for ws in sockets:
        await ws.close()


def bench_database_url() -> str:
    from harness import bench_database_url as url_of

    return url_of(BENCH_DB)


def part_server(parts: set[str]) -> dict:
    from fanout import Daphne, cpu_seconds, ensure_database

    url = os.environ["DATABASE_URL"]
    assert url.endswith(f"/{BENCH_DB}"), url
    ensure_database(url)
    prefix = os.environ["CHANNELS_PREFIX"]
    assert prefix.startswith("bench-video-"), prefix
    django_setup({"HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1"})
    from django.conf import settings

    assert settings.DATABASES["default"]["NAME"] == BENCH_DB
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == prefix
    from django.contrib.gis.geos import Point
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client

    from cameras.models import Camera
    from cameras.services import mask_create
    from geo.models import Commune
    from incidents.services.incidents import incident_create
    from partners.models import Member
    from partners.services import api_token_issue
    from streaming.runtime import _restrict_host_addresses
    from tests import factories

    call_command("migrate", interactive=False, verbosity=0)
    from incidents.choices import NATURES
    from incidents.models import Nature

    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})
    if not Commune.objects.filter(insee_code="95428").exists():
        factories.make_commune()
    operator = Member.objects.filter(user__username="bench-video-op").first() or factories.make_member(
        role="operator", username="bench-video-op"
    )
    cameras = list(Camera.objects.filter(code__startswith="bench-video-").order_by("code"))
    if len(cameras) < 6:
        for i in range(6):
            camera = factories.make_camera(code=f"bench-video-{i}")
            Camera.objects.filter(pk=camera.pk).update(
                stream_uri=f"synthetic:{SIZE}@{FPS}", name=f"Banc vidéo {i}"
            )
            for polygon in MASKS:
                mask_create(camera=camera, polygon=[list(p) for p in polygon], created_by=operator.user)
            factories.make_authorisation(cameras=[camera])
        cameras = list(Camera.objects.filter(code__startswith="bench-video-").order_by("code"))
    token, _ = api_token_issue(user=operator.user)

    import tempfile

    static_root = tempfile.mkdtemp(prefix="bench-video-static-")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
        env=dict(os.environ, STATIC_ROOT=static_root),
    )
    daphne = Daphne(
        "core",
        prefix,
        {
            "HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
            "DATABASE_URL": url,
            "STATIC_ROOT": static_root,
            "CACHE_KEY_PREFIX": prefix,
            "HUB_VIDEO_MAX_VIEWERS": "100",
        },
        fixed=False,
    )
    daphne.wait_ready()
    base = f"http://127.0.0.1:{daphne.port}"
    # A second process for video only (docs/architecture.md: media pipelines in their own ASGI processes).
    video_daphne = None
    if "events" in parts:
        video_daphne = Daphne(
            "core",
            prefix,
            {
                "HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
                "DATABASE_URL": url,
                "STATIC_ROOT": static_root,
                "CACHE_KEY_PREFIX": prefix,
                "HUB_VIDEO_MAX_VIEWERS": "100",
            },
            fixed=False,
        )
        video_daphne.wait_ready()
    out: dict = {}
    try:
        if "browser" in parts:
            from playwright.sync_api import sync_playwright

            client = Client()
            client.force_login(operator.user)
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
            with sync_playwright() as playwright:
                chromium = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    headless=True,
                    args=[
                        "--no-sandbox",
                        "--disable-gpu",
                        "--allow-loopback-in-peer-connection",
                        "--disable-features=WebRtcHideLocalIpsWithMdns",
                        "--autoplay-policy=no-user-gesture-required",
                    ],
                )
                context = chromium.new_context(base_url=base)
                context.add_cookies(
                    [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
                )
                page = context.new_page()
                page.goto("/mur/")
                whep = f"/api/streaming/cameras/{cameras[0].pk}/whep"
                firsts = []
                for _ in range(6):
                    firsts.append(page.evaluate(FIRST_FRAME_JS, whep))
                    time.sleep(0.3)
                out["first_frame_ms"] = [v for v in firsts if v is not None]
                # The first offer also opened the camera's source (cold); the next ones found it warm.
                out["delays_ms"] = page.evaluate(DELAY_JS, [whep, 5000])
                chromium.close()
            print(f"  browser: offer → first frame {out['first_frame_ms']}", flush=True)
        if "events" in parts:
            _restrict_host_addresses(["127.0.0.1"])
            out["events"] = {}
            location = Point(2.3222, 48.9883, srid=4326)
            phases = {
                "no video": None,
                "5 masked cameras streaming, same process": daphne,
                "5 masked cameras streaming, from a separate video process": video_daphne,
            }
            for phase, video_process in phases.items():
                viewers = None
                if video_process is not None:
                    import urllib.request

                    viewers = Viewers()
                    for camera in cameras[1:6]:
                        pc = viewers.offer()
                        request = urllib.request.Request(
                            f"http://127.0.0.1:{video_process.port}/api/streaming/cameras/{camera.pk}/whep",
                            data=pc.localDescription.sdp.encode(),
                            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
                            method="POST",
                        )
                        with urllib.request.urlopen(request, timeout=20) as answer:
                            viewers.accept(pc, answer.read().decode())
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline and (
                        len(viewers.frames()) < 5 or min(viewers.frames()) < 25
                    ):
                        time.sleep(0.1)
                    time.sleep(2)
                received: dict[int, list[float]] = {}
                commits: dict[int, float] = {}
                loop = asyncio.new_event_loop()
                stop = threading.Event()
                ready = threading.Event()

                listener = listen_events(daphne.port, token, received, ready, stop)
                thread = threading.Thread(target=loop.run_until_complete, args=(listener,), daemon=True)
                thread.start()
                ready.wait(20)
                time.sleep(0.5)
                cpu0, wall0 = cpu_seconds(daphne.proc.pid), time.monotonic()
                vcpu0 = cpu_seconds(video_daphne.proc.pid)
                for _ in range(100):
                    stamp: dict[str, float] = {}
                    with transaction.atomic():
                        transaction.on_commit(lambda s=stamp: s.setdefault("t", time.time()))
                        incident = incident_create(
                            member=operator, nature="rixe", location=location, description="Banc vidéo"
                        )
                    commits[incident.pk] = stamp["t"]
                    time.sleep(0.1)
                time.sleep(2)
                cpu = cpu_seconds(daphne.proc.pid) - cpu0
                vcpu = cpu_seconds(video_daphne.proc.pid) - vcpu0
                wall = time.monotonic() - wall0
                stop.set()
                thread.join(5)
                latencies = [
                    (t - commits[i]) * 1000 for i, ts in received.items() if i in commits for t in ts
                ]
                out["events"][phase] = {
                    "latencies_ms": latencies,
                    "expected": 100 * 20,
                    "daphne_cpu_pct": 100 * cpu / wall,
                    "video_daphne_cpu_pct": 100 * vcpu / wall,
                }
                print(
                    f"  events, {phase}: {len(latencies)}/2000 delivered, p50 {pct(latencies, 50):.1f} ms, "
                    f"p99 {pct(latencies, 99):.1f} ms, Daphne CPU {100 * cpu / wall:.0f} %, "
                    f"video Daphne {100 * vcpu / wall:.0f} %",
                    flush=True,
                )
                if viewers is not None:
                    viewers.close()
                    time.sleep(3)  # the pipelines close after their linger time
    finally:
        daphne.stop()
        if video_daphne is not None:
            video_daphne.stop()
    return out


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def report(micro: dict | None, pipeline: list[dict], server: dict | None, watermark: list[dict]) -> None:
    print("\n## Figures\n")
    if micro:
        s = micro["steps"]
        print(
            f"- Mask painting, 2 polygons covering {micro['covered'] * 100:.0f} % of a {SIZE} frame: "
            f"p50 {pct(micro['paint_ms'], 50):.3f} ms, p95 {pct(micro['paint_ms'], 95):.3f} ms "
            "(target ≤ 2 ms); "
            f"rasterising a new mask set {statistics.median(micro['rasterise_ms']):.1f} ms, once per change."
        )
        print(
            f"- Decode → copy → mask → encode of one {SIZE} H.264 frame on one core: "
            f"p50 {pct(s['total'], 50):.1f} ms, "
            f"p95 {pct(s['total'], 95):.1f} ms (target ≤ 40 ms); decode {pct(s['decode'], 50):.1f}, "
            f"copy {pct(s['copy'], 50):.2f}, mask {pct(s['mask'], 50):.2f}, "
            f"encode {pct(s['encode'], 50):.1f} (p50, ms). "
            f"At 25 fps: {1000 / (25 * pct(s['total'], 50)):.1f} masked cameras per core from this alone."
        )
        n = micro["noisy"]
        print(
            f"- The same with noise on every pixel (the encoder's worst case): "
            f"p50 {pct(n['total'], 50):.1f} ms, p95 {pct(n['total'], 95):.1f} ms; "
            f"decode {pct(n['decode'], 50):.1f}, encode {pct(n['encode'], 50):.1f} "
            f"(p50, ms): {1000 / (25 * pct(n['total'], 50)):.1f} masked cameras per core."
        )
    if pipeline:
        print(
            f"\n| camera ({SIZE}, {FPS} fps) | path | viewers | server CPU % of a core | ×1 viewer | "
            "encodes/s | frames decoded | fps per viewer (min) |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for source in ("masked", "rtsp"):
            for mode in ("ours", "baseline"):
                rows = [r for r in pipeline if r["source"] == source and r["mode"] == mode]
                one = next((r["server_cpu_pct"] for r in rows if r["viewers"] == 1), None)
                for r in rows:
                    ratio = f"{r['server_cpu_pct'] / one:.2f}×" if one else "?"
                    label = "masked (synthetic + 2 masks)" if source == "masked" else "unmasked H.264 (RTSP)"
                    path = (
                        ("encode once" if source == "masked" else "passthrough")
                        if mode == "ours"
                        else "aiortc MediaRelay + encode per viewer"
                    )
                    print(
                        f"| {label} | {path} | {r['viewers']} | {r['server_cpu_pct']:.1f} | {ratio} | "
                        f"{r.get('encodes_per_s', float('nan')):.1f} | {r['frames_decoded']} | "
                        f"{r['fps_min']:.1f} |"
                    )
    if watermark:
        print("\n| 4 viewers of a masked camera | outputs | encodes/s | server CPU % of a core |")
        print("|---|---|---|---|")
        for r in watermark:
            label = {
                0: "4 operators (centre output, no watermark)",
                1: "4 agents of 1 agency",
                2: "4 agents of 2 agencies",
                4: "4 agents of 4 agencies (= a watermark per viewer)",
            }
            print(
                f"| {label.get(r['agencies'], r['agencies'])} | {r.get('outputs')} | "
                f"{r.get('encodes_per_s', 0):.1f} | {r['server_cpu_pct']:.1f} |"
            )
    if server:
        if "first_frame_ms" in server:
            firsts = server["first_frame_ms"]
            delays = server.get("delays_ms", [])
            print(
                f"\n- WHEP offer → first decoded frame in Chromium: first (cold source) {firsts[0]:.0f} ms, "
                f"then warm p50 {pct(firsts[1:], 50):.0f} ms, max {max(firsts[1:]):.0f} ms "
                "(target ≤ 1000 ms)."
            )
            print(
                "- Source → browser (capture time in the picture vs the page's clock, "
                f"{len(delays)} frames): "
                f"p50 {pct(delays, 50):.0f} ms, p95 {pct(delays, 95):.0f} ms (target ≤ 300 ms)."
            )
        for phase, e in server.get("events", {}).items():
            lat = e["latencies_ms"]
            print(
                f"- WebSocket events, {phase}: {len(lat)}/{e['expected']} delivered, "
                f"p50 {pct(lat, 50):.1f} ms, "
                f"p95 {pct(lat, 95):.1f} ms, p99 {pct(lat, 99):.1f} ms (realtime target p99 ≤ 250 ms); "
                f"CPU of the events' Daphne {e['daphne_cpu_pct']:.0f} %, of the video-only Daphne "
                f"{e['video_daphne_cpu_pct']:.0f} % of a core."
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="micro,pipeline,watermark,browser,events")
    parser.add_argument("--viewers", default="1,2,5,10")
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--child", choices=["ours", "baseline"])
    parser.add_argument("--source", default="masked")
    parser.add_argument("--agencies", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                child_pipeline(args.child, int(args.viewers), args.source, args.seconds, args.agencies)
            ),
            flush=True,
        )
        os._exit(0)  # aiortc threads and loops: no orderly teardown needed in a throwaway child
    parts = set(args.parts.split(","))
    if parts & {"browser", "events"}:
        # Before Django is set up by any part: everything this run writes goes to its own database,
        # and its events to its own channel-layer and cache prefixes (never a running hub's).
        prefix = f"bench-video-{os.getpid()}"
        os.environ.update(DATABASE_URL=bench_database_url(), CHANNELS_PREFIX=prefix, CACHE_KEY_PREFIX=prefix)
    print(f"machine: {os.cpu_count()} CPU, load average {os.getloadavg()[0]:.2f}", flush=True)
    micro = server = None
    pipeline: list[dict] = []
    if "micro" in parts:
        django_setup()
        micro = part_micro()
        print("  micro done", flush=True)
    if "pipeline" in parts:
        pipeline = part_pipeline([int(v) for v in args.viewers.split(",")], args.seconds)
    watermark: list[dict] = []
    if "watermark" in parts:
        watermark = part_watermark(args.seconds)
    if parts & {"browser", "events"}:
        server = part_server(parts)
    report(micro, pipeline, server, watermark)
    os._exit(0)


if __name__ == "__main__":
    main()
