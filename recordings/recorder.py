"""The recorder: fixed-length MP4 segments of every camera set to record, indexed when closed.

An H.264 camera (``rtsp://``) is remuxed, never re-encoded (``-c copy``): a segment is
cut at the first keyframe after its length. The test pattern (``synthetic:``) gives raw
pictures, encoded once to H.264 here. A segment is written under a ``.part`` name,
closed, hashed, renamed, then indexed: an index row always names a complete file, and a
crash leaves at most a ``.part`` file, never a row without its file. The time the source
was down is indexed as a gap. When the disk is (nearly) full the recorder stops, raises
a ``camera.status`` alarm, and indexes nothing half-written.

With the recordings on an object store (``HUB_RECORDINGS_STORAGE=s3``) the closed file is
uploaded, then indexed (``recordings.objects``); while the store is down it stays on the
local disk, the buffer, and is uploaded once the store answers again.
"""

from __future__ import annotations

import datetime as dt
import errno
import fractions
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from cameras.models import Camera
from recordings.models import RecordingPlan, RecordingSegment
from recordings.objects import pending_segments, pending_upload, segment_upload
from recordings.storage import recording_store
from streaming.sources import Source, SourceUnavailable, open_source

log = logging.getLogger(__name__)


class StorageFull(Exception):
    """The recordings' disk has less free space than ``HUB_RECORDING_MIN_FREE_BYTES``."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def segment_index(*, camera: Camera, start: dt.datetime, end: dt.datetime, path: Path) -> RecordingSegment:
    """Index a closed segment file (under ``HUB_RECORDINGS_DIR``) with its size and SHA-256."""
    root = Path(settings.HUB_RECORDINGS_DIR)
    return RecordingSegment.objects.create(camera=camera, start=start, end=end, size=path.stat().st_size,
                                           sha256=file_sha256(path), path=str(path.relative_to(root)))


# Between two segments of one recorder there may be a hole of a frame or so (a segment starts at
# the wall clock of its first picture, the previous one ends after its pictures' duration):
# a hole shorter than this between two recorders is not worth a gap row either.
HANDOVER_SLACK = dt.timedelta(seconds=1)


def gap_before(segment: RecordingSegment) -> RecordingSegment | None:
    """Index as a gap the time between the camera's previous segment (or gap) and ``segment``, the
    first one a recorder node wrote after it took the camera: what the previous node was writing
    when it died was never closed, so never indexed. Nothing before: the camera was never recorded.
    ``segment`` may be one buffered while the store is down (not indexed yet, no ``pk``); the
    segments buffered before it count as recorded."""
    from django.db.models import Max

    indexed = RecordingSegment.objects.filter(camera_id=segment.camera_id, start__lt=segment.start)
    if segment.pk is not None:
        indexed = indexed.exclude(pk=segment.pk)
    ends = [indexed.aggregate(end=Max("end"))["end"]]
    ends += [end for start, end in pending_segments(segment.camera) if start < segment.start]
    last = max((end for end in ends if end is not None), default=None)
    if last is None or segment.start - last <= HANDOVER_SLACK:
        return None
    return gap_index(camera=segment.camera, start=last, end=segment.start)


def gap_index(*, camera: Camera, start: dt.datetime, end: dt.datetime) -> RecordingSegment | None:
    """Index the time nothing was recorded (source down)."""
    if end <= start:
        return None
    return RecordingSegment.objects.create(camera=camera, start=start, end=end, is_gap=True)


def recorded_cameras():
    """Cameras set to record: an enabled plan, or listed in ``HUB_RECORDING_CAMERAS``."""
    from django.db.models import Q

    codes = list(getattr(settings, "HUB_RECORDING_CAMERAS", []))
    plans = RecordingPlan.objects.filter(enabled=True).values("camera")
    return Camera.objects.filter(Q(pk__in=plans) | Q(code__in=codes)).exclude(stream_uri="")


def check_free_space(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < settings.HUB_RECORDING_MIN_FREE_BYTES:
        raise StorageFull(f"{free} bytes free on the recordings' disk")


class _Segment:
    """One MP4 being written (``.part`` until closed)."""

    def __init__(self, *, camera: Camera, source: Source, start: dt.datetime) -> None:
        root = Path(settings.HUB_RECORDINGS_DIR)
        check_free_space(root)
        self.camera, self.start = camera, start
        self.final = root / camera.code / f"{start:%Y%m%d}" / f"{start:%Y%m%dT%H%M%S%fZ}.mp4"
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.part = self.final.with_name(self.final.name + ".part")
        self.container = av.open(str(self.part), "w", format="mp4")
        self.first_pts: int | None = None
        self.seconds = 0.0
        template = getattr(source, "stream", None)
        if source.encoded and template is not None:
            self.stream = self.container.add_stream_from_template(template)
            self.encoder = False
        else:
            self.stream = self.container.add_stream("libx264", rate=round(source.fps))
            self.stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
            self.stream.pix_fmt = "yuv420p"
            gop = round(source.fps * settings.HUB_VIDEO_KEYFRAME_SECONDS)
            self.stream.codec_context.gop_size = max(1, gop)
            self.encoder = True
            self.frames = 0
            self.fps = max(1, round(source.fps))

    def write(self, item) -> None:
        if self.encoder:
            if self.frames == 0:
                self.stream.width, self.stream.height = item.width, item.height
            frame = item.reformat(format="yuv420p") if item.format.name != "yuv420p" else item
            frame.pts, frame.time_base = self.frames, fractions.Fraction(1, self.fps)
            self.frames += 1
            self.seconds = self.frames / self.fps
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            return
        packet = item
        if packet.pts is None or packet.dts is None:
            return
        if self.first_pts is None:
            self.first_pts = packet.dts
        packet.pts -= self.first_pts
        packet.dts -= self.first_pts
        self.seconds = float(packet.pts * packet.time_base)
        packet.stream = self.stream
        self.container.mux(packet)

    def close(self) -> Path:
        if self.encoder:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        self.container.close()
        self.part.rename(self.final)
        return self.final

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a broken file is removed anyway
            pass
        self.part.unlink(missing_ok=True)


def _is_keyframe(item, source: Source) -> bool:
    return not source.encoded or bool(getattr(item, "is_keyframe", False))


def record_camera(*, camera: Camera, stop: threading.Event, segment_seconds: float | None = None,
                  opener: Callable[[], Source] | None = None, reconnect_seconds: float = 1.0,
                  on_segment: Callable[[RecordingSegment], None] | None = None) -> str:
    """Record ``camera`` until ``stop`` is set or the disk is full. Returns why it stopped.
    ``on_segment`` is given each closed segment: indexed, or buffered (unsaved) while the object
    store is down."""
    from streaming.services import camera_status_set

    seconds = segment_seconds or settings.HUB_RECORDING_SEGMENT_SECONDS
    opener = opener or (lambda: open_source(
        camera.stream_uri, name=camera.name, default_size=settings.HUB_VIDEO_SYNTHETIC_SIZE,
        default_fps=settings.HUB_VIDEO_SYNTHETIC_FPS, timeout=settings.HUB_VIDEO_RTSP_TIMEOUT_SECONDS))
    down_since: dt.datetime | None = None
    # The end of the last segment closed: the next one never starts before it (see below).
    last_end: dt.datetime | None = None
    while not stop.is_set():
        segment: _Segment | None = None
        source: Source | None = None
        try:
            source = opener()
            if down_since is not None:
                gap_index(camera=camera, start=down_since, end=timezone.now())
                down_since = None
                _release_connection()
            for item in source.read():
                # A segment starts at the wall clock of its first picture's arrival, read before
                # the previous segment is closed: closing it (hashing, uploading a minute of video
                # to the object store) takes a variable time, which would otherwise shift this
                # segment's start, and every picture time derived from it, later than the
                # pictures, into the next segment's time.
                arrived = timezone.now()
                if stop.is_set():
                    break
                if segment is not None and segment.seconds >= seconds and _is_keyframe(item, source):
                    closed = _close(segment, camera)
                    last_end = closed.end
                    segment = None
                    if on_segment:
                        on_segment(closed)
                    _release_connection()
                    if stop.is_set():
                        break
                if segment is None:
                    if not _is_keyframe(item, source):
                        continue
                    # A first picture that reached us later than the previous segment's (a busy
                    # machine) must not make the two segments overlap: the index says one camera
                    # is recorded once at a time, and an extraction orders pictures by their time.
                    start = arrived if last_end is None else max(arrived, last_end)
                    segment = _Segment(camera=camera, source=source, start=start)
                segment.write(item)
            if segment is not None:
                closed = _close(segment, camera)
                last_end = closed.end
                segment = None
                if on_segment:
                    on_segment(closed)
        except StorageFull as exc:
            return _storage_full(camera, segment, str(exc), camera_status_set)
        except OSError as exc:
            if exc.errno in {errno.ENOSPC, errno.EDQUOT}:
                return _storage_full(camera, segment, str(exc), camera_status_set)
            raise
        except (SourceUnavailable, av.FFmpegError) as exc:
            log.warning("recorder %s: %s", camera.code, exc)
            if segment is not None:
                # What was recorded up to the loss is kept: close it cleanly (or drop it whole).
                closed = None
                try:
                    closed = _close(segment, camera)
                except Exception:  # noqa: BLE001 - a segment that cannot be closed is not indexed
                    segment.abort()
                segment = None
                if closed is not None:
                    last_end = closed.end
                    if on_segment:
                        on_segment(closed)
            down_since = down_since or timezone.now()
            stop.wait(reconnect_seconds)
        finally:
            if source is not None:
                source.close()
            _release_connection()
    return "stopped"


def _release_connection() -> None:
    """Give this thread's database connection back between segments: a recorder thread
    writes one row a minute and must not hold one of the pool's connections meanwhile (a
    process recording more cameras than ``DB_POOL_MAX`` would otherwise starve: each thread
    past the pool's size died of PoolTimeout). Inside a transaction (a test's), kept."""
    if not connection.in_atomic_block:
        connection.close()


def _close(segment: _Segment, camera: Camera) -> RecordingSegment:
    """Close, then index the segment (local store), or upload and index it (object store). A
    segment the object store could not take is buffered: returned unsaved (no ``pk``)."""
    path = segment.close()
    end = segment.start + dt.timedelta(seconds=max(segment.seconds, 0.001))
    if recording_store().kind == "local":
        return segment_index(camera=camera, start=segment.start, end=end, path=path)
    size, sha256 = path.stat().st_size, file_sha256(path)
    indexed = segment_upload(camera=camera, start=segment.start, end=end, path=path, size=size, sha256=sha256)
    if indexed is not None:
        return indexed
    return RecordingSegment(camera=camera, start=segment.start, end=end, size=size, sha256=sha256,
                            path=str(path.relative_to(Path(settings.HUB_RECORDINGS_DIR))))


def _storage_full(camera: Camera, segment: _Segment | None, detail: str, camera_status_set) -> str:
    if segment is not None:
        segment.abort()  # half a segment is never indexed
    log.error("recorder %s: storage full (%s), stopping", camera.code, detail)
    camera_status_set(camera_id=camera.pk, online=False,
                      detail=f"Enregistrement arrêté : stockage plein ({detail})")
    return "storage_full"


def run_recorders(*, stop: threading.Event) -> None:
    """One recording thread per camera set to record (the ``record`` command); every pass, the
    segments buffered while the object store was down are uploaded."""
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        close_old_connections()
        if recording_store().kind != "local":
            pending_upload()
        for camera in recorded_cameras():
            thread = threads.get(camera.pk)
            if thread is None or not thread.is_alive():
                threads[camera.pk] = recorder_thread(camera, stop)
        stop.wait(10)
    for thread in threads.values():
        thread.join(10)


def recorder_thread(camera: Camera, stop: threading.Event,
                    on_segment: Callable[[RecordingSegment], None] | None = None) -> threading.Thread:
    """A started thread recording ``camera`` until ``stop`` is set (the nodes give each camera its own)."""
    thread = threading.Thread(target=_thread_main, args=(camera, stop, on_segment),
                              name=f"recorder-{camera.code}", daemon=True)
    thread.start()
    return thread


def node_recorder_thread(camera: Camera, stop: threading.Event) -> threading.Thread:
    """A recorder node's thread for a camera it just took (``streaming.nodes`` starts it): once its
    first segment is indexed, the hole before it (since the last segment another node, or this one
    before, indexed) is indexed as a gap: after a node died, the segment it was writing; after a
    camera was given back, the seconds until it was taken."""
    first = [True]

    def on_segment(segment: RecordingSegment) -> None:
        if first[0]:
            first[0] = False
            gap_before(segment)
    return recorder_thread(camera, stop, on_segment)


def _thread_main(camera: Camera, stop: threading.Event,
                 on_segment: Callable[[RecordingSegment], None] | None = None) -> None:
    try:
        reason = record_camera(camera=camera, stop=stop, on_segment=on_segment)
        if reason == "storage_full":
            stop.wait(60)  # do not hammer a full disk; try again later
    except Exception:  # noqa: BLE001 - one camera must not stop the others
        log.exception("recorder %s crashed", camera.code)
        time.sleep(5)
    finally:
        close_old_connections()
