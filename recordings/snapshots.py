"""Still images of a camera (*captures d'image*), taken from its recording.

A snapshot is the recorded picture at a moment (the latest one by default), with every
privacy mask of the camera blacked out and the camera's name and the time burned in, as in
an extraction. It is a JPEG of the recordings' store (``snapshots/...``: under
``HUB_RECORDINGS_DIR``, or in the object store), read from the segment's object by ranged
reads (the index of the MP4 and the pictures from the keyframe before the moment, not the
whole segment). It follows the recordings' retention rule (``recordings.retention``):
destroyed with the images it shows unless a legal hold covers its camera at that moment.
docs/recordings.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from pathlib import Path
from typing import IO

import av
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cameras.models import Camera
from config.errors import DomainError, NotAllowed
from incidents.models import Incident
from incidents.services.journal import journal_camera_note
from partners.audit import audit
from partners.selectors import member_of
from recordings.manifest import OVERLAY_FORMAT
from recordings.models import SNAPSHOT_JOURNAL_TYPE, RecordingSegment, Snapshot
from recordings.recorder import file_sha256
from recordings.retention import RecordingGone, retention_days
from recordings.storage import recording_store
from streaming.masking import MaskPainter, Watermark, camera_masks

SNAPSHOT_ACTION = "snapshot"
JPEG_QUALITY = 90


class NoRecording(DomainError):
    """Nothing was recorded of this camera at that moment (not recorded, or a gap)."""

    code = "no_recording"
    status_code = 404


def _segment_at(camera: Camera, at: dt.datetime | None,
                now: dt.datetime) -> tuple[RecordingSegment, dt.datetime]:
    """The segment holding the picture at ``at`` (default: the latest recorded picture)."""
    segments = RecordingSegment.objects.filter(camera=camera, is_gap=False)
    if at is None:
        segment = segments.order_by("-end").first()
        if segment is None:
            raise NoRecording(_("%(camera)s has no recording.") % {"camera": camera.code}, field="camera")
        return segment, segment.end
    if at > now:
        raise DomainError(_("This moment is in the future: nothing has been recorded yet."), field="at")
    segment = segments.filter(start__lte=at, end__gt=at).order_by("start").first()
    if segment is not None:
        return segment, at
    days = retention_days(camera, day=timezone.localdate(now))
    if at < now - dt.timedelta(days=days):
        raise RecordingGone(ngettext(
            "The recording of %(camera)s at this moment is gone: it is kept %(days)d day and was destroyed.",
            "The recording of %(camera)s at this moment is gone: it is kept %(days)d days and was destroyed.",
            days) % {"camera": camera.code, "days": days}, field="at")
    raise NoRecording(_("No recording of %(camera)s at %(at)s (not recorded, or the source was down).")
                      % {"camera": camera.code,
                         "at": formats.date_format(timezone.localtime(at), "DATETIME_FORMAT")},
                      field="at")


def _picture(segment: RecordingSegment, at: dt.datetime) -> tuple[av.VideoFrame, dt.datetime]:
    """The last picture of ``segment`` shown at or before ``at`` (the first one if ``at`` precedes it)."""
    chosen: tuple[av.VideoFrame, dt.datetime] | None = None
    with contextlib.closing(recording_store().open(segment.path)) as handle, \
            av.open(handle, "r") as container:
        stream = container.streams.video[0]
        offset = (at - segment.start).total_seconds()
        if offset > 0 and stream.time_base:
            # Decode from the key frame at or before the moment, not from the segment's start.
            container.seek(int(offset / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts is None or stream.time_base is None:  # a picture with no time is at no moment
                continue
            shown = segment.start + dt.timedelta(seconds=float(frame.pts * stream.time_base))
            if chosen is not None and shown > at:
                break
            chosen = (frame, shown)  # a new frame per picture: keeping it is safe
    if chosen is None:
        raise NoRecording(_("The segment of %(camera)s at this moment holds no picture.")
                          % {"camera": segment.camera.code},
                          field="at")
    frame, shown = chosen
    return (frame if frame.format.name == "yuv420p" else frame.reformat(format="yuv420p")), shown


def render_jpeg(*, camera: Camera, frame: av.VideoFrame, shown: dt.datetime, out_path: Path) -> list[dict]:
    """Masks blacked out, name and time burned in (as in extractions), saved as JPEG. Returns the
    masks applied."""
    masks = camera_masks(camera)
    if masks:
        MaskPainter([m["polygon"] for m in masks], frame.width, frame.height).paint(frame)
    Watermark(frame.width, frame.height).stamp(
        frame, OVERLAY_FORMAT.format(name=camera.name, time=timezone.localtime(shown)))
    frame.to_image().save(out_path, format="JPEG", quality=JPEG_QUALITY)
    return [{"id": m["id"], "label": m["label"]} for m in masks]


def snapshot_take(*, camera: Camera, by: User, at: dt.datetime | None = None,
                  incident: Incident | None = None, address: str | None = None,
                  now: dt.datetime | None = None) -> Snapshot:
    """Take the recorded picture of ``camera`` at ``at`` (default: the latest), masked and stamped;
    journalled, and noted in the incident's main courante when one is given. The file is complete
    (written, hashed, renamed, stored) before its row exists; if the row cannot be written the
    file goes."""
    now = now or timezone.now()
    segment, at = _segment_at(camera, at, now)
    frame, shown = _picture(segment, at)
    name = f"{shown:%H%M%S_%f}-{uuid.uuid4().hex[:8]}.jpg"
    relative = Path("snapshots") / camera.code / f"{shown:%Y%m%d}" / name
    final = Path(settings.HUB_RECORDINGS_DIR) / relative
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    store = recording_store()
    stored = False
    try:
        masks = render_jpeg(camera=camera, frame=frame, shown=shown, out_path=part)
        part.rename(final)
        sha256 = file_sha256(final)
        size = final.stat().st_size
        if store.kind != "local":
            store.put_file(relative.as_posix(), final)
            stored = True
            final.unlink()
        with transaction.atomic():
            entry = None
            if incident is not None:
                member = member_of(by)
                if member is None:
                    raise NotAllowed(_("This account is not a member of any service."))
                entry = journal_camera_note(incident=incident, member=member, text=(
                    f"Capture d'image {camera.code} ({camera.name}) à "
                    f"{timezone.localtime(shown):%d/%m/%Y %H:%M:%S}, SHA-256 {sha256[:16]}…"))
            snapshot = Snapshot.objects.create(
                camera=camera, taken_at=shown, created_at=now, created_by=by, incident=incident,
                journal_entry=entry, path=relative.as_posix(), size=size, sha256=sha256,
                masks_applied=masks)
            audit(action=SNAPSHOT_ACTION, actor=by, address=address, obj=snapshot,
                  object_type=SNAPSHOT_JOURNAL_TYPE, reason=f"Capture {camera.code}",
                  details={"camera": camera.code, "taken_at": shown.isoformat(), "sha256": snapshot.sha256,
                           "incident": incident.reference if incident else None})
    except BaseException:
        part.unlink(missing_ok=True)
        final.unlink(missing_ok=True)
        if stored:
            store.delete(relative.as_posix())
        raise
    return snapshot


def snapshot_open(snapshot: Snapshot) -> IO[bytes]:
    """The snapshot's JPEG, open for reading from the recordings' store."""
    return recording_store().open(snapshot.path)
