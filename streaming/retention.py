"""The 14-day rule: the periodic sweep that destroys recordings past their retention.

Safe to run twice at once (each segment is taken with ``FOR UPDATE SKIP LOCKED``: two
sweeps never touch the same one) and to kill at any moment: each segment is destroyed
in its own transaction, the file first, then its index row and the register line. A
sweep killed between the two leaves an index row whose file is gone; the next sweep
treats a missing file as already destroyed and finishes the job. No file is ever left
without its index row.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from cameras.models import Camera
from cameras.selectors import valid_authorisations
from streaming.models import DestructionRecord, LegalHold, RecordingSegment

log = logging.getLogger(__name__)


def retention_days(camera: Camera, *, day: dt.date | None = None) -> int:
    """The camera's own setting, bounded by every authorisation in force over it, and by the law."""
    days = [camera.retention_days, settings.HUB_RETENTION_MAX_DAYS]
    days += list(valid_authorisations(day).filter(cameras=camera).values_list("retention_days", flat=True))
    return max(1, min(days))


def unheld(segments: QuerySet[RecordingSegment]) -> QuerySet[RecordingSegment]:
    """Segments no hold in force covers (neither on the segment nor on its camera's window)."""
    active = LegalHold.objects.filter(released_at__isnull=True)
    return segments.exclude(Exists(active.filter(segment=OuterRef("pk")))).exclude(Exists(active.filter(
        camera=OuterRef("camera"), window_start__lt=OuterRef("end"), window_end__gt=OuterRef("start"))))


def segment_file(segment: RecordingSegment) -> Path | None:
    return Path(settings.HUB_RECORDINGS_DIR) / segment.path if segment.path else None


@dataclass
class SweepResult:
    destroyed: int = 0
    size: int = 0
    missing_files: int = 0


def _destroy_one(*, camera: Camera, cutoff: dt.datetime, now: dt.datetime, run: dict[int, int],
                 result: SweepResult) -> bool:
    """Destroy the oldest expired, unheld segment of ``camera`` no other sweep holds. False: none left."""
    with transaction.atomic():
        segment = (unheld(RecordingSegment.objects.filter(camera=camera, end__lte=cutoff))
                   .order_by("start").select_for_update(skip_locked=True).first())
        if segment is None:
            return False
        path = segment_file(segment)
        if path is not None:
            try:
                path.unlink()
            except FileNotFoundError:
                # Killed after the unlink, before the commit: it is already destroyed.
                result.missing_files += 1
        record_id = run.get(camera.pk)
        record = (DestructionRecord.objects.select_for_update().filter(pk=record_id).first()
                  if record_id else None)
        if record is None:
            record = DestructionRecord.objects.create(camera=camera, period_start=segment.start,
                                                      period_end=segment.end, destroyed_at=now)
            run[camera.pk] = record.pk
        record.period_start = min(record.period_start, segment.start)
        record.period_end = max(record.period_end, segment.end)
        record.segment_count += 1
        record.total_size += segment.size
        record.save(update_fields=["period_start", "period_end", "segment_count", "total_size"])
        size = segment.size
        segment.delete()
    result.destroyed += 1
    result.size += size
    return True


def retention_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Destroy every segment older than its camera's retention unless a hold covers it; write
    the destruction register (one line per camera per sweep). Idempotent."""
    now = now or timezone.now()
    result = SweepResult()
    run: dict[int, int] = {}
    day = timezone.localdate(now)
    cameras = Camera.objects.filter(Exists(RecordingSegment.objects.filter(camera=OuterRef("pk"))))
    for camera in cameras.order_by("pk"):
        cutoff = now - dt.timedelta(days=retention_days(camera, day=day))
        while _destroy_one(camera=camera, cutoff=cutoff, now=now, run=run, result=result):
            pass
    if result.destroyed:
        log.info("retention sweep: %d segments destroyed (%d bytes, %d files already gone)",
                 result.destroyed, result.size, result.missing_files)
    return result
