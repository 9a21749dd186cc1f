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

*Stray* objects are destroyed too: objects of the store no index row names. A recorder killed
between the upload of a segment and its index row leaves one (and a ``.pending`` note in its own
buffer, which nobody reads if its machine never comes back); so does a local recorder killed
between the rename and the row, or a snapshot's writer between its put and its row. Retention
destroys what the index names, so without this step such an object would outlive its retention
for ever. See ``_sweep_strays`` for what is listed, and what it costs.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
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
    StrayCheck,
)
from recordings.objects import PENDING_SUFFIX
from recordings.storage import ExportFiles, ObjectHeld, RecordingStore, StoreUnavailable, recording_store

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
    strays: int = 0  # objects no index row named, destroyed past their retention
    strays_held: int = 0  # such objects kept: a hold in force covers their camera's day


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


# A segment's key names the UTC day it started on (``CODE/YYYYMMDD/<start>.mp4``), a snapshot's
# the UTC day of the moment it shows (``snapshots/CODE/YYYYMMDD/<time>-<id>.jpg``). A segment
# started just before midnight runs into the next day (it is cut at the first keyframe after
# ``HUB_RECORDING_SEGMENT_SECONDS``): a day's objects are all past a retention once the day and
# this margin are. Nobody's keyframes are an hour apart.
STRAY_MARGIN = dt.timedelta(hours=1)
# What a directory store's tree may hold beside its objects: a file being written (or left by a
# killed recorder: never renamed, never indexed), a note of the s3 mode's buffer. Not objects.
NOT_OBJECTS = (".part", PENDING_SUFFIX)
# The first key of ``pg_try_advisory_xact_lock(int, int)`` taken on a stray object's key (its
# hash the second): two sweeps at once destroy it, and register it, once.
STRAY_LOCK = 4_517


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _last_past_day(cutoff: dt.datetime) -> dt.date:
    """The last day (UTC) whose objects are all past ``cutoff``."""
    return (cutoff.astimezone(dt.UTC) - STRAY_MARGIN).date() - dt.timedelta(days=1)


def _past_days(store: RecordingStore, prefix: str, cutoff: dt.datetime,
               since: dt.date | None) -> list[tuple[str, dt.date]]:
    """The day prefixes under ``prefix`` (``…/YYYYMMDD/``) after ``since`` (all, if None) whose
    objects are all past ``cutoff``."""
    days = []
    # The day looked at last, without its slash: S3 lists from it on (a store may give its own
    # prefix back, SeaweedFS does not), and the `day > since` test below drops it.
    start_after = f"{prefix}{since:%Y%m%d}" if since else ""
    for day_prefix in store.prefixes(prefix, start_after=start_after):
        name = day_prefix[len(prefix):].rstrip("/")
        if len(name) != 8 or not name.isdigit():
            continue  # not a day (``snapshots/`` for a camera coded "snapshots"…)
        try:
            day = dt.datetime.strptime(name, "%Y%m%d").date()
        except ValueError:
            continue
        if (since is None or day > since) and _day_bounds(day)[1] + STRAY_MARGIN <= cutoff:
            days.append((day_prefix, day))
    return days


def _destroy_stray(*, camera: Camera, key: str, kind: str, day: dt.date, register: _Register,
                   result: SweepResult) -> None:
    """Destroy the object ``key`` no index row names, and count it in the register, once (a
    second sweep on it at the same time leaves it, or finds it gone and counts nothing)."""
    store = recording_store()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", [STRAY_LOCK, key])
            if not cursor.fetchone()[0]:
                return  # another sweep is destroying it
        if (RecordingSegment.objects.filter(camera=camera, path=key).exists()
                or Snapshot.objects.filter(camera=camera, path=key).exists()):
            return  # a late upload indexed it meanwhile: the segment step's business
        try:
            size = store.size(key)
            if not store.delete(key):
                return  # gone meanwhile (another sweep destroyed and registered it)
        except FileNotFoundError:
            return
        except ObjectHeld:
            log.error("retention: %s (no index row names it) is under a legal hold in the object store: "
                      "kept (release it in the store, or hold it in the index)", key)
            result.held_in_store.add(key)
            return
        log.warning("retention: %s was in the store but no index row named it (a recorder killed between "
                    "its upload and its row): destroyed, past its retention", key)
        start, end = _day_bounds(day)
        register.add(camera=camera, kind=kind, start=start, end=end, size=size)
    result.strays += 1


def _sweep_camera_strays(*, camera: Camera, cutoff: dt.datetime, since: dt.date | None,
                         register: _Register, result: SweepResult) -> dt.date:
    """Destroy ``camera``'s stray objects (segments and snapshots) of the days after ``since``
    (all, if None) past ``cutoff``, unless a hold in force covers some moment of their day.
    Returns the day the next look starts after."""
    store = recording_store()
    through = _last_past_day(cutoff)
    if since is not None and since >= through:
        return since
    for prefix, kind in ((f"{camera.code}/", DestroyedObject.UNINDEXED_RECORDING),
                         (f"snapshots/{camera.code}/", DestroyedObject.UNINDEXED_SNAPSHOT)):
        for day_prefix, day in _past_days(store, prefix, cutoff, since):
            # The segment and snapshot steps ran first: what is left of such a day is held
            # footage and strays, a page of the listing at most.
            keys = [key for key in store.keys(day_prefix) if not key.endswith(NOT_OBJECTS)]
            if not keys:
                continue
            # By camera: ``path`` has no index of its own, the camera has (a key under its code is
            # named, if at all, by one of its rows, as the upload pass looks for it).
            named = set(RecordingSegment.objects.filter(camera=camera, path__in=keys)
                        .values_list("path", flat=True))
            named |= set(Snapshot.objects.filter(camera=camera, path__in=keys).values_list("path", flat=True))
            strays = [key for key in keys if key not in named]
            if not strays:
                continue
            start, end = _day_bounds(day)
            # An object's end is not in its key: a hold over any moment of its day keeps it. The
            # next look goes past the day all the same: a release of a hold of the camera makes
            # the look after it start again from the first day.
            if window_held(camera, start, end + STRAY_MARGIN):
                result.strays_held += len(strays)
                continue
            for key in strays:
                if key not in result.held_in_store:
                    _destroy_stray(camera=camera, key=key, kind=kind, day=day, register=register,
                                   result=result)
                if key in result.held_in_store:
                    # The store refused the delete (its own hold): logged, for a person; the
                    # day is listed again at every look until the object is gone.
                    through = min(through, day - dt.timedelta(days=1))
    return max(through, since) if since is not None else through


def _sweep_strays(*, now: dt.datetime, register: _Register, result: SweepResult) -> None:
    """Destroy the stray objects (no index row names them) of every camera, day by day: a day's
    once all of it is past the camera's retention, unless a hold covers it.

    A camera's day becomes past its retention once a day (at 00:00 UTC + ``STRAY_MARGIN`` +
    its retention), so each camera is looked at once a day, at the first sweep after that time,
    not at every sweep (every 5 minutes); and a look lists only the days after the last one it
    looked at (its ``StrayCheck``: when, and through which day). A look is, for ``CODE/`` and for
    ``snapshots/CODE/``, one listing of the day prefixes after that day (S3 ``ListObjectsV2``
    with the delimiter ``/`` and ``StartAfter``: one request) and one listing of each new day
    past the retention, which the segment step has just emptied of its unheld segments (what is
    left is held footage and strays: one request). For 2,000 cameras: about 6,000 LIST requests
    a day (2 × 2,000, plus a day's listing where the prefix exists), at the sweep after
    01:00 UTC, and none at the other 287 sweeps; against listing the bucket (2,000 cameras ×
    14 days × 1,440 one-minute segments: 40 million keys, 40,000 requests) at every sweep. Only
    the days after the last look are listed because a store may keep listing an emptied prefix
    (SeaweedFS keeps the folder). A held day is passed too: a hold of the camera released since
    the last look makes the next sweep look again from its first day (a camera's whole history
    once, a request per day on such a store; a few releases a day). A day where the store
    refused a delete (its own hold) stays in every look until the object goes. The store not
    answering ends this step for this sweep: the cameras not looked at are looked at next time.
    """
    now_utc = now.astimezone(dt.UTC)
    boundary = dt.datetime.combine((now_utc - STRAY_MARGIN).date(), dt.time(), tzinfo=dt.UTC) + STRAY_MARGIN
    released_since = LegalHold.objects.filter(camera=OuterRef("camera"),
                                              released_at__gt=OuterRef("checked_at"))
    fresh = (StrayCheck.objects.filter(camera=OuterRef("pk"), checked_at__gte=boundary)
             .exclude(Exists(released_since)))
    day = timezone.localdate(now)
    for camera in Camera.objects.exclude(Exists(fresh)).order_by("pk"):
        cutoff = now - dt.timedelta(days=retention_days(camera, day=day))
        check = StrayCheck.objects.filter(camera=camera).first()
        since = None  # never looked at, or a hold released since: from the first day
        if check is not None and not LegalHold.objects.filter(camera=camera,
                                                              released_at__gt=check.checked_at).exists():
            since = check.through
        try:
            through = _sweep_camera_strays(camera=camera, cutoff=cutoff, since=since, register=register,
                                           result=result)
        except StoreUnavailable as exc:
            log.error("retention: the object store did not answer while looking for objects no index row "
                      "names (%s): the next sweep looks again", exc)
            return
        StrayCheck.objects.bulk_create([StrayCheck(camera=camera, checked_at=now, through=through)],
                                       update_conflicts=True, unique_fields=["camera"],
                                       update_fields=["checked_at", "through"])


def retention_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Destroy every segment, snapshot and extraction file whose images are older than their
    camera's retention, unless a hold covers them, and the objects of the store no index row
    names once their day is; write the destruction register (one line per camera and kind per
    sweep, one per extracted file). Idempotent."""
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
    _sweep_strays(now=now, register=register, result=result)
    # Extractions: only those whose window could be past the longest retention allowed.
    oldest = now - dt.timedelta(days=1)
    exports = (Requisition.objects.filter(status=RequisitionStatus.DONE, export_destroyed_at__isnull=True,
                                          window_end__lte=oldest).exclude(export_dir="")
               .order_by("pk").values_list("pk", flat=True))
    for requisition_id in exports:
        _sweep_export(requisition_id=requisition_id, now=now, day=day, register=register, result=result)
    if result.destroyed or result.snapshots or result.extraction_files or result.strays:
        log.info("retention sweep: %d segments (%d bytes, %d files already gone), %d snapshots, "
                 "%d extraction files (%d exports), %d objects no index row named destroyed",
                 result.destroyed, result.size, result.missing_files, result.snapshots,
                 result.extraction_files, result.exports, result.strays)
    return result
