"""The 14-day rule: the sweep destroys what is past its retention, keeps what is held, writes the
register, and survives being killed half-way or run twice at once (time is passed in, not read)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from recordings.models import DestructionRecord, LegalHold, RecordingSegment
from recordings.requisitions import requisition_create
from recordings.retention import retention_days, retention_sweep
from tests import factories
from tests.threads import at_once

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def storage(settings, tmp_path):
    settings.HUB_RECORDINGS_DIR = tmp_path / "recordings"
    return settings.HUB_RECORDINGS_DIR


def add_segments(camera, storage: Path, *, start: dt.datetime, count: int, seconds: int = 60):
    """``count`` consecutive indexed segments with a small file each."""
    segments = []
    for i in range(count):
        begin = start + dt.timedelta(seconds=i * seconds)
        relative = f"{camera.code}/{begin:%Y%m%dT%H%M%S}.mp4"
        path = storage / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"{camera.code} {begin.isoformat()}".encode() * 10
        path.write_bytes(data)
        segments.append(RecordingSegment.objects.create(
            camera=camera, start=begin, end=begin + dt.timedelta(seconds=seconds), size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), path=relative))
    return segments


def files(storage: Path) -> set[str]:
    return {str(p.relative_to(storage)) for p in storage.rglob("*.mp4")}


def test_day_14_destroys_unheld_segments_keeps_held_ones_and_writes_the_register(area, storage, operator):
    camera = factories.make_camera()
    segments = add_segments(camera, storage, start=T0, count=6)
    requisition_create(created_by=operator.user, requesting_officer="OPJ Martin", service="Commissariat",
                       procedure_number="2026/00123", cameras=[camera],
                       window_start=T0 + dt.timedelta(minutes=4), window_end=T0 + dt.timedelta(minutes=5),
                       now=T0 + dt.timedelta(hours=1))
    last_end = segments[-1].end

    # A moment before the 14 days of the oldest segment: nothing goes.
    assert retention_sweep(now=T0 + dt.timedelta(days=14, seconds=59)).destroyed == 0
    assert RecordingSegment.objects.count() == 6 and not DestructionRecord.objects.exists()

    # Day 14 + a moment after the last one: all but the held one go, files first.
    result = retention_sweep(now=last_end + dt.timedelta(days=14, seconds=1))
    assert result.destroyed == 5
    kept = RecordingSegment.objects.get()
    assert kept.pk == segments[4].pk
    assert files(storage) == {kept.path}
    record = DestructionRecord.objects.get()
    assert (record.camera, record.segment_count) == (camera, 5)
    assert record.period_start == T0 and record.period_end == last_end
    assert record.total_size == sum(s.size for s in segments) - kept.size
    assert record.destroyed_at == last_end + dt.timedelta(days=14, seconds=1)

    # Idempotent: a second run destroys nothing more and writes no empty register line.
    assert retention_sweep(now=last_end + dt.timedelta(days=14, seconds=2)).destroyed == 0
    assert DestructionRecord.objects.count() == 1


def test_the_shortest_of_camera_authorisation_and_law_applies(area, storage):
    camera = factories.make_camera()
    assert retention_days(camera) == 14
    camera.retention_days = 30
    camera.save()
    factories.make_authorisation(cameras=[camera])
    authorisation = camera.authorisations.get()
    authorisation.retention_days = 7
    authorisation.save()
    assert retention_days(camera) == 7
    add_segments(camera, storage, start=T0, count=2)
    assert retention_sweep(now=T0 + dt.timedelta(days=7, minutes=1)).destroyed == 1
    assert retention_sweep(now=T0 + dt.timedelta(days=7, minutes=2)).destroyed == 1


def test_a_released_hold_lets_the_sweep_destroy(area, storage, operator, supervisor):
    from recordings.requisitions import hold_release

    camera = factories.make_camera()
    add_segments(camera, storage, start=T0, count=2)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy", procedure_number="P-1",
        cameras=[camera], window_start=T0, window_end=T0 + dt.timedelta(minutes=2),
        now=T0 + dt.timedelta(hours=1))
    later = T0 + dt.timedelta(days=20)
    assert retention_sweep(now=later).destroyed == 0
    for hold in requisition.holds.filter(segment__isnull=True):  # with its segments' holds
        hold_release(hold=hold, by=supervisor.user, reason="Classement sans suite")
    assert retention_sweep(now=later).destroyed == 2
    assert files(storage) == set()


def test_a_sweep_killed_half_way_then_run_again_leaves_a_consistent_state(area, storage, monkeypatch):
    camera = factories.make_camera()
    add_segments(camera, storage, start=T0, count=5)
    later = T0 + dt.timedelta(days=15)

    # Killed between the unlink and the commit of the third segment: its file is gone, its row
    # rolls back with its register line.
    real_delete = RecordingSegment.delete
    calls = {"n": 0}

    def dying_delete(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_delete(self, *args, **kwargs)

    monkeypatch.setattr(RecordingSegment, "delete", dying_delete)
    with pytest.raises(KeyboardInterrupt):
        retention_sweep(now=later)
    monkeypatch.undo()
    assert RecordingSegment.objects.count() == 3
    assert len(files(storage)) == 2  # one index row lost its file: never the other way round
    assert DestructionRecord.objects.get().segment_count == 2

    result = retention_sweep(now=later)
    assert (result.destroyed, result.missing_files) == (3, 1)
    assert not RecordingSegment.objects.exists() and files(storage) == set()
    assert sum(DestructionRecord.objects.values_list("segment_count", flat=True)) == 5


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_destroy_each_segment_once(area, storage):
    camera = factories.make_camera()
    add_segments(camera, storage, start=T0, count=40)
    later = T0 + dt.timedelta(days=15)
    results, errors = at_once(lambda: retention_sweep(now=later))
    assert errors == []
    assert sum(r.destroyed for r in results) == 40
    assert sum(r.missing_files for r in results) == 0
    assert not RecordingSegment.objects.exists() and files(storage) == set()
    assert sum(DestructionRecord.objects.values_list("segment_count", flat=True)) == 40
    assert not LegalHold.objects.exists()
