"""Video sources: what a camera's pipeline reads (docs/video.md).

Two kinds, chosen by the camera's ``stream_uri``:

- ``rtsp://`` (and ``rtsps://``): the camera itself, read with PyAV over TCP
  (``rtsp_transport=tcp``: no lost UDP packets, one connection through firewalls).
  It gives *encoded* packets, so that an unmasked H.264 camera is relayed without
  being decoded (passthrough).
- ``synthetic:`` (or ``synthetic:640x360@15``): a test pattern drawn here, for the demo
  and the tests. It fills the whole frame with bright colour bars and gradients (no
  black area: a black pixel on screen is a privacy mask, nothing else), with the
  camera's name and the time, and a 32-bit barcode of the capture time in
  milliseconds along the bottom (the benchmark reads it back in the browser to
  measure the delay from source to screen). It gives *raw* frames.

A source is opened by the pipeline's worker thread and read there: every call here
blocks, none may run on an event loop.
"""

from __future__ import annotations

import datetime as dt
import fractions
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import av
import numpy as np

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
PARIS = ZoneInfo("Europe/Paris")

# Luma of the barcode's bits: both bright (a 0 is grey, not black).
BAR_ONE, BAR_ZERO = 235, 110
BAR_BITS = 32


class SourceUnavailable(Exception):
    """The camera's stream could not be opened or was lost."""


class Source(Protocol):
    #: True: ``read`` yields ``av.Packet`` (encoded, ``codec_name``); False: ``av.VideoFrame``.
    encoded: bool
    codec_name: str
    extradata: bytes | None

    fps: float

    def read(self) -> Iterator[av.Packet | av.VideoFrame]: ...

    def interrupt(self) -> None:
        """Ask ``read`` to end soon (from any thread)."""

    def close(self) -> None:
        """Release the source (from the thread that reads it)."""


def redact(uri: str) -> str:
    """The URI without its credentials (``rtsp://user:pass@host`` must never reach a log or an event)."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))
    return uri


@dataclass(frozen=True)
class SyntheticSpec:
    width: int
    height: int
    fps: int


def synthetic_spec(uri: str, *, default_size: str, default_fps: int) -> SyntheticSpec:
    """``synthetic:`` → the default size; ``synthetic:640x360@15`` → that size and rate."""
    rest = uri.split(":", 1)[1] if ":" in uri else ""
    match = re.fullmatch(r"(?:(\d+)x(\d+))?(?:@(\d+))?", rest.strip())
    size = default_size
    fps = default_fps
    if match and match.group(1):
        size = f"{match.group(1)}x{match.group(2)}"
    if match and match.group(3):
        fps = int(match.group(3))
    width, height = (int(v) for v in size.lower().split("x"))
    # yuv420p: even sides; bounded so that a typo cannot ask for a gigapixel frame.
    width, height = max(64, min(3840, width - width % 2)), max(64, min(2160, height - height % 2))
    return SyntheticSpec(width=width, height=height, fps=max(1, min(60, fps)))


def _pattern_rgb(width: int, height: int) -> np.ndarray:
    """Colour bars over two thirds of the frame, a rainbow gradient below: every pixel bright."""
    rgb = np.empty((height, width, 3), np.uint8)
    bars = np.array([(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0),
                     (255, 0, 255), (255, 0, 0), (0, 96, 255)], np.uint8)
    split = height * 2 // 3
    columns = (np.arange(width) * len(bars) // width).clip(0, len(bars) - 1)
    rgb[:split] = bars[columns][None, :, :]
    # Hue sweep at full value: max(R, G, B) is 255 everywhere.
    hue = np.linspace(0, 6, width, endpoint=False)
    sector = hue.astype(int) % 6
    frac = hue - np.floor(hue)
    up, down = (frac * 255).astype(np.uint8), ((1 - frac) * 255).astype(np.uint8)
    full, zero = np.full(width, 255, np.uint8), np.zeros(width, np.uint8)
    table = {0: (full, up, zero), 1: (down, full, zero), 2: (zero, full, up),
             3: (zero, down, full), 4: (up, zero, full), 5: (full, zero, down)}
    row = np.empty((width, 3), np.uint8)
    for s, (r, g, b) in table.items():
        sel = sector == s
        row[sel, 0], row[sel, 1], row[sel, 2] = r[sel], g[sel], b[sel]
    rgb[split:] = row[None, :, :]
    return rgb


def plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A writable (rows, width) view of one plane of a frame (no copy)."""
    p = frame.planes[index]
    rows = np.frombuffer(memoryview(p), np.uint8).reshape(p.height, p.line_size)  # see masking._flat
    return rows[:, : p.width]


def barcode_geometry(width: int, height: int) -> tuple[int, int, int]:
    """``(block, x0, y0)`` of the capture-time barcode: 32 square blocks along the bottom."""
    block = max(4, min(width // (BAR_BITS + 4), height // 16)) // 2 * 2
    return block, block, height - 2 * block


class SyntheticSource:
    """The test pattern, paced in real time (``fps``), with the camera's name and the time."""

    encoded = False
    codec_name = "rawvideo"
    extradata: bytes | None = None
    fps: float

    def __init__(self, *, name: str, width: int, height: int, fps: int) -> None:
        from streaming.masking import load_font

        self.name, self.width, self.height, self.fps = name, width, height, fps
        base = av.VideoFrame.from_ndarray(_pattern_rgb(width, height), format="rgb24").reformat(
            format="yuv420p")
        self._base = [plane(base, i).copy() for i in range(3)]
        self._font = load_font(max(8, height // 24))
        self._text_height = max(14, height // 12) // 2 * 2
        self._closed = threading.Event()
        self.frames = 0

    def _draw_text(self, frame: av.VideoFrame, text: str) -> None:
        from PIL import Image, ImageDraw

        h = self._text_height
        w = min(self.width, int(self._font.getlength(text)) + h // 2 + 2) // 2 * 2
        canvas = Image.new("L", (w, h), 0)
        ImageDraw.Draw(canvas).text((h // 4, h // 8), text, fill=255, font=self._font)
        glyphs = np.asarray(canvas) > 127
        y, u, v = plane(frame, 0), plane(frame, 1), plane(frame, 2)
        # A mid-grey box (not black) with white text, top left.
        y[:h, :w] = np.where(glyphs, 235, 96)
        u[: h // 2, : w // 2] = 128
        v[: h // 2, : w // 2] = 128

    def _draw_barcode(self, frame: av.VideoFrame, value: int) -> None:
        block, x0, y0 = barcode_geometry(self.width, self.height)
        y, u, v = plane(frame, 0), plane(frame, 1), plane(frame, 2)
        for bit in range(BAR_BITS):
            x = x0 + bit * block
            y[y0:y0 + block, x:x + block] = BAR_ONE if value >> (BAR_BITS - 1 - bit) & 1 else BAR_ZERO
        u[y0 // 2:(y0 + block) // 2, x0 // 2:(x0 + BAR_BITS * block) // 2] = 128
        v[y0 // 2:(y0 + block) // 2, x0 // 2:(x0 + BAR_BITS * block) // 2] = 128

    def frame_at(self, wall: float, index: int) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for i in range(3):
            plane(frame, i)[:] = self._base[i]
        # Something moves: a white band sweeping the gradient (an encoder sees real motion).
        y = plane(frame, 0)
        band = max(2, self.width // 40)
        x = (index * max(1, self.width // (self.fps * 4))) % (self.width - band)
        y[self.height * 2 // 3:, x:x + band] = 235
        stamp = dt.datetime.fromtimestamp(wall, PARIS)
        self._draw_text(frame, f"{self.name}  {stamp:%d/%m/%Y %H:%M:%S}.{stamp.microsecond // 1000:03d}")
        self._draw_barcode(frame, int(wall * 1000) & 0xFFFFFFFF)
        return frame

    def read(self) -> Iterator[av.VideoFrame]:
        period = 1.0 / self.fps
        start = next_at = time.monotonic()
        while not self._closed.is_set():
            now = time.monotonic()
            if next_at > now:
                if self._closed.wait(next_at - now):
                    break
            elif now - next_at > 1.0:
                next_at = now  # far behind (a stalled machine): do not burst to catch up
            frame = self.frame_at(time.time(), self.frames)
            frame.pts = round((next_at - start) * VIDEO_CLOCK)
            frame.time_base = VIDEO_TIME_BASE
            self.frames += 1
            next_at += period
            yield frame

    def interrupt(self) -> None:
        self._closed.set()

    def close(self) -> None:
        self._closed.set()


class RtspSource:
    """A camera's RTSP stream, over TCP, demuxed by PyAV (packets are not decoded here)."""

    encoded = True

    def __init__(self, uri: str, *, timeout: float) -> None:
        self.uri = uri
        options = {
            "rtsp_transport": "tcp",
            "timeout": str(int(timeout * 1_000_000)),  # socket I/O, microseconds
            # Start at once: no probing of a second of stream before the first packet.
            "analyzeduration": "0",
            "probesize": "32768",
            "fflags": "nobuffer",
        }
        try:
            self.container = av.open(uri, options=options, timeout=(timeout, timeout))
        except (av.FFmpegError, OSError) as exc:
            raise SourceUnavailable(f"cannot open {redact(uri)}: {exc}") from exc
        videos = self.container.streams.video
        if not videos:
            self.container.close()
            raise SourceUnavailable(f"{redact(uri)} has no video stream")
        self.stream = videos[0]
        self.codec_name = self.stream.codec_context.name
        self.extradata = self.stream.codec_context.extradata
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else 25.0
        self._closed = False

    def read(self) -> Iterator[av.Packet]:
        try:
            for packet in self.container.demux(self.stream):
                if self._closed:
                    return
                if packet.size:
                    yield packet
        except (av.FFmpegError, OSError) as exc:
            raise SourceUnavailable(f"{redact(self.uri)} lost: {exc}") from exc
        if not self._closed:
            raise SourceUnavailable(f"{redact(self.uri)} ended")

    def interrupt(self) -> None:
        # Only a flag: the container belongs to the reading thread (PyAV is not thread-safe);
        # a stalled read ends by the open/read timeout.
        self._closed = True

    def close(self) -> None:
        self._closed = True
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - closing a broken stream must not raise
            pass


def open_source(uri: str, *, name: str, default_size: str, default_fps: int, timeout: float) -> Source:
    """Open the source a camera's ``stream_uri`` names (blocking; raises SourceUnavailable)."""
    scheme = uri.split(":", 1)[0].lower() if ":" in uri else ""
    if scheme == "synthetic":
        spec = synthetic_spec(uri, default_size=default_size, default_fps=default_fps)
        return SyntheticSource(name=name, width=spec.width, height=spec.height, fps=spec.fps)
    if scheme in {"rtsp", "rtsps"}:
        return RtspSource(uri, timeout=timeout)
    raise SourceUnavailable(f"unsupported stream URI scheme {scheme!r}")


def read_barcode(luma: np.ndarray) -> int:
    """The capture time (ms, modulo 2**32) a synthetic frame carries, from its luma plane."""
    height, width = luma.shape
    block, x0, y0 = barcode_geometry(width, height)
    value = 0
    for bit in range(BAR_BITS):
        cx, cy = x0 + bit * block + block // 2, y0 + block // 2
        value = value << 1 | int(luma[cy, cx] > (BAR_ONE + BAR_ZERO) / 2)
    return value
