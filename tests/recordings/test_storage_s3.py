"""The recordings' store on a real S3 gateway (SeaweedFS on loopback): objects, ranged reads,
legal holds (S3 Object Lock) that even the hub's keys cannot break; the recorder uploading (and
buffering while the store is down), the sweep and the holds on it."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from pathlib import Path

import av
import pytest

from config.seaweed import SeaweedServer, free_base
from realtime.models import Event
from recordings.models import DestructionRecord, LegalHold, RecordingSegment
from recordings.objects import PENDING_SUFFIX, outage_frames, pending_upload
from recordings.recorder import record_camera
from recordings.requisitions import hold_release, requisition_create
from recordings.retention import retention_sweep
from recordings.storage import LocalStore, ObjectHeld, S3Store, StoreUnavailable, recording_store
from streaming.sources import open_source
from tests import factories
from tests.recordings.conftest import S3_ACCESS_KEY, S3_SECRET_KEY, use_s3
from tests.recordings.test_export import record


def test_put_read_range_list_delete(s3_storage, tmp_path):
    store = recording_store()
    assert isinstance(store, S3Store)
    store.check()
    source = tmp_path / "a.bin"
    source.write_bytes(bytes(range(256)) * 40)
    store.put_file("CAM/20261207/a.mp4", source)
    assert store.exists("CAM/20261207/a.mp4")
    assert store.size("CAM/20261207/a.mp4") == 10240
    assert store.read_range("CAM/20261207/a.mp4", 10, 5) == bytes([10, 11, 12, 13, 14])
    reader = store.open("CAM/20261207/a.mp4")
    reader.seek(-3, 2)
    assert reader.read() == bytes([253, 254, 255])
    assert list(store.keys("CAM/")) == ["CAM/20261207/a.mp4"]
    assert store.delete("CAM/20261207/a.mp4") is True
    assert not store.exists("CAM/20261207/a.mp4")
    assert list(store.keys("CAM/")) == []
    assert store.delete("CAM/20261207/a.mp4") is False
    with pytest.raises(FileNotFoundError):
        store.size("CAM/20261207/a.mp4")


def test_ranged_reader_fetches_only_what_is_read(s3_storage, tmp_path, monkeypatch):
    monkeypatch.setattr("recordings.storage.READ_BLOCK_BYTES", 4096)
    store = recording_store()
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 1_000_000)
    store.put_file("big.bin", source)
    reader = store.open("big.bin")
    reader.seek(500_000)
    assert reader.read(10) == b"x" * 10
    assert reader.fetched == 4096  # one block, not the megabyte


def test_large_file_is_sent_in_parts(s3_storage, tmp_path, monkeypatch):
    monkeypatch.setattr("recordings.storage.MULTIPART_BYTES", 5 * 1024 * 1024)
    store = recording_store()
    source = tmp_path / "large.bin"
    payload = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    source.write_bytes(payload)
    store.put_file("large.bin", source)
    assert store.size("large.bin") == len(payload)
    assert store.read_range("large.bin", 6 * 1024 * 1024, 256) == bytes(range(256))
    assert "-" in store.client.head_object(Bucket=store.bucket, Key="large.bin")["ETag"]  # multipart


def test_legal_hold_blocks_delete_even_with_the_hubs_keys(s3_storage, tmp_path):
    store = recording_store()
    source = tmp_path / "held.mp4"
    source.write_bytes(b"evidence")
    store.put_file("held.mp4", source)
    store.hold_set("held.mp4", held=True)
    assert store.held("held.mp4")
    with pytest.raises(ObjectHeld):
        store.delete("held.mp4")
    # Not even a raw DELETE of the version with the hub's credentials.
    version = store.client.head_object(Bucket=store.bucket, Key="held.mp4")["VersionId"]
    with pytest.raises(Exception, match="AccessDenied"):
        store.client.delete_object(Bucket=store.bucket, Key="held.mp4", VersionId=version)
    assert store.read_range("held.mp4", 0, 100) == b"evidence"
    store.hold_set("held.mp4", held=False)
    assert store.delete("held.mp4") is True
    assert not store.exists("held.mp4")


def test_a_store_down_is_told(settings, storage):
    settings.HUB_RECORDINGS_STORAGE = "s3"
    settings.HUB_S3_ENDPOINT = "http://127.0.0.1:9"  # discard: nothing answers S3 there
    settings.HUB_S3_ACCESS_KEY, settings.HUB_S3_SECRET_KEY = "k", "s"
    store = recording_store()
    with pytest.raises(StoreUnavailable):
        store.check()
    source = storage / "x.bin"
    source.write_bytes(b"x")
    with pytest.raises(StoreUnavailable):
        store.put_file("x.bin", source)


def test_local_store(storage, tmp_path):
    store = recording_store()
    assert isinstance(store, LocalStore)
    source = tmp_path / "a.bin"
    source.write_bytes(b"0123456789")
    store.put_file("CAM/a.mp4", source)
    assert store.read_range("CAM/a.mp4", 2, 3) == b"234"
    assert store.size("CAM/a.mp4") == 10 and list(store.keys()) == ["CAM/a.mp4"]
    assert store.delete("CAM/a.mp4") and not store.exists("CAM/a.mp4")


# --- The recorder, the sweep and the holds on SeaweedFS


def stored_files(settings) -> list[Path]:
    """What is left on the recorder's local disk (its buffer): segments and notes."""
    root = Path(settings.HUB_RECORDINGS_DIR)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def assert_index_names_stored_objects(camera) -> None:
    store = recording_store()
    for segment in RecordingSegment.objects.filter(camera=camera, is_gap=False):
        data = store.read_range(segment.path, 0, segment.size + 1)
        assert len(data) == segment.size and hashlib.sha256(data).hexdigest() == segment.sha256


def test_the_recorders_segments_end_up_in_the_store_and_indexed(area, s3_storage, settings):
    camera = factories.make_camera()
    closed = record(camera, segments=2)
    segments = list(RecordingSegment.objects.filter(camera=camera, is_gap=False))
    assert len(segments) == 2 and [s.pk for s in closed] == [s.pk for s in segments]
    assert_index_names_stored_objects(camera)
    with av.open(recording_store().open(segments[0].path), "r") as container:
        assert sum(1 for _ in container.decode(video=0)) >= 8
    assert stored_files(settings) == []  # nothing kept on the local disk once stored


def test_store_down_segments_are_buffered_then_uploaded_and_indexed_once(area, storage, settings,
                                                                          tmp_path, caplog):
    """A SeaweedFS of its own, killed for a while (as a crash: SIGKILL) then restarted on its data."""
    server = SeaweedServer(directory=tmp_path / "seaweed", base=free_base(), access_key=S3_ACCESS_KEY,
                           secret_key=S3_SECRET_KEY, max_volumes=10)
    server.start()
    try:
        use_s3(settings, server)
        camera = factories.make_camera()
        record(camera, segments=1)
        assert RecordingSegment.objects.filter(camera=camera).count() == 1

        server.stop()
        buffered = record(camera, segments=3)
        # Nothing indexed that is not stored: the three wait on the local disk, with their notes.
        assert [s.pk for s in buffered] == [None, None, None]
        assert RecordingSegment.objects.filter(camera=camera).count() == 1
        assert len([p for p in stored_files(settings) if p.suffix == ".mp4"]) == 3
        assert len([p for p in stored_files(settings) if p.name.endswith(PENDING_SUFFIX)]) == 3
        assert "object store unavailable" in caplog.text
        assert pending_upload() == 0  # still down: nothing lost, nothing indexed
        # The alarm, once for the outage (not per segment), to the centre alone.
        alarms = list(Event.objects.filter(type="storage.unavailable"))
        assert len(alarms) == 1 and alarms[0].audience == ["csu"]
        assert alarms[0].data["pending"] == 1 and alarms[0].data["detail"]  # the first segment buffered
        assert not Event.objects.filter(type="storage.available").exists()
        # The console's alarm strip, at load or from GET /api/alarms/, counts the three waiting now.
        [in_force] = outage_frames()
        assert in_force["data"]["pending"] == 3

        server.start()
        assert pending_upload() == 3
        ends = list(Event.objects.filter(type="storage.available"))
        assert len(ends) == 1 and ends[0].audience == ["csu"]
        assert (ends[0].data["uploaded"], ends[0].data["pending"]) == (3, 0)
        assert ends[0].data["since"] == alarms[0].data["since"]
        rows = list(RecordingSegment.objects.filter(camera=camera).order_by("start"))
        assert len(rows) == 4 and not any(r.is_gap for r in rows)
        assert ([(r.start, r.end, r.sha256) for r in rows[1:]]
                == [(b.start, b.end, b.sha256) for b in buffered])
        assert_index_names_stored_objects(camera)
        assert stored_files(settings) == []
        assert pending_upload() == 0  # once
        assert RecordingSegment.objects.filter(camera=camera).count() == 4
        record(camera, segments=1)  # recording goes on: no new alarm, no second end of it
        assert Event.objects.filter(type="storage.unavailable").count() == 1
        assert Event.objects.filter(type="storage.available").count() == 1
    finally:
        server.stop()


def test_a_crash_between_the_upload_and_the_note_removal_indexes_once(area, s3_storage, settings,
                                                                       monkeypatch):
    camera = factories.make_camera()
    real_unlink = Path.unlink
    calls = []

    def crash_on_note(self, missing_ok=False):
        if self.name.endswith(PENDING_SUFFIX) and not calls:
            calls.append(self)
            raise KeyboardInterrupt  # the recorder killed after the index, before the note went
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_on_note)
    with pytest.raises(KeyboardInterrupt):
        record(camera, segments=1)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert RecordingSegment.objects.filter(camera=camera).count() == 1
    assert pending_upload() == 0
    assert RecordingSegment.objects.filter(camera=camera).count() == 1
    assert stored_files(settings) == []


T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def stored_segments(camera, *, count: int, tmp_path) -> list[RecordingSegment]:
    """``count`` consecutive one-minute segments, put in the store, then indexed."""
    store, segments = recording_store(), []
    for i in range(count):
        begin = T0 + dt.timedelta(minutes=i)
        key = f"{camera.code}/{begin:%Y%m%d}/{begin:%Y%m%dT%H%M%S}.mp4"
        data = f"{camera.code} {begin.isoformat()}".encode() * 10
        source = tmp_path / "upload.bin"
        source.write_bytes(data)
        store.put_file(key, source)
        segments.append(RecordingSegment.objects.create(
            camera=camera, start=begin, end=begin + dt.timedelta(minutes=1), size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), path=key))
    return segments


def test_retention_on_s3_deletes_objects_keeps_held_ones_and_writes_the_register(
        area, s3_storage, operator, supervisor, tmp_path):
    camera = factories.make_camera()
    segments = stored_segments(camera, count=4, tmp_path=tmp_path)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="Commissariat",
        procedure_number="2026/00123", cameras=[camera], window_start=segments[2].start,
        window_end=segments[2].end, now=T0 + dt.timedelta(hours=1))
    store = recording_store()
    # The held segment's object carries an S3 legal hold: the hub's own keys cannot delete it.
    assert store.held(segments[2].path) and not store.held(segments[1].path)
    with pytest.raises(ObjectHeld):
        store.delete(segments[2].path)

    result = retention_sweep(now=segments[-1].end + dt.timedelta(days=14, seconds=1))
    assert result.destroyed == 3
    assert list(store.keys(f"{camera.code}/")) == [segments[2].path]
    assert list(RecordingSegment.objects.filter(camera=camera)) == [segments[2]]
    record = DestructionRecord.objects.get()
    assert (record.camera, record.segment_count) == (camera, 3)
    assert record.total_size == sum(s.size for s in segments) - segments[2].size

    # Released: the store's hold goes with it, and the next sweep destroys the object.
    for hold in LegalHold.objects.filter(requisition=requisition, segment__isnull=True):
        hold_release(hold=hold, by=supervisor.user, reason="Procédure classée")
    assert not store.held(segments[2].path)
    assert retention_sweep(now=segments[-1].end + dt.timedelta(days=14, minutes=5)).destroyed == 1
    assert list(store.keys(f"{camera.code}/")) == [] and not RecordingSegment.objects.filter(camera=camera)


def test_an_object_held_in_the_store_only_is_kept_and_the_sweep_goes_on(area, s3_storage, tmp_path, caplog):
    camera = factories.make_camera()
    segments = stored_segments(camera, count=3, tmp_path=tmp_path)
    recording_store().hold_set(segments[0].path, held=True)  # the index holds nothing
    result = retention_sweep(now=segments[-1].end + dt.timedelta(days=14, seconds=1))
    assert result.destroyed == 2 and result.held_in_store == {segments[0].path}
    assert list(RecordingSegment.objects.filter(camera=camera)) == [segments[0]]
    assert recording_store().exists(segments[0].path)
    assert "under a legal hold in the object store" in caplog.text
    assert DestructionRecord.objects.get().segment_count == 2


def test_a_store_answering_errors_indexes_nothing_until_it_takes_the_segment(area, s3_storage, settings,
                                                                             seaweed):
    camera = factories.make_camera()
    settings.HUB_S3_SECRET_KEY = "not-the-hubs"  # every request answers 403 (bad signature)
    buffered = record(camera, segments=1)
    assert buffered[0].pk is None and not RecordingSegment.objects.filter(camera=camera).exists()
    settings.HUB_S3_SECRET_KEY = seaweed.secret_key  # the store's keys fixed
    assert pending_upload() == 1
    assert RecordingSegment.objects.filter(camera=camera).count() == 1
    assert_index_names_stored_objects(camera)


def test_a_snapshot_reads_a_part_of_its_segment_not_all_of_it(area, s3_storage, operator, monkeypatch):
    from recordings.snapshots import snapshot_take

    monkeypatch.setattr("recordings.storage.READ_BLOCK_BYTES", 4096)
    fetched = []
    real = S3Store.read_range

    def counted(self, key, start, length):
        data = real(self, key, start, length)
        if key.endswith(".mp4"):
            fetched.append(len(data))
        return data

    monkeypatch.setattr(S3Store, "read_range", counted)
    camera = factories.make_camera()
    stop = threading.Event()
    record_camera(camera=camera, stop=stop, segment_seconds=3, on_segment=lambda s: stop.set(),
                  opener=lambda: open_source("synthetic:640x360@20", name=camera.name, default_size="640x360",
                                             default_fps=20, timeout=2))
    segment = RecordingSegment.objects.get(camera=camera)
    fetched.clear()
    snapshot_take(camera=camera, by=operator.user, at=segment.start + dt.timedelta(seconds=0.1))
    # The MP4's index and the first pictures: not the three seconds after them.
    assert 0 < sum(fetched) < segment.size / 2, (sum(fetched), segment.size)


def test_a_segment_another_upload_pass_took_first_is_returned_indexed_once(area, s3_storage, monkeypatch):
    """``run_recorders``' upload pass may take a segment's note between its writing and the camera
    thread's upload: the thread finds it indexed, and nothing is indexed twice."""
    import recordings.objects as objects

    real_lock = objects._upload_lock

    class OtherPassFirst:
        def __enter__(self):
            real_lock.acquire()
            for note in Path(objects.settings.HUB_RECORDINGS_DIR).rglob("*" + PENDING_SUFFIX):
                objects._upload(note)  # the other thread's pass, just before this one
            return self

        def __exit__(self, *exc):
            real_lock.release()

    monkeypatch.setattr(objects, "_upload_lock", OtherPassFirst())
    camera = factories.make_camera()
    closed = record(camera, segments=2)
    rows = list(RecordingSegment.objects.filter(camera=camera, is_gap=False).order_by("start"))
    assert [s.pk for s in closed] == [r.pk for r in rows] and None not in [s.pk for s in closed]
    assert_index_names_stored_objects(camera)


@pytest.mark.django_db(transaction=True)
def test_a_recorder_nodes_uploader_sends_the_backlog_once_the_store_answers(area, s3_storage, settings,
                                                                           seaweed):
    from recordings.objects import pending_uploader

    camera = factories.make_camera()
    settings.HUB_S3_SECRET_KEY = "not-the-hubs"
    assert record(camera, segments=1)[0].pk is None  # buffered, and the camera no longer recorded
    settings.HUB_S3_SECRET_KEY = seaweed.secret_key
    stop = threading.Event()
    thread = pending_uploader(stop=stop, every=0.2)
    try:
        for _ in range(100):
            if RecordingSegment.objects.filter(camera=camera).exists():
                break
            stop.wait(0.1)
    finally:
        stop.set()
        thread.join(5)
    assert RecordingSegment.objects.filter(camera=camera).count() == 1
    assert_index_names_stored_objects(camera)


def test_the_alarm_is_announced_once_per_outage_however_many_processes_see_it(db, storage, settings):
    """Two recorder processes failing (each its own log state): one ``storage.unavailable``; a
    pass with nothing to send ends it only once the store answers; a new outage, a new alarm."""
    import recordings.objects as objects

    settings.HUB_RECORDINGS_STORAGE = "s3"
    settings.HUB_S3_ENDPOINT = "http://127.0.0.1:9"  # discard: nothing answers S3 there
    settings.HUB_S3_ACCESS_KEY, settings.HUB_S3_SECRET_KEY = "k", "s"
    objects._alarm("upload of A/1.mp4: connection refused")
    objects._store_down.clear()  # another process, which has not seen the outage yet
    objects._alarm("upload of B/1.mp4: connection refused")
    alarms = Event.objects.filter(type="storage.unavailable")
    assert [a.data["detail"] for a in alarms] == ["upload of A/1.mp4: connection refused"]

    objects._recovered(0)  # an upload pass with nothing to send: the store is asked, still down
    assert not Event.objects.filter(type="storage.available").exists()
    settings.HUB_RECORDINGS_STORAGE = "local"  # now it answers
    objects._recovered(0)
    objects._recovered(2)  # the other process's pass: the outage is closed already
    ends = Event.objects.filter(type="storage.available")
    assert [(e.data["uploaded"], e.data["since"]) for e in ends] == [(0, alarms[0].data["since"])]

    objects._alarm("put_object: SlowDown")  # a new outage
    assert Event.objects.filter(type="storage.unavailable").count() == 2
    objects._store_down.clear()
