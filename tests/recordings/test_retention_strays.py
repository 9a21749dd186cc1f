"""Objects of the store no index row names (*strays*: a recorder killed between an upload and its
row) follow the retention rule too: destroyed once their day is past the camera's retention,
registered as not indexed, kept while younger or held. On a directory and on SeaweedFS (time is
passed in, or derived from the clock, never read as a fixed value)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from django.utils import timezone

from recordings.models import DestroyedObject, DestructionRecord, LegalHold, RecordingSegment, Snapshot
from recordings.requisitions import hold_release, requisition_create
from recordings.retention import STRAY_MARGIN, SweepResult, _Register, _sweep_strays, retention_sweep
from recordings.storage import recording_store
from tests import factories
from tests.threads import at_once

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def day_end(moment: dt.datetime) -> dt.datetime:
    """The end (UTC) of the day ``moment`` names in its keys."""
    return dt.datetime.combine(moment.date(), dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)


def past_retention(moment: dt.datetime, days: int = 14) -> dt.datetime:
    """The first moment at which the whole day of ``moment`` is past ``days`` of retention."""
    return day_end(moment) + dt.timedelta(days=days) + STRAY_MARGIN + dt.timedelta(seconds=1)


def put(key: str, tmp_path: Path, data: bytes) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    recording_store().put_file(key, source)


def segment_key(camera, start: dt.datetime) -> str:
    return f"{camera.code}/{start:%Y%m%d}/{start:%Y%m%dT%H%M%S%fZ}.mp4"


def stray(camera, start: dt.datetime, tmp_path: Path) -> tuple[str, int]:
    """A segment uploaded whose recorder was killed before its index row: its key and size."""
    key = segment_key(camera, start)
    data = f"stray {camera.code} {start.isoformat()}".encode() * 7
    put(key, tmp_path, data)
    return key, len(data)


def indexed(camera, start: dt.datetime, tmp_path: Path) -> RecordingSegment:
    key = segment_key(camera, start)
    data = f"{camera.code} {start.isoformat()}".encode() * 10
    put(key, tmp_path, data)
    return RecordingSegment.objects.create(camera=camera, start=start, end=start + dt.timedelta(minutes=1),
                                           size=len(data), sha256=hashlib.sha256(data).hexdigest(), path=key)


def keys(camera) -> list[str]:
    store = recording_store()
    return list(store.keys(f"{camera.code}/")) + list(store.keys(f"snapshots/{camera.code}/"))


def test_a_stray_past_its_retention_is_destroyed_and_registered_as_not_indexed(area, any_storage, tmp_path):
    camera = factories.make_camera()
    segments = [indexed(camera, T0, tmp_path), indexed(camera, T0 + dt.timedelta(minutes=2), tmp_path)]
    key, size = stray(camera, T0 + dt.timedelta(minutes=1), tmp_path)
    # A snapshot written to the store whose row never was.
    snapshot_key = f"snapshots/{camera.code}/{T0:%Y%m%d}/100130_000000-0badcafe.jpg"
    put(snapshot_key, tmp_path, b"\xff\xd8 jpeg " * 5)
    if recording_store().kind == "local":
        # A directory store shares its tree with the recorder: a segment being written (or left
        # by a killed recorder) is no object of the store.
        part = Path(any_storage) / "recordings" / f"{key}.part"
        part.write_bytes(b"half a segment")

    now = past_retention(T0)
    result = retention_sweep(now=now)

    assert result.destroyed == 2 and result.strays == 2
    assert keys(camera) == [] and not RecordingSegment.objects.exists()
    lines = {line.object: line for line in DestructionRecord.objects.filter(camera=camera)}
    assert set(lines) == {DestroyedObject.RECORDING, DestroyedObject.UNINDEXED_RECORDING,
                          DestroyedObject.UNINDEXED_SNAPSHOT}
    assert lines[DestroyedObject.RECORDING].segment_count == len(segments)
    unindexed = lines[DestroyedObject.UNINDEXED_RECORDING]
    assert (unindexed.segment_count, unindexed.total_size, unindexed.destroyed_at) == (1, size, now)
    # The period is the day the key names (UTC): its end is not known.
    assert (unindexed.period_start, unindexed.period_end) == (day_end(T0) - dt.timedelta(days=1), day_end(T0))
    assert lines[DestroyedObject.UNINDEXED_SNAPSHOT].segment_count == 1
    if recording_store().kind == "local":
        assert part.read_bytes() == b"half a segment"

    # The auditor reads it in the register, in French.
    assert unindexed.get_object_display() == "enregistrements non indexés"

    # Idempotent: later sweeps, the same day and the next, destroy and register nothing more.
    assert retention_sweep(now=now + dt.timedelta(minutes=5)).strays == 0
    assert retention_sweep(now=now + dt.timedelta(days=1)).strays == 0
    assert DestructionRecord.objects.filter(camera=camera).count() == 3


def test_a_stray_within_its_retention_is_kept_until_its_whole_day_is_past(area, any_storage, tmp_path):
    camera = factories.make_camera()
    key, _size = stray(camera, T0, tmp_path)
    # 14 days after the object itself, but not after the whole of its day: its node may still
    # come back and index it.
    assert retention_sweep(now=T0 + dt.timedelta(days=14, hours=2)).strays == 0
    assert retention_sweep(now=past_retention(T0) - dt.timedelta(seconds=2)).strays == 0
    assert keys(camera) == [key] and not DestructionRecord.objects.exists()

    assert retention_sweep(now=past_retention(T0)).strays == 1
    assert keys(camera) == []


def test_a_shorter_retention_applies_to_strays_too(area, any_storage, tmp_path):
    camera = factories.make_camera()
    camera.retention_days = 3
    camera.save()
    stray(camera, T0, tmp_path)
    assert retention_sweep(now=past_retention(T0, days=3)).strays == 1
    assert keys(camera) == []


def test_a_held_stray_is_kept_until_the_hold_is_released(area, any_storage, tmp_path, operator, supervisor):
    # Times derived from the clock: the release is stamped with it, and must come after the sweeps.
    start = dt.datetime.combine(timezone.now().date() - dt.timedelta(days=30), dt.time(10), tzinfo=dt.UTC)
    camera = factories.make_camera()
    key, _size = stray(camera, start + dt.timedelta(minutes=1), tmp_path)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy", procedure_number="P-7",
        cameras=[camera], window_start=start, window_end=start + dt.timedelta(minutes=5),
        now=start + dt.timedelta(hours=1))

    now = past_retention(start)
    result = retention_sweep(now=now)
    assert (result.strays, result.strays_held) == (0, 1)
    assert keys(camera) == [key]
    assert not DestructionRecord.objects.filter(object=DestroyedObject.UNINDEXED_RECORDING).exists()

    for hold in LegalHold.objects.filter(requisition=requisition, segment__isnull=True):
        hold_release(hold=hold, by=supervisor.user, reason="Procédure classée")
    # The release makes the camera looked at again at the next sweep, not the next day.
    assert retention_sweep(now=now + dt.timedelta(minutes=5)).strays == 1
    assert keys(camera) == []
    assert DestructionRecord.objects.get(object=DestroyedObject.UNINDEXED_RECORDING).segment_count == 1


def test_the_stray_step_leaves_what_the_index_names(area, any_storage, tmp_path, operator):
    camera = factories.make_camera()
    segment = indexed(camera, T0, tmp_path)
    snapshot_key = f"snapshots/{camera.code}/{T0:%Y%m%d}/100010_000000-12345678.jpg"
    put(snapshot_key, tmp_path, b"\xff\xd8 jpeg")
    Snapshot.objects.create(camera=camera, taken_at=T0 + dt.timedelta(seconds=10), created_by=operator.user,
                            path=snapshot_key, size=7, sha256="0" * 64)
    stray_key, _size = stray(camera, T0 + dt.timedelta(minutes=1), tmp_path)

    # The step alone (the segment and snapshot steps have not run): only the stray goes.
    now = past_retention(T0)
    result = SweepResult()
    _sweep_strays(now=now, register=_Register(now), result=result)
    assert result.strays == 1
    assert sorted(keys(camera)) == sorted([segment.path, snapshot_key])
    assert RecordingSegment.objects.filter(pk=segment.pk).exists() and Snapshot.objects.exists()
    assert stray_key not in keys(camera)


def test_a_store_lists_a_cameras_days_after_a_given_one(area, any_storage, tmp_path):
    store = recording_store()
    for key in ("CAM-1/20260302/a.mp4", "CAM-1/20260303/b.mp4", "CAM-1/20260304/c.mp4",
                "CAM-10/20260302/d.mp4"):
        put(key, tmp_path, b"x")
    assert list(store.prefixes("CAM-1/")) == ["CAM-1/20260302/", "CAM-1/20260303/", "CAM-1/20260304/"]
    # After a day: the later ones (the day itself may come back or not, as stores differ).
    after = [p for p in store.prefixes("CAM-1/", start_after="CAM-1/20260302") if p != "CAM-1/20260302/"]
    assert after == ["CAM-1/20260303/", "CAM-1/20260304/"]
    assert list(store.keys("CAM-1/20260303/")) == ["CAM-1/20260303/b.mp4"]


def test_each_look_lists_only_the_days_after_the_last_one_looked_at(area, any_storage, tmp_path,
                                                                    monkeypatch):
    camera = factories.make_camera()
    stray(camera, T0, tmp_path)
    second, _size = stray(camera, T0 + dt.timedelta(days=1), tmp_path)
    store = recording_store()
    listed: list[str] = []
    real_keys = store.keys

    def keys_listed(prefix=""):
        listed.append(prefix)
        return real_keys(prefix)

    monkeypatch.setattr(store, "keys", keys_listed)
    assert retention_sweep(now=past_retention(T0)).strays == 1
    assert listed == [f"{camera.code}/{T0:%Y%m%d}/"]
    assert keys(camera) == [second]

    # The next day: only the day now past (the first one, emptied, is not listed again, though a
    # store may keep its prefix); the sweeps after it the same day list nothing.
    listed.clear()
    next_day = T0 + dt.timedelta(days=1)
    assert retention_sweep(now=past_retention(next_day)).strays == 1
    assert retention_sweep(now=past_retention(next_day) + dt.timedelta(minutes=5)).strays == 0
    assert listed == [f"{camera.code}/{next_day:%Y%m%d}/"]
    assert keys(camera) == []


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_destroy_and_register_each_stray_once(area, any_storage, tmp_path):
    camera = factories.make_camera()
    for i in range(20):
        stray(camera, T0 + dt.timedelta(minutes=i), tmp_path)
    results, errors = at_once(lambda: retention_sweep(now=past_retention(T0)))
    assert errors == []
    assert sum(r.strays for r in results) == 20
    assert keys(camera) == []
    lines = DestructionRecord.objects.filter(object=DestroyedObject.UNINDEXED_RECORDING)
    assert sum(lines.values_list("segment_count", flat=True)) == 20
