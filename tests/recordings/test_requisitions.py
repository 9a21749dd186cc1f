"""Judicial requisitions: what a requisition must say, the holds it puts at once, their release."""

from __future__ import annotations

import datetime as dt

import pytest

from config.errors import DomainError, NotAllowed
from partners.models import AuditRecord
from recordings.models import LegalHold, RecordingSegment
from recordings.requisitions import RecordingGone, hold_release, requisition_create
from recordings.retention import retention_sweep, unheld
from tests import factories

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def camera(area):
    return factories.make_camera()


def make(camera, operator, **overrides):
    fields = {"created_by": operator.user, "requesting_officer": "OPJ Martin",
              "service": "Commissariat de Sarcelles", "procedure_number": "2026/00042",
              "legal_basis": "Art. 77-1 CPP", "cameras": [camera],
              "window_start": NOW - dt.timedelta(hours=3), "window_end": NOW - dt.timedelta(hours=2),
              "now": NOW}
    fields.update(overrides)
    return requisition_create(**fields)


@pytest.mark.parametrize("start, end, field, words", [
    (NOW - dt.timedelta(hours=1), NOW - dt.timedelta(hours=2), "window_end", "finit avant de commencer"),
    (NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=1), "window_end", "dans le futur"),
    (NOW - dt.timedelta(hours=30), NOW - dt.timedelta(hours=1), "window_start", "dépasse 24 h"),
])
def test_a_bad_window_is_refused_with_a_clear_error(camera, operator, start, end, field, words):
    with pytest.raises(DomainError) as error:
        make(camera, operator, window_start=start, window_end=end)
    assert error.value.field == field and words in str(error.value)


def test_a_window_older_than_the_retention_says_the_recording_is_gone(camera, operator):
    with pytest.raises(RecordingGone) as error:
        make(camera, operator, window_start=NOW - dt.timedelta(days=15),
             window_end=NOW - dt.timedelta(days=15) + dt.timedelta(hours=1))
    assert "n'existe plus" in str(error.value) and "14 jours" in str(error.value)


def test_a_requisition_needs_its_procedure_number(camera, operator):
    with pytest.raises(DomainError) as error:
        make(camera, operator, procedure_number="  ")
    assert error.value.field == "procedure_number"


def test_a_requisition_holds_its_segments_at_once_and_is_journalled(camera, operator):
    start = NOW - dt.timedelta(hours=3)
    inside = RecordingSegment.objects.create(camera=camera, start=start - dt.timedelta(seconds=30),
                                             end=start + dt.timedelta(seconds=30))
    outside = RecordingSegment.objects.create(camera=camera, start=start - dt.timedelta(minutes=5),
                                              end=start - dt.timedelta(minutes=4))
    requisition = make(camera, operator)
    # Held as soon as the requisition exists, before any extraction was even queued.
    assert requisition.status == "pending"
    assert LegalHold.objects.filter(segment=inside, released_at=None).exists()
    assert list(unheld(RecordingSegment.objects.all())) == [outside]
    assert retention_sweep(now=NOW + dt.timedelta(days=20)).destroyed == 1
    assert RecordingSegment.objects.get() == inside
    record = AuditRecord.objects.get(action="requisition_created")
    assert record.object_id == str(requisition.pk) and "2026/00042" in record.reason
    assert record.details["cameras"] == [camera.code]


def test_only_a_supervisor_with_a_reason_releases_a_hold(camera, operator, supervisor):
    hold = make(camera, operator).holds.get()
    with pytest.raises(NotAllowed):
        hold_release(hold=hold, by=operator.user, reason="Fin de procédure")
    with pytest.raises(DomainError) as error:
        hold_release(hold=hold, by=supervisor.user, reason=" ")
    assert error.value.field == "reason"
    hold_release(hold=hold, by=supervisor.user, reason="Fin de procédure")
    hold.refresh_from_db()
    assert hold.released_at is not None and hold.released_by == supervisor.user
    record = AuditRecord.objects.get(action="hold_released")
    assert record.reason == "Fin de procédure" and record.actor == supervisor.user


def test_releasing_a_cameras_hold_lets_the_sweep_destroy_its_segments(camera, operator, supervisor):
    start = NOW - dt.timedelta(hours=2)
    segment = RecordingSegment.objects.create(camera=camera, start=start - dt.timedelta(seconds=30),
                                              end=start + dt.timedelta(seconds=30))
    requisition = make(camera, operator)
    camera_hold = requisition.holds.get(segment__isnull=True)
    assert requisition.holds.filter(segment=segment, released_at=None).exists()
    assert retention_sweep(now=NOW + dt.timedelta(days=20)).destroyed == 0
    hold_release(hold=camera_hold, by=supervisor.user, reason="Procédure classée")
    assert not requisition.holds.filter(released_at=None).exists()
    assert set(requisition.holds.values_list("release_reason", flat=True)) == {"Procédure classée"}
    assert AuditRecord.objects.get(action="hold_released").details["segment_holds_released"] == 1
    assert retention_sweep(now=NOW + dt.timedelta(days=20)).destroyed == 1
    assert not RecordingSegment.objects.filter(pk=segment.pk).exists()


def test_the_journal_names_requisitions_and_holds_as_before_the_recordings_had_their_own_app(
        camera, operator, supervisor):
    # The access journal's lines are hash-chained, never rewritten: lines written since the move
    # must name the objects as the lines written before it do, or one requisition reads as two.
    requisition = make(camera, operator)
    hold = LegalHold.objects.get(requisition=requisition, segment__isnull=True)
    hold_release(hold=hold, by=supervisor.user, reason="Fin de procédure")
    lines = AuditRecord.objects.filter(action__in=["requisition_created", "hold_released"])
    assert sorted(lines.values_list("action", "object_type", "object_id")) == [
        ("hold_released", "streaming.legalhold", str(hold.pk)),
        ("requisition_created", "streaming.requisition", str(requisition.pk))]
