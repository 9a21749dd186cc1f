"""Judicial requisitions (*réquisitions judiciaires*), their legal holds (*gels*), their
extraction's state and its hand-over (*remise*): every write about a requisition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cameras.models import Camera
from config.errors import Conflict, DomainError, NotAllowed
from partners.audit import Action, audit
from partners.selectors import member_of
from realtime import audiences
from realtime.services import publish
from recordings import export
from recordings.events import RequisitionProgress, requisition_progress_data
from recordings.manifest import MANIFEST
from recordings.models import (
    HOLD_JOURNAL_TYPE,
    REQUISITION_JOURNAL_TYPE,
    LegalHold,
    RecordingSegment,
    Requisition,
    RequisitionStatus,
)
from recordings.objects import store_holds_set
from recordings.retention import RecordingGone, retention_days
from recordings.storage import ExportFiles


class FileDestroyed(DomainError):
    """The file was destroyed under the retention rule."""

    code = "destroyed"
    status_code = 410


class StoreDown(DomainError):
    """The object store holding the extraction's files does not answer: try again later."""

    code = "unavailable"
    status_code = 503


class Actions:
    REQUISITION_CREATED = "requisition_created"
    HOLD_RELEASED = "hold_released"


def _validate_window(*, cameras: list[Camera], window_start: dt.datetime, window_end: dt.datetime,
                     now: dt.datetime) -> None:
    # In UTC: two times of the same zone compare (and subtract) by their wall-clock reading, so
    # that on the night of the autumn change 02:00 CEST and 02:00 CET (the API gives both in
    # Europe/Paris) would be one and the same moment.
    window_start, window_end = window_start.astimezone(dt.UTC), window_end.astimezone(dt.UTC)
    if window_end <= window_start:
        raise DomainError(_("The window ends before it starts."), field="window_end")
    if window_end > now:
        raise DomainError(_("The window is in the future: nothing has been recorded yet."),
                          field="window_end")
    max_hours = settings.HUB_REQUISITION_MAX_WINDOW_HOURS
    if window_end - window_start > dt.timedelta(hours=max_hours):
        raise DomainError(_("The window is longer than %(hours)d h: make one requisition per %(hours)d h.")
                          % {"hours": max_hours}, field="window_start")
    for camera in cameras:
        days = retention_days(camera, day=timezone.localdate(now))
        if window_start < now - dt.timedelta(days=days) and not RecordingSegment.objects.filter(
                camera=camera, start__lte=window_start).exists():
            raise RecordingGone(ngettext(
                "The recording of %(camera)s for this window is gone: it is kept %(days)d day and was "
                "destroyed.",
                "The recording of %(camera)s for this window is gone: it is kept %(days)d days and was "
                "destroyed.", days) % {"camera": camera.code, "days": days}, field="window_start")


@transaction.atomic
def requisition_create(*, created_by: User, requesting_officer: str, service: str,
                       procedure_number: str, legal_basis: str = "", cameras: list[Camera],
                       window_start: dt.datetime, window_end: dt.datetime, address: str | None = None,
                       now: dt.datetime | None = None) -> Requisition:
    """Record a requisition and hold what it covers, in the same transaction: no sweep can
    destroy a covered segment once this returns, and none before either (the holds commit
    with the requisition). The extraction is started separately."""
    now = now or timezone.now()
    if not (procedure_number or "").strip():
        raise DomainError(_("A requisition needs its procedure number."), field="procedure_number")
    if not requesting_officer.strip() or not service.strip():
        raise DomainError(_("Name the requesting officer and service."), field="requesting_officer")
    if not cameras:
        raise DomainError(_("Name at least one camera."), field="cameras")
    _validate_window(cameras=cameras, window_start=window_start, window_end=window_end, now=now)
    requisition = Requisition.objects.create(
        requesting_officer=requesting_officer.strip(), service=service.strip(),
        procedure_number=procedure_number.strip(), legal_basis=legal_basis, window_start=window_start,
        window_end=window_end, created_by=created_by, created_at=now)
    requisition.cameras.set(cameras)
    for camera in cameras:
        LegalHold.objects.create(requisition=requisition, camera=camera, window_start=window_start,
                                 window_end=window_end, created_at=now)
        # Lock the covered segments so that a sweep running now waits for this commit, then
        # sees the holds (it re-reads the holds when it takes the row).
        segments = list(RecordingSegment.objects.select_for_update().filter(
            camera=camera, start__lt=window_end, end__gt=window_start))
        LegalHold.objects.bulk_create([LegalHold(requisition=requisition, segment=segment,
                                                 camera=camera,
                                                 window_start=segment.start, window_end=segment.end,
                                                 created_at=now)
                                       for segment in segments])
        # And in the object store (S3 Object Lock): even the hub's keys cannot delete them now.
        store_holds_set(segments, held=True)
    audit(action=Actions.REQUISITION_CREATED, actor=created_by, address=address, obj=requisition,
          object_type=REQUISITION_JOURNAL_TYPE,
          reason=f"Procédure {requisition.procedure_number}",
          details={"service": requisition.service, "officer": requisition.requesting_officer,
                   "cameras": [c.code for c in cameras], "window_start": window_start.isoformat(),
                   "window_end": window_end.isoformat()})
    return requisition


@transaction.atomic
def hold_release(*, hold: LegalHold, by: User, reason: str,
                 address: str | None = None) -> LegalHold:
    """A supervisor releases a legal hold, with a reason (journalled); the sweep may then destroy.
    Releasing a camera's hold releases the requisition's holds on that camera's segments too."""
    member = member_of(by)
    if member is None or not member.is_supervisor:
        raise NotAllowed(_("Only a supervisor can release a legal hold."))
    if not reason.strip():
        raise DomainError(_("Give the reason of the release."), field="reason")
    hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
    if hold.released_at is not None:
        raise Conflict(_("This hold was already released."))
    now = timezone.now()
    hold.released_at, hold.released_by, hold.release_reason = now, by, reason.strip()
    hold.save(update_fields=["released_at", "released_by", "release_reason"])
    segments = 0
    if hold.segment_id is None:
        # A camera's hold goes with the per-segment holds the requisition put on that camera.
        segments = LegalHold.objects.filter(requisition=hold.requisition_id, camera=hold.camera_id,
                                            segment__isnull=False, released_at__isnull=True).update(
            released_at=now, released_by=by, release_reason=reason.strip())
        covered = RecordingSegment.objects.filter(camera=hold.camera_id, start__lt=hold.window_end,
                                                  end__gt=hold.window_start)
    else:
        covered = RecordingSegment.objects.filter(pk=hold.segment_id)
    # The store's holds on the objects no other hold in force covers go (S3 Object Lock).
    store_holds_set(covered, held=False)
    audit(action=Actions.HOLD_RELEASED, actor=by, address=address, obj=hold, object_type=HOLD_JOURNAL_TYPE,
          reason=reason.strip(),
          details={"requisition": hold.requisition_id, "procedure": hold.requisition.procedure_number,
                   "camera": hold.camera.code, "segment_holds_released": segments})
    return hold


@transaction.atomic
def requisition_progress_report(*, requisition_id: int, **fields) -> Requisition:
    """Save an extraction's state (``status``, ``progress``, ``error``, ``export_dir``) and tell
    the centre (``requisition.progress``), in the same transaction: the requisition page's bar
    moves as the extraction advances."""
    Requisition.objects.filter(pk=requisition_id).update(**fields)
    requisition = Requisition.objects.get(pk=requisition_id)
    publish(RequisitionProgress(requisition=requisition_progress_data(requisition)),
            audience=audiences.centre())
    return requisition


def requisition_extract(*, requisition_id: int) -> Path | None:
    """Extract a requisition's window (the Celery task's body; idempotent, re-runnable), each
    change of its state saved and announced by :func:`requisition_progress_report`.

    Returns the export directory, or None when nothing could be extracted (``error`` says why).
    """
    def report(**fields) -> None:
        requisition_progress_report(requisition_id=requisition_id, **fields)

    return export.requisition_extract(requisition_id=requisition_id, report=report)


@transaction.atomic
def requisition_extraction_start(*, requisition_id: int, queue: Callable[[int], object]) -> Requisition:
    """Hand the requisition to ``queue`` (the Celery task's ``delay``, given by the caller: the
    tasks sit above this module) once this transaction commits. Refused while the extraction
    runs, once it is done, or once its files were destroyed."""
    requisition = Requisition.objects.select_for_update().get(pk=requisition_id)
    if requisition.status == RequisitionStatus.RUNNING:
        raise Conflict(_("The extraction is already running."))
    if requisition.export_destroyed_at is not None:
        raise FileDestroyed(_("The extraction's files were destroyed under the retention rule."))
    if requisition.status == RequisitionStatus.DONE:
        raise Conflict(_("The extraction is done: download its files."))
    transaction.on_commit(lambda: queue(requisition.pk))
    return requisition


@transaction.atomic
def requisition_handover(*, requisition: Requisition, by: User, recipient: str,
                         address: str | None = None) -> None:
    """Record the delivery of the extraction to the requesting service (*remise*), journalled."""
    requisition = Requisition.objects.select_for_update().get(pk=requisition.pk)
    if requisition.status != RequisitionStatus.DONE:
        raise Conflict(_("The extraction is not finished."))
    if requisition.export_destroyed_at is not None:
        raise Conflict(_("The extraction's files were destroyed under the retention rule: "
                         "nothing to hand over."))
    manifest_sha256 = ExportFiles(requisition.export_dir).sha256(MANIFEST)
    audit(action=Action.HANDOVER, actor=by, address=address, obj=requisition,
          object_type=REQUISITION_JOURNAL_TYPE, reason=recipient[:500],
          details={"procedure": requisition.procedure_number, "manifest_sha256": manifest_sha256})
