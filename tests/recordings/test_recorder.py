"""The recorder: closed segments indexed with size and SHA-256, gaps, a full disk, RTSP remuxed."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from cameras.choices import CameraStatus
from realtime.models import Event
from recordings.models import RecordingSegment
from recordings.recorder import file_sha256, record_camera
from streaming.sources import SourceUnavailable, open_source
from tests import factories


@pytest.fixture
def storage(settings, tmp_path):
    settings.HUB_RECORDINGS_DIR = tmp_path / "recordings"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    return settings.HUB_RECORDINGS_DIR


def synthetic(camera):
    return lambda: open_source("synthetic:160x96@20", name=camera.name, default_size="160x96",
                               default_fps=20, timeout=2)


def stop_after(count: int):
    stop, closed = threading.Event(), []

    def on_segment(segment):
        closed.append(segment)
        if len(closed) >= count:
            stop.set()
    return stop, closed, on_segment


def test_segments_are_closed_hashed_and_indexed(area, storage):
    camera = factories.make_camera()
    stop, closed, on_segment = stop_after(2)
    assert record_camera(camera=camera, stop=stop, segment_seconds=0.5, opener=synthetic(camera),
                         on_segment=on_segment) == "stopped"
    segments = list(RecordingSegment.objects.filter(camera=camera, is_gap=False))
    assert len(segments) >= 2
    for segment in segments:
        path = Path(storage) / segment.path
        assert path.stat().st_size == segment.size and file_sha256(path) == segment.sha256
        assert segment.end > segment.start
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in container.decode(video=0)) >= 8
    assert not list(Path(storage).rglob("*.part"))


@pytest.mark.django_db(transaction=True)
def test_a_recording_thread_holds_no_database_connection_between_segments(storage):
    # One row a minute per camera: a thread that kept its connection would hold one of the
    # pool's DB_POOL_MAX for good, and a process could record no more cameras than that.
    from django.db import connection

    factories.make_commune()
    camera = factories.make_camera()
    stop, closed, on_segment = stop_after(3)
    held_after_first: list[bool] = []

    def opener():
        source = synthetic(camera)()
        read = source.read

        def watched():
            for item in read():
                if closed:  # the first segment is indexed: the thread writes nothing until the next
                    held_after_first.append(connection.connection is not None)
                yield item
        source.read = watched
        return source

    thread = threading.Thread(target=record_camera, kwargs=dict(
        camera=camera, stop=stop, segment_seconds=0.3, opener=opener, on_segment=on_segment))
    thread.start()
    thread.join(30)
    assert not thread.is_alive() and len(closed) >= 3
    assert RecordingSegment.objects.filter(camera=camera, is_gap=False).count() >= 3
    assert held_after_first and not any(held_after_first)


def test_each_segment_starts_when_its_first_picture_came_however_long_the_previous_upload_took(
        area, storage):
    """The wall clock is driven here: a picture every 50 ms, on time unless the recorder is busy
    (then they come at once, late, as a paced source or a camera's TCP stream give them), and
    closing every other segment (its upload) takes 400 ms. The index still says when each
    segment's pictures were taken, and no two segments of the camera overlap (an extraction would
    otherwise show their pictures out of order)."""
    import datetime as dt

    import time_machine

    from streaming.sources import VIDEO_CLOCK, VIDEO_TIME_BASE, SyntheticSource

    t0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    camera = factories.make_camera()
    stop, closed, on_segment = stop_after(6)

    with time_machine.travel(t0, tick=False) as clock:
        class OnTimeOrLate(SyntheticSource):
            def read(self):
                for index in range(10_000):
                    due = t0 + dt.timedelta(seconds=index / self.fps)
                    if dt.datetime.now(dt.UTC) < due:
                        clock.move_to(due)
                    frame = self.frame_at(due.timestamp(), index)
                    frame.pts, frame.time_base = round(index * VIDEO_CLOCK / self.fps), VIDEO_TIME_BASE
                    yield frame

        def slow_upload(segment):
            on_segment(segment)
            if len(closed) % 2:
                clock.shift(0.4)

        record_camera(camera=camera, stop=stop, segment_seconds=0.5, on_segment=slow_upload,
                      opener=lambda: OnTimeOrLate(name=camera.name, width=160, height=96, fps=20))
    segments = list(RecordingSegment.objects.filter(camera=camera, is_gap=False).order_by("start"))
    assert [(s.start, s.end) for s in segments] == [
        (t0 + dt.timedelta(seconds=0.5 * i), t0 + dt.timedelta(seconds=0.5 * (i + 1))) for i in range(6)]


def test_the_time_the_source_was_down_is_indexed_as_a_gap(area, storage):
    camera = factories.make_camera()
    stop, closed, on_segment = stop_after(1)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) == 1:
            raise SourceUnavailable("camera unreachable")
        return synthetic(camera)()

    record_camera(camera=camera, stop=stop, segment_seconds=0.3, opener=flaky, reconnect_seconds=0.2,
                  on_segment=on_segment)
    gap = RecordingSegment.objects.get(camera=camera, is_gap=True)
    assert gap.path == "" and gap.end > gap.start
    assert RecordingSegment.objects.filter(camera=camera, is_gap=False, start__gte=gap.end).exists()


def test_a_full_disk_stops_the_recorder_raises_the_alarm_and_indexes_nothing(area, storage, settings):
    settings.HUB_RECORDING_MIN_FREE_BYTES = 10**18
    camera = factories.make_camera()
    assert record_camera(camera=camera, stop=threading.Event(), segment_seconds=0.3,
                         opener=synthetic(camera)) == "storage_full"
    camera.refresh_from_db()
    assert camera.status == CameraStatus.OFFLINE
    event = Event.objects.get(type="camera.status")
    assert "stockage plein" in event.data["camera"]["detail"]
    assert not RecordingSegment.objects.exists()
    assert not [p for p in Path(storage).rglob("*") if p.is_file()]


def test_an_h264_camera_is_remuxed_not_reencoded(area, storage, rtsp_server):
    camera = factories.make_camera()
    camera.stream_uri = rtsp_server.url
    camera.save()
    stop, closed, on_segment = stop_after(2)
    opener = lambda: open_source(rtsp_server.url, name="x", default_size="", default_fps=25, timeout=3)  # noqa: E731
    record_camera(camera=camera, stop=stop, segment_seconds=0.5, opener=opener, on_segment=on_segment)
    source_packets = None
    for segment in closed:
        with av.open(str(Path(storage) / segment.path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            packets = [p for p in container.demux(stream) if p.size]
            assert packets[0].is_keyframe  # cut on a keyframe: each segment plays on its own
            source_packets = len(packets)
    assert source_packets
