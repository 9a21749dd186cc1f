"""Extractions for judicial requisitions: the window cut from the held segments, an MP4 per
camera, its SHA-256, and a manifest signed with the hub's Ed25519 key (verifiable offline
with ``python manage.py verify_export <dir>``).

A camera without privacy masks is remuxed (no re-encoding, the source's H.264 packets as
they were recorded): the cut starts at the keyframe at or before the window's start, so the
file may begin up to one GOP early, and ends before the first picture at or after the
window's end. The camera's name, code and the recorded local time are given by a timed-text
track in the same MP4 (``mov_text``, French, default: players show it over the picture), one
cue per recorded second, since drawing them into the pixels would need a re-encode.

A camera with privacy masks is re-encoded (``_cut_masked``): the masks painted black, the
camera's name and the local time burned into the picture, cut at the exact frame.

The segments are read from the recordings' store (``recordings.storage``: a directory, or an
S3 bucket by ranged reads, never a whole download first); the export itself is written to
``HUB_EXPORTS_DIR``, where ``verify_export`` checks it.

A worker killed mid-way leaves only ``<dir>.part``; the task (acks late) runs again, starts
that directory afresh, and renames it into place once complete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cameras.models import Camera
from cameras.selectors import valid_authorisations
from partners.audit import Action, audit
from recordings.manifest import FORMAT, OVERLAY_FORMAT, manifest_write
from recordings.models import REQUISITION_JOURNAL_TYPE, RecordingSegment, Requisition, RequisitionStatus
from recordings.recorder import file_sha256
from recordings.storage import ExportFiles, StoreUnavailable, exports_store, recording_store
from streaming.masking import camera_masks

CAPTION_FORMAT = "{name} ({code}) {time:%Y-%m-%d %H:%M:%S %z}"
CAPTION_LANGUAGE = "fra"
# The style ffmpeg's mov_text encoder turns into the track's sample description (tx3g): white
# on a half-transparent black box; the encoder always justifies it bottom centre. Its font size
# is scaled from PlayResY to the video's height (the encoder's ``height`` option): 1/26 of it, as
# the masked extractions' burned-in line.
_CAPTION_STYLE = """[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, \
Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,DejaVu Sans,11,&H00FFFFFF,&H00FFFFFF,&H00000000,&H60000000,0,0,0,0,100,100,0,0,3,1,0,\
2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


class _Captions:
    """A timed-text track (MP4 ``mov_text``) beside a remuxed video: one cue per recorded second,
    ``text(second)``, shown from the first picture of that second until the first picture of a
    later one (so across a gap, the last picture's time stays on screen with it).

    Times are the pictures' recorded wall-clock times, as ``_cut`` computes them; the cue track's
    clock is the output's (0 = the first picture). With B-frames a cue may change a frame or two
    off the second, never showing a time that is not a recorded picture's.

    A cue is muxed once the next one starts (its length is known then), so ``output`` must hold
    the video back until the next cue arrives (``max_interleave_delta`` 0): the MP4 muxer ends a
    caption with an empty sample as soon as it writes a video packet it takes to be later than
    the caption's end. It compares the two without converting their units, hence a caption time
    base at least as fine as the video's: a caption still running never looks ended.
    """

    def __init__(self, output: av.container.OutputContainer, *, video: av.video.stream.VideoStream,
                 text: Callable[[dt.datetime], str]) -> None:
        height = video.codec_context.height
        self.stream = output.add_stream("mov_text", options={"height": str(height)} if height else None)
        self.stream.codec_context.subtitle_header = _CAPTION_STYLE.encode()
        assert video.time_base is not None
        self.rate = max(90_000, video.time_base.denominator)
        self.time_base = Fraction(1, self.rate)
        self.stream.codec_context.time_base = self.time_base
        self.stream.time_base = self.time_base
        self.stream.metadata["language"] = CAPTION_LANGUAGE
        self.stream.disposition = av.stream.Disposition.default
        self.output, self.text = output, text
        self.origin: dt.datetime | None = None
        self.second: dt.datetime | None = None
        self.cue_start = 0
        self.last_end: dt.datetime | None = None
        self.cues = 0

    def _ticks(self, at: dt.datetime) -> int:
        assert self.origin is not None
        return max(0, round((at - self.origin).total_seconds() * self.rate))

    def picture(self, at: dt.datetime, seconds: float) -> None:
        """A picture recorded at ``at``, shown for ``seconds``, was muxed (in decode order).
        Called for every picture (90 000 an hour): only a new second costs more than compares."""
        if self.origin is None:
            self.origin = at
        second = at.replace(microsecond=0)
        if self.second is None or second > self.second:
            ticks = self._ticks(at)
            self._flush(until=ticks)
            self.second, self.cue_start = second, ticks
        end = at + dt.timedelta(seconds=seconds)
        if self.last_end is None or end > self.last_end:
            self.last_end = end

    def close(self) -> int:
        """Write the last cue (until the end of the last picture); returns how many cues."""
        if self.last_end is not None:
            self._flush(until=self._ticks(self.last_end))
        return self.cues

    def _flush(self, *, until: int) -> None:
        if self.second is None:
            return
        payload = self.text(self.second).encode()
        # A mov_text sample: the text's length (16 bits, big-endian), then the UTF-8 text.
        packet = av.Packet(struct.pack(">H", len(payload)) + payload)
        packet.pts = packet.dts = self.cue_start
        packet.duration = max(1, until - self.cue_start)
        packet.time_base = self.time_base
        packet.stream = self.stream
        self.output.mux(packet)
        self.cues += 1
        self.second = None


def _caption(camera: Camera) -> Callable[[dt.datetime], str]:
    def text(second: dt.datetime) -> str:
        return CAPTION_FORMAT.format(name=camera.name, code=camera.code, time=timezone.localtime(second))
    return text


def _opened(segments: list[RecordingSegment], on_segment=None):
    """Each segment's file open, with its video stream: ``(segment, container, stream)``;
    ``on_segment(done, total)`` is called before each one after the first (progress)."""
    store = recording_store()
    for done, segment in enumerate(segments):
        if on_segment is not None and done:
            on_segment(done, len(segments))
        # From the recordings' store by ranged reads: the MP4's index, then the packets as the
        # demuxer asks for them; a cut that ends in the segment reads no further.
        with contextlib.closing(store.open(segment.path)) as handle, av.open(handle, "r") as container:
            yield segment, container, container.streams.video[0]


def _cut(*, segments: list[RecordingSegment], start: dt.datetime, end: dt.datetime, out_path: Path,
         camera: Camera, on_segment=None) -> tuple[int, int]:
    """Remux the pictures of ``segments`` in [start, end) into ``out_path``, with a caption track
    (``_Captions``) naming ``camera`` and giving each second's recorded local time.
    Returns how many video packets and how many cues were written.
    ``on_segment(done, total)`` is called after each source segment (progress)."""
    written = 0
    output = av.open(str(out_path), "w", format="mp4", container_options={"max_interleave_delta": "0"})
    out_stream = None
    captions: _Captions | None = None
    origin: dt.datetime | None = None
    last_dts: int | None = None
    try:
        for segment, container, stream in _opened(segments, on_segment):
            if out_stream is None:
                out_stream = output.add_stream_from_template(stream)
                captions = _Captions(output, video=stream, text=_caption(camera))
            tick = float(stream.time_base or 0)
            pending: list[tuple[av.Packet, dt.datetime]] = []
            for packet in container.demux(stream):
                if packet.pts is None or packet.dts is None or not packet.size:
                    continue
                at = segment.start + dt.timedelta(seconds=float(packet.pts * packet.time_base))
                if at >= end:
                    break
                if origin is None:
                    # Before the window: keep from the last keyframe only (a cut must start on one).
                    if packet.is_keyframe:
                        pending = []
                    pending.append((packet, at))
                    if at < start or not pending[0][0].is_keyframe:
                        continue
                    origin = pending[0][1]
                else:
                    pending = [(packet, at)]
                for item, item_at in pending:
                    shown = (item.duration or 0) * tick
                    shift = round((segment.start - origin).total_seconds() / item.time_base)
                    item.pts += shift
                    item.dts += shift
                    if last_dts is not None and item.dts <= last_dts:
                        item.dts = last_dts + 1
                        item.pts = max(item.pts, item.dts)
                    last_dts = item.dts
                    item.stream = out_stream
                    output.mux(item)
                    written += 1
                    assert captions is not None
                    captions.picture(item_at, shown)
                pending = []
        cues = captions.close() if captions is not None and written else 0
    finally:
        output.close()
    return written, cues


_MS = Fraction(1, 1000)


def _cut_masked(*, segments: list[RecordingSegment], start: dt.datetime, end: dt.datetime, out_path: Path,
                camera: Camera, polygons: list, on_segment=None) -> int:
    """Decode the pictures of ``segments`` in [start, end), black out ``polygons`` (streaming.masking),
    burn in the camera's name and the local time, encode with libx264 into ``out_path``.
    Returns how many frames were written. What is under a mask never reaches the encoder."""
    from streaming.masking import MaskPainter, Watermark

    written = 0
    output = av.open(str(out_path), "w", format="mp4")
    out_stream = None
    painter: MaskPainter | None = None
    watermark: Watermark | None = None
    last_ms = -1
    try:
        for segment, container, stream in _opened(segments, on_segment):
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                at = segment.start + dt.timedelta(seconds=float(frame.pts * stream.time_base))
                if at >= end:
                    break
                if at < start:
                    continue
                ms = round((at - start).total_seconds() * 1000)
                if ms <= last_ms:
                    ms = last_ms + 1
                last_ms = ms
                picture = frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")
                width, height = picture.width // 2 * 2, picture.height // 2 * 2
                if out_stream is None:
                    out_stream = output.add_stream("libx264", rate=stream.average_rate or 25)
                    out_stream.width, out_stream.height, out_stream.pix_fmt = width, height, "yuv420p"
                    out_stream.time_base = _MS
                    out_stream.codec_context.time_base = _MS
                    out_stream.options = {"preset": "veryfast", "crf": "20"}
                    # x264's frame threads: PyAV's default (slice threads) kept 1.3 of 2 cores busy,
                    # these 1.8 (a minute of 720p: 12.1 s → 8.9 s; docs/performance.md).
                    out_stream.codec_context.thread_type = "AUTO"
                    painter = MaskPainter(polygons, picture.width, picture.height)
                    watermark = Watermark(picture.width, picture.height)
                assert painter is not None and watermark is not None  # made with out_stream
                if (picture.width, picture.height) != (painter.width, painter.height):
                    picture = picture.reformat(width=painter.width, height=painter.height)
                painter.paint(picture)
                text = OVERLAY_FORMAT.format(name=camera.name, time=timezone.localtime(at))
                watermark.stamp(picture, text)
                if (width, height) != (picture.width, picture.height):
                    picture = picture.reformat(width=width, height=height)
                picture.pts, picture.time_base = ms, _MS
                for packet in out_stream.encode(picture):
                    output.mux(packet)
                written += 1
        if out_stream is not None:
            for packet in out_stream.encode():
                output.mux(packet)
    finally:
        output.close()
    return written


# How the extraction tells its progress (``status``, ``progress``, ``error``, ``export_dir``): the
# caller saves it and announces it (``recordings.requisitions.requisition_progress_report``).
ProgressReport = Callable[..., object]


class _Progress:
    """Reports an extraction's progress only when the percent moves (an hour of one camera:
    ~60 segments)."""

    def __init__(self, report: ProgressReport, published: int) -> None:
        self.report, self.published = report, published

    def advance(self, percent: int) -> None:
        if percent > self.published:
            self.published = percent
            self.report(progress=percent)


def requisition_extract(*, requisition_id: int, report: ProgressReport) -> Path | None:
    """Extract a requisition's window (idempotent, re-runnable), telling ``report`` every change of
    its state (``recordings.requisitions.requisition_extract`` is the Celery task's body).

    Returns the export directory (``s3`` mode: its ``export_dir``, ``store:<prefix>``, the files
    being in the object store), or None when nothing could be extracted (``error`` says why).
    """
    requisition = Requisition.objects.select_related("created_by").get(pk=requisition_id)
    if requisition.export_destroyed_at is not None:
        # Destroyed under the retention rule: a late redelivery of the task must not make a new
        # copy the sweep would no longer look at.
        return None
    if requisition.status == RequisitionStatus.DONE and requisition.export_dir and \
            ExportFiles(requisition.export_dir).present():
        return Path(requisition.export_dir)
    report(status=RequisitionStatus.RUNNING, progress=0, error="")
    reporter = _Progress(report, published=0)
    final = Path(settings.HUB_EXPORTS_DIR) / f"requisition-{requisition.pk}"
    work = final.with_name(final.name + ".part")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cameras = list(requisition.cameras.order_by("code"))
    day = timezone.localdate(requisition.window_start)
    entries, files = [], 0
    for index, camera in enumerate(cameras):
        entry: dict = {"code": camera.code, "name": camera.name,
                       "authorisations": list(valid_authorisations(day).filter(cameras=camera)
                                              .values_list("order_number", flat=True)),
                       "masks_applied": []}
        segments = list(RecordingSegment.objects.filter(
            camera=camera, is_gap=False, start__lt=requisition.window_end,
            end__gt=requisition.window_start).order_by("start"))
        gaps = RecordingSegment.objects.filter(camera=camera, is_gap=True, start__lt=requisition.window_end,
                                               end__gt=requisition.window_start).order_by("start")
        entry["gaps"] = [[g.start.isoformat(), g.end.isoformat()] for g in gaps]
        masks = camera_masks(camera)
        if not segments:
            entry["not_extracted"] = _("no recording in the window")
        else:
            name = f"{camera.code}.mp4"
            def progress(done, total, index=index):
                reporter.advance(round(90 * (index + done / total) / len(cameras)))
            if masks:
                # Masks burned in: decode, paint, stamp name and time, re-encode (libx264).
                packets = _cut_masked(segments=segments, start=requisition.window_start,
                                      end=requisition.window_end, out_path=work / name, camera=camera,
                                      polygons=[m["polygon"] for m in masks], on_segment=progress)
                entry["masks_applied"] = masks
                entry["reencoded"] = {"codec": "libx264", "overlay": OVERLAY_FORMAT}
                entry["overlay"] = {"kind": "burned_in", "format": OVERLAY_FORMAT}
            else:
                # Remuxed: the video untouched, the name and time in a caption track of the MP4.
                packets, cues = _cut(segments=segments, start=requisition.window_start,
                                     end=requisition.window_end, out_path=work / name, camera=camera,
                                     on_segment=progress)
                entry["overlay"] = {"kind": "timed_text", "codec": "mov_text", "language": CAPTION_LANGUAGE,
                                    "default": True, "format": CAPTION_FORMAT, "cues": cues}
            if packets == 0:
                (work / name).unlink(missing_ok=True)
                entry.pop("overlay")
                entry["not_extracted"] = _("no recording in the window")
            else:
                entry["file"] = {"name": name, "size": (work / name).stat().st_size,
                                 "sha256": file_sha256(work / name), "packets": packets}
                entry["segments"] = [{"start": s.start.isoformat(), "end": s.end.isoformat(),
                                      "sha256": s.sha256} for s in segments]
                files += 1
        entries.append(entry)
        reporter.advance(round(90 * (index + 1) / max(1, len(cameras))))
    if files == 0:
        shutil.rmtree(work, ignore_errors=True)
        reasons = "; ".join(f"{e['code']}: {e['not_extracted']}" for e in entries)
        report(status=RequisitionStatus.FAILED, progress=100,
               error=(_("Nothing extracted (%(reasons)s)") % {"reasons": reasons})[:500])
        return None
    manifest = {
        "format": FORMAT, "created_at": timezone.now().isoformat(),
        "requisition": {"id": requisition.pk, "procedure_number": requisition.procedure_number,
                        "service": requisition.service, "requesting_officer": requisition.requesting_officer,
                        "legal_basis": requisition.legal_basis},
        "operator": requisition.created_by.get_username(),
        "window": {"start": requisition.window_start.isoformat(), "end": requisition.window_end.isoformat()},
        "cameras": entries,
    }
    manifest_write(work, manifest)
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    try:
        # In ``s3`` mode the files go to the object store, and the download reads them there.
        export_dir = exports_store(final, f"exports/{final.name}")
    except StoreUnavailable:
        report(status=RequisitionStatus.FAILED, progress=100,
               error=_("The object store did not take the extraction's files: start the extraction again."))
        return None
    with transaction.atomic():
        report(status=RequisitionStatus.DONE, progress=100, export_dir=export_dir)
        audit(action=Action.EXTRACTION, actor=requisition.created_by, obj=requisition,
              object_type=REQUISITION_JOURNAL_TYPE,
              reason=f"Procédure {requisition.procedure_number}",
              details={"files": {e["code"]: e["file"]["sha256"] for e in entries if "file" in e},
                       "not_extracted": {e["code"]: e["not_extracted"]
                                         for e in entries if "not_extracted" in e}})
    return Path(export_dir)
