"""The encode-once pipeline of one camera (docs/video.md).

One pipeline per camera and process, opened on its first viewer, shared by all of
them, closed some seconds after the last one left (``HUB_VIDEO_LINGER_SECONDS``).
Its media work runs in its own worker thread, never on an event loop:

    source ──► passthrough ─────────────────────────────────────► centre output ─┐
      │         (H.264, no mask for the centre: no decode, no encode)               │
      └──────► decode once ─► paint masks once ─► encode once ────► centre output  ├─► the same
                                     └─► + watermark, encode once per agency ─► agency outputs ┘   av.Packet
                                                                                     objects to every
                                                                                     viewer of an output

An *output* is one encoded stream: the centre's (operators; passthrough when it can)
or one partner agency's (masked always, watermarked with the agency, its viewers and
the time). Every viewer of an output gets the very same ``av.Packet`` objects: an
aiortc sender only packetises and encrypts them (``streaming.tracks.PacketTrack``).

Threads: the worker owns the source, the decoder, the encoders and the mask painters;
the media event loop owns the outputs' viewers and their current group of pictures
(GOP). The worker hands each packet to the loop with ``call_soon_threadsafe``;
nothing else is shared but plain attribute writes (a key-frame request, the masks in
force, the outputs' snapshot), each atomic under the GIL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.video.codeccontext import VideoCodecContext
from django.conf import settings
from django.utils.translation import gettext

from streaming.masking import Blank, MaskPainter, Watermark
from streaming.selectors import MasksInForce
from streaming.sources import (
    PARIS,
    VIDEO_CLOCK,
    VIDEO_TIME_BASE,
    Source,
    SourceUnavailable,
    open_source,
    plane,
    redact,
)

log = logging.getLogger(__name__)

CENTRE = "centre"
PASSTHROUGH, TRANSCODE = "passthrough", "transcode"
# A GOP longer than this (packets) is not kept: a new viewer then waits for the next key frame.
MAX_GOP_PACKETS = 600
# Key frames asked by viewers (picture loss, a slow viewer) are granted at most this often.
KEYFRAME_REQUEST_INTERVAL = 0.5

NO_MASKS = MasksInForce(partners=(), centre=())


@dataclass(frozen=True)
class CameraFeed:
    """What a pipeline knows of its camera (read from the database by the caller)."""

    camera_id: int
    code: str
    name: str
    stream_uri: str


@dataclass(frozen=True)
class PipelineSettings:
    synthetic_size: str = "1280x720"
    synthetic_fps: int = 25
    bitrate: int = 2_500_000
    keyframe_seconds: float = 2.0
    encoder_threads: int = 1
    rtsp_timeout: float = 3.0
    reconnect_min: float = 0.5
    reconnect_max: float = 10.0

    @classmethod
    def from_django(cls) -> PipelineSettings:
        return cls(synthetic_size=settings.HUB_VIDEO_SYNTHETIC_SIZE,
                   synthetic_fps=settings.HUB_VIDEO_SYNTHETIC_FPS, bitrate=settings.HUB_VIDEO_BITRATE,
                   keyframe_seconds=settings.HUB_VIDEO_KEYFRAME_SECONDS,
                   encoder_threads=settings.HUB_VIDEO_ENCODER_THREADS,
                   rtsp_timeout=settings.HUB_VIDEO_RTSP_TIMEOUT_SECONDS,
                   reconnect_min=settings.HUB_VIDEO_RECONNECT_MIN_SECONDS,
                   reconnect_max=settings.HUB_VIDEO_RECONNECT_MAX_SECONDS)


class H264Encoder:
    """libx264 for live viewing: ultrafast, zero latency (no lookahead, no B-frames, one
    frame in, its packet out), constrained baseline (what every WebRTC peer decodes),
    SPS/PPS repeated before each key frame, a key frame every ``keyframe_seconds``."""

    def __init__(self, *, width: int, height: int, fps: float, bitrate: int, keyframe_seconds: float,
                 threads: int) -> None:
        self.width, self.height = width, height
        keyint = max(1, round(fps * keyframe_seconds))
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
        ctx.time_base = VIDEO_TIME_BASE
        ctx.framerate = Fraction(max(1, round(fps)))
        ctx.bit_rate = bitrate
        ctx.gop_size = keyint
        ctx.thread_count = threads
        ctx.options = {
            "preset": "ultrafast", "tune": "zerolatency", "profile": "baseline", "forced-idr": "1",
            "x264-params": (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:repeat-headers=1:"
                            f"vbv-maxrate={bitrate // 1000}:vbv-bufsize={bitrate // 2000}"),
        }
        self.ctx = ctx

    def encode(self, frame: av.VideoFrame, *, keyframe: bool) -> list[av.Packet]:
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        packets = self.ctx.encode(frame)
        frame.pict_type = av.video.frame.PictureType.NONE
        for packet in packets:
            packet.time_base = VIDEO_TIME_BASE
        return packets


class Timeline:
    """Maps a source's timestamps onto one increasing 90 kHz clock, across reconnections
    and across the switch between passthrough and our encoder (a viewer's RTP clock
    never jumps back)."""

    def __init__(self) -> None:
        self.offset: int | None = None
        self.last: int | None = None
        self._last_wall = 0.0

    def restart(self) -> None:
        self.offset = None

    def map(self, pts: int | None, time_base) -> int:
        now = time.monotonic()
        if pts is None or time_base is None:
            # No timestamp: the wall clock since the previous one.
            out = (self.last or 0) + max(1, round((now - self._last_wall) * VIDEO_CLOCK))
        else:
            ticks = round(pts * time_base * VIDEO_CLOCK)
            if self.offset is None:
                self.offset = (self.last + VIDEO_CLOCK // 25 - ticks) if self.last is not None else -ticks
            out = ticks + self.offset
            if self.last is not None and not 0 < out - self.last < 5 * VIDEO_CLOCK:
                # A jump (the camera restarted its clock, or B-frames): continue from here.
                self.offset = self.last + VIDEO_CLOCK // 25 - ticks
                out = ticks + self.offset
        self.last, self._last_wall = out, now
        return out


def nal_types(data: bytes, *, limit: int = 8) -> list[int]:
    """The NAL unit types of an Annex B buffer, up to ``limit`` of them."""
    types: list[int] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and len(types) < limit and i + 3 < len(data):
        types.append(data[i + 3] & 0x1F)
        if types[-1] in (1, 5):  # a slice: parameter sets come before it
            break
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


def annexb_parameter_sets(extradata: bytes | None) -> bytes | None:
    """SPS and PPS as Annex B (start codes), from a stream's extradata (Annex B or avcC)."""
    if not extradata:
        return None
    if extradata[0] != 1:
        return extradata  # already Annex B
    out, pos = bytearray(), 5
    try:
        for count_mask in (0x1F, 0xFF):
            count = extradata[pos] & count_mask
            pos += 1
            for _ in range(count):
                size = int.from_bytes(extradata[pos:pos + 2], "big")
                out += b"\x00\x00\x00\x01" + extradata[pos + 2:pos + 2 + size]
                pos += 2 + size
    except IndexError:
        return None
    return bytes(out) or None


def copy_frame(frame: av.VideoFrame) -> av.VideoFrame:
    """A private copy of a decoded frame: the decoder keeps its buffers as references for the
    next frames, painting them in place would corrupt what follows."""
    copy = av.VideoFrame(frame.width, frame.height, "yuv420p")
    for i in range(3):
        plane(copy, i)[:] = plane(frame, i)
    copy.pts = frame.pts
    if frame.time_base is not None:
        copy.time_base = frame.time_base
    return copy


@dataclass
class Output:
    """One encoded stream of a camera and the viewers who share it."""

    key: str
    label: str = ""
    # Media loop side.
    subscribers: set = field(default_factory=set)
    gop: list = field(default_factory=list)
    seq: int = 0
    viewer_names: tuple[str, ...] = ()
    packets_out: int = 0
    bytes_out: int = 0
    # Worker side.
    mode: str | None = None
    encoder: H264Encoder | None = None
    watermark: Watermark | None = None
    frames_encoded: int = 0
    # Written by anyone, read and cleared by the worker.
    keyframe_wanted: bool = False
    keyframe_requests: int = 0
    _last_request: float = 0.0

    def request_keyframe(self) -> None:
        """A viewer lost a picture (PLI/FIR) or fell behind: the next encoded frame is a key
        frame, at most every half second whoever asks. (Passthrough cannot force the
        camera: its viewer waits for the camera's next key frame.)"""
        now = time.monotonic()
        if now - self._last_request >= KEYFRAME_REQUEST_INTERVAL:
            self._last_request = now
            self.keyframe_wanted = True
            self.keyframe_requests += 1

    def watermark_text(self) -> str:
        names = list(self.viewer_names)
        who = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        stamp = dt.datetime.now(PARIS).strftime("%d/%m/%Y %H:%M:%S")
        return " · ".join(part for part in (self.label, who, stamp) if part)


class CameraPipeline:
    """A camera's source, its decode/mask/encode work and its outputs (see the module's doc)."""

    STARTING, LIVE, DOWN, CLOSED = "starting", "live", "down", "closed"

    def __init__(self, feed: CameraFeed, *, loop, config: PipelineSettings | None = None,
                 on_status: Callable[[int, bool, str], None] | None = None) -> None:
        self.feed = feed
        self.loop = loop
        self.config = config or PipelineSettings.from_django()
        self.on_status = on_status
        self.outputs: dict[str, Output] = {}  # media loop only
        self._snapshot: tuple[Output, ...] = ()  # what the worker iterates
        self.masks: MasksInForce = NO_MASKS
        self._blank: Blank | None = None
        self.state = self.STARTING
        self.detail = ""
        self.failures = 0
        self._reported: bool | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._retry = threading.Event()
        self._source: Source | None = None
        self._timeline = Timeline()
        self._src_gop: list[av.Packet] = []
        self._decoder: VideoCodecContext | None = None
        self._painters: dict[tuple, MaskPainter] = {}
        self._painters_for: MasksInForce | None = None
        # Media loop side: who holds the pipeline open (viewers, offers being answered), and
        # the pending close once nobody does.
        self.holds = 0
        self.linger: asyncio.TimerHandle | None = None
        # Counters (read by tests, the benchmark and the pipelines API).
        self.packets_in = 0
        self.frames_in = 0
        self.frames_decoded = 0
        self.encodes = 0
        self.timings: dict[str, list[float]] = {"decode": [0.0, 0], "mask": [0.0, 0], "encode": [0.0, 0],
                                                "watermark": [0.0, 0]}
        self.thread = threading.Thread(target=self._run, name=f"video-{feed.code}", daemon=True)

    # --- Life.

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Ask the worker to end (it does within a frame, or the source's read timeout)."""
        self._stop.set()
        self._retry.set()
        source = self._source
        if source is not None:
            source.interrupt()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the source gives pictures (True), or fails (False), at most ``timeout`` s.

        A source that is down is tried again at once rather than after its back-off: a
        viewer asking is the best reason to look again.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            failures = self.failures
            if self.state == self.DOWN:
                self._retry.set()
            while True:
                if self.state == self.LIVE:
                    return True
                if self.state == self.CLOSED or self.failures > failures:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    # --- Media loop side.

    def output(self, key: str, label: str = "") -> Output:
        out = self.outputs.get(key)
        if out is None:
            out = self.outputs[key] = Output(key=key, label=label)
            self._snapshot = tuple(self.outputs.values())
        return out

    def drop_output(self, out: Output) -> None:
        if self.outputs.get(out.key) is out and not out.subscribers:
            del self.outputs[out.key]
            self._snapshot = tuple(self.outputs.values())

    @property
    def viewers(self) -> int:
        return sum(len(out.subscribers) for out in self.outputs.values())

    def _fanout(self, out: Output, packet: av.Packet, key: bool) -> None:
        out.seq += 1
        if key:
            out.gop = [(out.seq, packet)]
        elif out.gop:
            out.gop.append((out.seq, packet))
            if len(out.gop) > MAX_GOP_PACKETS:
                out.gop = []
        out.packets_out += 1
        out.bytes_out += packet.size
        for track in tuple(out.subscribers):
            track.push(out.seq, packet, key)

    # --- Any thread.

    def set_masks(self, masks: MasksInForce) -> None:
        if masks != self.masks:
            self.masks = masks

    def stats(self) -> dict:
        def avg(name: str) -> float | None:
            total, count = self.timings[name]
            return round(total / count * 1000, 3) if count else None

        return {
            "camera": self.feed.camera_id, "code": self.feed.code, "state": self.state, "detail": self.detail,
            "source": redact(self.feed.stream_uri).split(":", 1)[0],
            "masks": len(self.masks.partners), "viewers": self.viewers,
            "packets_in": self.packets_in, "frames_in": self.frames_in,
            "frames_decoded": self.frames_decoded, "encodes": self.encodes,
            "ms": {name: avg(name) for name in self.timings},
            "outputs": [{"key": o.key, "mode": o.mode, "viewers": len(o.subscribers),
                         "frames_encoded": o.frames_encoded, "packets_out": o.packets_out,
                         "bytes_out": o.bytes_out,
                         "keyframe_requests": o.keyframe_requests} for o in list(self.outputs.values())],
        }

    # --- The worker thread.

    def _set_state(self, state: str, detail: str = "") -> None:
        with self._cond:
            self.state, self.detail = state, detail
            if state == self.DOWN:
                self.failures += 1
            self._cond.notify_all()
        online = state == self.LIVE
        if state in (self.LIVE, self.DOWN) and online is not self._reported:
            self._reported = online
            if online:
                log.info("camera %s: source live", self.feed.code)
            else:
                log.warning("camera %s: source down: %s", self.feed.code, detail)
            if self.on_status is not None:
                try:
                    self.on_status(self.feed.camera_id, online, detail)
                except Exception:  # noqa: BLE001 - a status report must not kill the pipeline
                    log.exception("camera %s: status report failed", self.feed.code)

    def _run(self) -> None:
        backoff = self.config.reconnect_min
        try:
            while not self._stop.is_set():
                try:
                    source = open_source(self.feed.stream_uri, name=self.feed.name,
                                         default_size=self.config.synthetic_size,
                                         default_fps=self.config.synthetic_fps,
                                         timeout=self.config.rtsp_timeout)
                except SourceUnavailable as exc:
                    self._set_state(self.DOWN, str(exc))
                else:
                    detail = "stopped"
                    self._source = source
                    try:
                        for item in source.read():
                            if self._stop.is_set():
                                break
                            if self.state != self.LIVE:
                                backoff = self.config.reconnect_min
                                self._set_state(self.LIVE)
                            self._ingest(item, source)
                    except SourceUnavailable as exc:
                        detail = str(exc)
                    except Exception as exc:  # noqa: BLE001 - log, then reconnect as for a lost stream
                        log.exception("camera %s: pipeline error", self.feed.code)
                        detail = f"pipeline error: {exc}"
                    finally:
                        self._source = None
                        source.close()
                        self._reset_stream()
                    if self._stop.is_set():
                        break
                    self._set_state(self.DOWN, detail)
                self._retry.wait(backoff)
                self._retry.clear()
                backoff = min(backoff * 2, self.config.reconnect_max)
        finally:
            with self._cond:
                self.state = self.CLOSED
                self._cond.notify_all()

    def _reset_stream(self) -> None:
        self._src_gop = []
        self._decoder = None
        self._timeline.restart()
        for out in self._snapshot:
            # After a reconnection everything starts again at a key frame.
            out.mode = None
            out.encoder = None

    def _emit(self, out: Output, packet: av.Packet, key: bool) -> None:
        try:
            self.loop.call_soon_threadsafe(self._fanout, out, packet, key)
        except RuntimeError:  # the loop is closed: the process is stopping
            self._stop.set()

    def _with_parameter_sets(self, packet: av.Packet, source: Source) -> av.Packet:
        """A key frame that does not carry SPS/PPS gets the stream's in front (a decoder that
        starts there needs them)."""
        data = bytes(packet)
        if 7 in nal_types(data):
            return packet
        sets = annexb_parameter_sets(source.extradata)
        if sets is None:
            return packet
        fixed = av.Packet(sets + data)
        fixed.pts, fixed.dts, fixed.time_base = packet.pts, packet.dts, packet.time_base
        return fixed

    def _ingest(self, item: av.Packet | av.VideoFrame, source: Source) -> None:
        outputs = self._snapshot
        if not source.encoded:
            assert isinstance(item, av.VideoFrame)  # Source: raw frames unless encoded
            frame = item
            self.frames_in += 1
            frame.pts = self._timeline.map(frame.pts, frame.time_base)
            frame.time_base = VIDEO_TIME_BASE
            for out in outputs:
                out.mode = TRANSCODE
            if outputs:
                self._process_frame(frame, outputs, fps=source.fps)
            return

        assert isinstance(item, av.Packet)
        packet = item
        self.packets_in += 1
        key = bool(packet.is_keyframe)
        ts = packet.dts if packet.dts is not None else packet.pts
        packet.pts = packet.dts = self._timeline.map(ts, packet.time_base)
        packet.time_base = VIDEO_TIME_BASE
        if key:
            packet = self._with_parameter_sets(packet, source)
            self._src_gop = [packet]
        elif self._src_gop:
            self._src_gop.append(packet)
            if len(self._src_gop) > MAX_GOP_PACKETS:
                self._src_gop = []
                return
        else:
            return  # no key frame since the stream (re)started: nothing can use this packet

        can_pass = source.codec_name == "h264"
        centre_masked = bool(self.masks.centre)
        transcoding = []
        for out in outputs:
            if can_pass and out.key == CENTRE and not centre_masked:
                if out.mode is None:
                    # A new output joins mid-GOP: give it the GOP so far, its viewers start at once.
                    out.mode = PASSTHROUGH
                    for i, earlier in enumerate(self._src_gop):
                        self._emit(out, earlier, i == 0)
                    continue
                if out.mode == TRANSCODE and key:
                    out.mode, out.encoder = PASSTHROUGH, None  # masks gone: relay from this key frame
                if out.mode == PASSTHROUGH:
                    self._emit(out, packet, key)
                    continue
            elif out.mode != TRANSCODE:
                out.mode, out.encoder = TRANSCODE, None
            transcoding.append(out)
        if not transcoding:
            self._decoder = None  # nothing to decode for: free it (it warms up from the GOP)
            return
        for frame in self._decode(packet, source):
            self._process_frame(copy_frame(frame), transcoding, fps=source.fps)

    def _decode(self, packet: av.Packet, source: Source) -> list[av.VideoFrame]:
        started = time.perf_counter()
        if self._decoder is None:
            decoder = av.CodecContext.create(source.codec_name, "r")
            assert isinstance(decoder, VideoCodecContext)  # a camera's codec is a video one
            if source.extradata:
                decoder.extradata = source.extradata
            decoder.thread_count = 1  # frame threads would hold frames back: latency
            self._decoder = decoder
            for earlier in self._src_gop[:-1]:  # warm up from the GOP's key frame
                try:
                    self.frames_decoded += len(decoder.decode(earlier))
                except av.FFmpegError:
                    pass
        try:
            frames = self._decoder.decode(packet)
        except av.FFmpegError as exc:
            log.debug("camera %s: undecodable packet: %s", self.feed.code, exc)
            frames = []
        self.frames_decoded += len(frames)
        self._time("decode", started)
        for frame in frames:
            if frame.pts is None:
                frame.pts = packet.pts
            frame.time_base = VIDEO_TIME_BASE
        return [f if f.format.name == "yuv420p" else f.reformat(format="yuv420p") for f in frames]

    def _time(self, name: str, started: float) -> None:
        slot = self.timings[name]
        slot[0] += time.perf_counter() - started
        slot[1] += 1

    def _painter(self, polygons: tuple, width: int, height: int) -> MaskPainter | None:
        if not polygons:
            return None
        if self._painters_for is not self.masks:
            self._painters, self._painters_for = {}, self.masks
        key = (polygons, width, height)
        painter = self._painters.get(key)
        if painter is None:
            painter = self._painters[key] = MaskPainter(polygons, width, height)
        return painter

    def _process_frame(self, frame: av.VideoFrame, outputs: tuple[Output, ...] | list[Output],
                       *, fps: float) -> None:
        masks = self.masks
        width, height = frame.width, frame.height
        centre = self._painter(masks.centre, width, height)
        if centre:
            started = time.perf_counter()
            centre.paint(frame)
            self._time("mask", started)
        partners = [o for o in outputs if o.key != CENTRE]
        for out in outputs:
            if out.key == CENTRE:
                self._encode(out, frame, fps)
        if not partners:
            return
        if masks.partners_blank:
            # A PTZ camera moving outside its presets: no one knows what its masks should hide.
            if self._blank is None or (self._blank.width, self._blank.height) != (width, height):
                self._blank = Blank(width, height, gettext("Camera moving"))
            self._blank.paint(frame)
        else:
            # Masks lifted for the centre are never lifted for a partner.
            extra = self._painter(tuple(p for p in masks.partners if p not in masks.centre), width, height)
            if extra:
                extra.paint(frame)
        for out in partners:
            started = time.perf_counter()
            if out.watermark is None or (out.watermark.width, out.watermark.height) != (width, height):
                out.watermark = Watermark(width, height)
            saved = out.watermark.stamp(frame, out.watermark_text())
            self._time("watermark", started)
            self._encode(out, frame, fps)
            out.watermark.restore(frame, saved)

    def _encode(self, out: Output, frame: av.VideoFrame, fps: float) -> None:
        started = time.perf_counter()
        force = out.keyframe_wanted
        out.keyframe_wanted = False
        encoder = out.encoder
        if encoder is None or (encoder.width, encoder.height) != (frame.width, frame.height):
            encoder = out.encoder = H264Encoder(
                width=frame.width, height=frame.height, fps=fps, bitrate=self.config.bitrate,
                keyframe_seconds=self.config.keyframe_seconds, threads=self.config.encoder_threads)
            force = True
        packets = encoder.encode(frame, keyframe=force)
        out.frames_encoded += 1
        self.encodes += 1
        self._time("encode", started)
        for packet in packets:
            self._emit(out, packet, bool(packet.is_keyframe))
