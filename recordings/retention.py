"""The 14-day rule: the periodic sweep that destroys recordings past their retention, and with
them the snapshots and extraction files of the same images (unless held).

Safe to run twice at once (each segment is taken with ``FOR UPDATE SKIP LOCKED``: two
sweeps never touch the same one) and to kill at any moment: each segment is destroyed
in its own transaction, the file first, then its index row and the register line. A
sweep killed between the two leaves an index row whose file is gone; the next sweep
treats a missing file as already destroyed and finishes the job. No file is ever left
without its index row.

Segments and snapshots are objects of the recordings' store (``recordings.storage``: files
of a directory, or objects of an S3 bucket, every version of which is deleted). An object the
store refuses to delete because it keeps a legal hold on it (S3 Object Lock) is left, with
its row, and logged: the store's hold outlived the index's (a release whose clearing failed),
and a person must look.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from cameras.models import Camera
from cameras.selectors import valid_authorisations
from config.errors import DomainError
from recordings.manifest import MANIFEST
from recordings.models import (
    DestroyedObject,
    DestructionRecord,
    LegalHold,
    RecordingSegment,
    Requisition,
    RequisitionStatus,
    Snapshot,
)
from recordings.storage import ExportFiles, ObjectHeld, recording_store

log = logging.getLogger(__name__)


class RecordingGone(DomainError):
    """The window is older than the retention: the recording has been destroyed."""

    code = "recording_gone"
    status_code = 410


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


def unheld_snapshots(snapshots: QuerySet[Snapshot]) -> QuerySet[Snapshot]:
    """Snapshots whose moment no hold in force covers on their camera."""
    active = LegalHold.objects.filter(released_at__isnull=True)
    return snapshots.exclude(Exists(active.filter(
        camera=OuterRef("camera"), window_start__lte=OuterRef("taken_at"),
        window_end__gt=OuterRef("taken_at"))))


def window_held(camera: Camera, start: dt.datetime, end: dt.datetime) -> bool:
    """Whether a hold in force covers part of ``camera``'s [start, end)."""
    return LegalHold.objects.filter(released_at__isnull=True, camera=camera, window_start__lt=end,
                                    window_end__gt=start).exists()


@dataclass
class SweepResult:
    destroyed: int = 0  # recording segments
    size: int = 0
    missing_files: int = 0
    snapshots: int = 0
    extraction_files: int = 0
    exports: int = 0  # export directories removed (every file of the extraction destroyed)
    held_in_store: set[str] = field(default_factory=set)  # objects the store refused to delete


class _Register:
    """The sweep's register lines: one per camera and kind of object (and requisition)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.lines: dict[tuple, int] = {}

    def add(self, *, camera: Camera, kind: str, start: dt.datetime, end: dt.datetime, size: int,
            requisition: Requisition | None = None) -> None:
        """Count one destroyed file in the sweep's line for (camera, kind, requisition): one
        statement, in the caller's transaction (a rolled-back destruction counts nothing)."""
        key = (camera.pk, kind, requisition.pk if requisition else None)
        record_id = self.lines.get(key)
        if record_id and DestructionRecord.objects.filter(pk=record_id).update(
                period_start=Least("period_start", Value(start)),
                period_end=Greatest("period_end", Value(end)),
                segment_count=F("segment_count") + 1, total_size=F("total_size") + size):
            return
        # The first of the sweep (or its line was rolled back with a failed destruction).
        record = DestructionRecord.objects.create(camera=camera, object=kind, requisition=requisition,
                                                  period_start=start, period_end=end, destroyed_at=self.now,
                                                  segment_count=1, total_size=size)
        self.lines[key] = record.pk


def _destroy_object(key: str, result: SweepResult) -> bool:
    """Destroy the object ``key`` of the store (a missing one counts as destroyed). False: the
    store keeps a legal hold on it, it stays."""
    try:
        if not recording_store().delete(key):
            result.missing_files += 1  # killed after the delete, before the commit
    except ObjectHeld:
        log.error("retention: %s is under a legal hold in the object store but no hold of the index "
                  "covers it: kept (release it in the store, or hold it again)", key)
        result.held_in_store.add(key)
        return False
    return True


def _destroy_segment(*, camera: Camera, cutoff: dt.datetime, register: _Register,
                     result: SweepResult) -> bool:
    """Destroy the oldest expired, unheld segment of ``camera`` no other sweep holds. False: none left."""
    with transaction.atomic():
        segment = (unheld(RecordingSegment.objects.filter(camera=camera, end__lte=cutoff))
                   .exclude(path__in=result.held_in_store)
                   .order_by("start").select_for_update(skip_locked=True).first())
        if segment is None:
            return False
        if segment.path and not _destroy_object(segment.path, result):
            return True  # kept: the next one
        register.add(camera=camera, kind=DestroyedObject.RECORDING, start=segment.start, end=segment.end,
                     size=segment.size)
        size = segment.size
        segment.delete()
    result.destroyed += 1
    result.size += size
    return True


def _destroy_snapshot(*, camera: Camera, cutoff: dt.datetime, register: _Register,
                      result: SweepResult) -> bool:
    """Destroy the oldest unheld snapshot of ``camera`` showing a moment before ``cutoff``.
    False: none left."""
    with transaction.atomic():
        snapshot = (unheld_snapshots(Snapshot.objects.filter(camera=camera, taken_at__lt=cutoff))
                    .exclude(path__in=result.held_in_store)
                    .order_by("taken_at").select_for_update(skip_locked=True).first())
        if snapshot is None:
            return False
        if not _destroy_object(snapshot.path, result):
            return True
        register.add(camera=camera, kind=DestroyedObject.SNAPSHOT, start=snapshot.taken_at,
                     end=snapshot.taken_at, size=snapshot.size)
        snapshot.delete()
    result.snapshots += 1
    return True


def _manifest_files(export: ExportFiles) -> dict[str, dict]:
    """The video files an export's manifest lists, by camera code (empty if it cannot be read)."""

    try:
        manifest = json.loads(export.read_bytes(MANIFEST))
    except (OSError, ValueError):
        return {}
    return {entry["code"]: entry["file"] for entry in manifest.get("cameras", []) if entry.get("file")}


def _sweep_export(*, requisition_id: int, now: dt.datetime, day: dt.date, register: _Register,
                  result: SweepResult) -> None:
    """Destroy the files of one extraction whose images are past their camera's retention and
    unheld; once every one is gone, the directory (manifest, signature) too."""
    with transaction.atomic():
        requisition = (Requisition.objects.select_for_update(skip_locked=True)
                       .filter(pk=requisition_id, export_destroyed_at__isnull=True).first())
        if requisition is None or not requisition.export_dir:
            return
        export = ExportFiles(requisition.export_dir)
        files = _manifest_files(export)
        destroyed = set(DestructionRecord.objects.filter(requisition=requisition,
                                                         object=DestroyedObject.EXTRACTION)
                        .values_list("camera__code", flat=True))
        cameras = {c.code: c for c in Camera.objects.filter(code__in=list(files))}
        for code, file in sorted(files.items()):
            camera = cameras.get(code)
            if code in destroyed or camera is None:
                continue
            cutoff = now - dt.timedelta(days=retention_days(camera, day=day))
            if requisition.window_end > cutoff or window_held(camera, requisition.window_start,
                                                              requisition.window_end):
                continue
            if not export.unlink(file["name"]):
                result.missing_files += 1  # killed after the unlink, before the commit: destroyed
            register.add(camera=camera, kind=DestroyedObject.EXTRACTION, requisition=requisition,
                         start=requisition.window_start, end=requisition.window_end, size=file.get("size", 0))
            destroyed.add(code)
            result.extraction_files += 1
        # The manifest, its signature and the key go last: until then a file's hash can be checked.
        # No manifest but files already destroyed: a sweep was killed while removing the directory.
        if (files and destroyed >= set(files)) or (not files and destroyed):
            export.remove_all()
            requisition.export_destroyed_at = now
            requisition.save(update_fields=["export_destroyed_at"])
            result.exports += 1


def retention_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Destroy every segment, snapshot and extraction file whose images are older than their
    camera's retention, unless a hold covers them; write the destruction register (one line
    per camera and kind per sweep, one per extracted file). Idempotent."""
    now = now or timezone.now()
    result = SweepResult()
    register = _Register(now)
    day = timezone.localdate(now)
    cameras = Camera.objects.filter(Exists(RecordingSegment.objects.filter(camera=OuterRef("pk")))
                                    | Exists(Snapshot.objects.filter(camera=OuterRef("pk"))))
    for camera in cameras.order_by("pk"):
        cutoff = now - dt.timedelta(days=retention_days(camera, day=day))
        while _destroy_segment(camera=camera, cutoff=cutoff, register=register, result=result):
            pass
        while _destroy_snapshot(camera=camera, cutoff=cutoff, register=register, result=result):
            pass
    # Extractions: only those whose window could be past the longest retention allowed.
    oldest = now - dt.timedelta(days=1)
    exports = (Requisition.objects.filter(status=RequisitionStatus.DONE, export_destroyed_at__isnull=True,
                                          window_end__lte=oldest).exclude(export_dir="")
               .order_by("pk").values_list("pk", flat=True))
    for requisition_id in exports:
        _sweep_export(requisition_id=requisition_id, now=now, day=day, register=register, result=result)
    if result.destroyed or result.snapshots or result.extraction_files:
        log.info("retention sweep: %d segments (%d bytes, %d files already gone), %d snapshots, "
                 "%d extraction files (%d exports) destroyed", result.destroyed, result.size,
                 result.missing_files, result.snapshots, result.extraction_files, result.exports)
    return result
