"""The pieces of the video pipeline on their own: the test pattern, masks, the watermark,
timestamps, H.264 parameter sets, what an offer must be; the services the pipelines call."""

from __future__ import annotations

import datetime as dt
import time

import av
import numpy as np
import pytest
from django.utils import timezone

from cameras.choices import CameraStatus
from partners.audit import Action
from partners.models import AuditRecord
from realtime.models import Event
from streaming.masking import MaskPainter, Watermark, rasterise
from streaming.models import MaskLift
from streaming.pipeline import H264Encoder, Timeline, annexb_parameter_sets, copy_frame, nal_types
from streaming.selectors import camera_current_preset, masks_in_force
from streaming.services import camera_preset_report, camera_status_set, mask_lift
from streaming.sources import (
    VIDEO_CLOCK,
    VIDEO_TIME_BASE,
    SyntheticSource,
    open_source,
    plane,
    read_barcode,
    redact,
    synthetic_spec,
)
from streaming.whep import BadOffer, validate_offer
from tests import factories
from tests.streaming.peer import WhepPeer

SQUARE = [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]


def rgb(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def test_the_test_pattern_is_bright_everywhere_and_carries_name_time_and_a_barcode():
    source = SyntheticSource(name="Gare — mât 3", width=320, height=180, fps=25)
    now = time.time()
    frame = source.frame_at(now, 7)
    picture = rgb(frame)
    # No black area: every pixel has a channel above 60 (the darkest is the grey text box).
    assert picture.max(axis=2).min() > 60
    assert read_barcode(plane(frame, 0)) == int(now * 1000) & 0xFFFFFFFF
    # The time moves: two frames a second apart differ in the text box.
    later = rgb(source.frame_at(now + 1, 8))
    assert (picture[:15] != later[:15]).any()


def test_the_synthetic_source_is_paced_and_sized_by_its_uri():
    assert synthetic_spec("synthetic:", default_size="1280x720", default_fps=25) == \
        synthetic_spec("synthetic:1280x720@25", default_size="64x64", default_fps=1)
    spec = synthetic_spec("synthetic:641x361@15", default_size="1280x720", default_fps=25)
    assert (spec.width, spec.height, spec.fps) == (640, 360, 15)
    source = open_source("synthetic:160x90@50", name="x", default_size="1280x720", default_fps=25, timeout=1)
    started = time.monotonic()
    frames = []
    for frame in source.read():
        frames.append(frame)
        if len(frames) == 10:
            source.interrupt()
    assert (frames[0].width, frames[0].height) == (160, 90)
    # 10 frames at 50 fps, in real time: never sooner than their schedule, and each stamped with
    # its place on it, 1/50 s after the one before (however late a busy machine reads them).
    assert time.monotonic() - started >= 0.15
    assert [f.pts for f in frames] == [i * VIDEO_CLOCK // 50 for i in range(10)]
    assert frames[0].time_base == VIDEO_TIME_BASE


def test_credentials_never_leave_in_a_uri():
    assert redact("rtsp://admin:secret@10.1.2.3:554/stream1") == "rtsp://10.1.2.3:554/stream1"
    assert redact("synthetic:") == "synthetic:"


def test_a_mask_is_painted_black_exactly_where_it_is():
    source = SyntheticSource(name="x", width=320, height=180, fps=25)
    frame = source.frame_at(time.time(), 0)
    painter = MaskPainter([SQUARE], 320, 180)
    assert 0.24 < painter.covered < 0.27
    painter.paint(frame)
    picture = rgb(frame)
    assert picture[50:130, 85:235].max() < 25  # inside: black
    assert picture[60:110, 5:70].max(axis=2).min() > 200  # outside: the bars, untouched
    # Chroma is neutral under the mask, whatever the plane's padding.
    assert (plane(frame, 1)[25:65, 42:118] == 128).all()


def test_masks_of_a_preset_only_when_the_camera_is_in_it():
    mask = rasterise([[[0, 0], [1, 0], [1, 0.1]]], 100, 100)
    assert mask[1, 90] and not mask[50, 50]
    assert not rasterise([[[0, 0], [1, 1]]], 10, 10).any()  # not a polygon: nothing


def test_a_decoded_frame_is_copied_before_painting():
    source = SyntheticSource(name="x", width=64, height=64, fps=25)
    frame = source.frame_at(time.time(), 0)
    copy = copy_frame(frame)
    MaskPainter([SQUARE], 64, 64).paint(copy)
    assert plane(frame, 0)[32, 32] != plane(copy, 0)[32, 32]


def test_the_watermark_is_burned_then_removed_for_the_next_encode():
    source = SyntheticSource(name="x", width=640, height=360, fps=25)
    frame = source.frame_at(time.time(), 0)
    before = plane(frame, 0).copy()
    mark = Watermark(640, 360)
    saved = mark.stamp(frame, "Police nationale · agent-1 · 26/11/2026 21:14:03")
    stamped = plane(frame, 0).copy()
    changed = np.argwhere(stamped != before)
    assert len(changed) > 500
    assert changed[:, 0].min() > 360 // 2 and changed[:, 1].max() > 640 // 2  # bottom right
    mark.restore(frame, saved)
    assert (plane(frame, 0) == before).all()


def test_a_long_watermark_is_drawn_whole_inside_a_small_picture():
    # A service's full name, the agent and the time on a 640-pixel wide picture: every glyph
    # inside the picture, with a margin on both sides, none cut at the right edge.
    source = SyntheticSource(name="x", width=640, height=360, fps=25)
    frame = source.frame_at(time.time(), 0)
    before = plane(frame, 0).copy()
    text = ("Police nationale — commissariat de Montmorency · agent-pn-montmorency · "
            "07/12/2026 15:23:34")
    Watermark(640, 360).stamp(frame, text)
    changed = np.argwhere(plane(frame, 0) != before)
    assert len(changed) > 500
    assert changed[:, 1].min() >= 4 and changed[:, 1].max() <= 640 - 4


def test_the_timeline_never_goes_back_across_reconnections():
    timeline = Timeline()
    base = [timeline.map(p, VIDEO_TIME_BASE) for p in (1000, 4600, 8200)]
    assert base == [0, 3600, 7200]
    timeline.restart()  # the camera came back with its clock at zero
    after = [timeline.map(p, VIDEO_TIME_BASE) for p in (0, 3600)]
    assert after[0] > base[-1] and after[1] - after[0] == 3600
    assert timeline.map(None, None) > after[1]


def test_key_frames_get_the_parameter_sets_they_lack():
    sps, pps = b"\x67\x42\xc0\x1e\xda", b"\x68\xce\x3c\x80"
    avcc = bytes([1, 0x42, 0xC0, 0x1E, 0xFF, 0xE1]) + len(sps).to_bytes(2, "big") + sps + \
        bytes([1]) + len(pps).to_bytes(2, "big") + pps
    annexb = annexb_parameter_sets(avcc)
    assert annexb == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    assert annexb_parameter_sets(annexb) == annexb
    assert nal_types(annexb + b"\x00\x00\x01\x65\x88") == [7, 8, 5]


def test_our_encoder_repeats_sps_pps_on_key_frames_and_obeys_key_frame_requests():
    source = SyntheticSource(name="x", width=160, height=90, fps=25)
    encoder = H264Encoder(width=160, height=90, fps=25, bitrate=300_000, keyframe_seconds=2, threads=1)
    keys = []
    for i in range(80):
        frame = source.frame_at(time.time(), i)
        frame.pts, frame.time_base = i * 3600, VIDEO_TIME_BASE
        for packet in encoder.encode(frame, keyframe=(i == 10)):
            assert packet.time_base == VIDEO_TIME_BASE and packet.pts == i * 3600
            if packet.is_keyframe:
                keys.append(i)
                assert nal_types(bytes(packet))[:2] == [7, 8]
    assert keys == [0, 10, 60]  # the first, the requested one, then every 2 s from there


def test_what_an_offer_must_be():
    offer = WhepPeer().offer()
    assert validate_offer(offer.encode()).startswith("v=0")
    for body, why in [(b"\xff\xfe", "UTF-8"), (b"hello", "v=0"), (b"v=0\r\nm=video", "SDP"),
                      (WhepPeer().offer(video=False).encode(), "pas de ligne m= vidéo"),
                      (offer.replace("a=setup:actpass", "a=setup:passive").encode(), "actpass"),
                      (offer.replace("a=recvonly", "a=sendonly").encode(), "recvonly"),
                      (offer.replace("H264", "H266").encode(), "H.264"),
                      (b"v=0\r\n" + b" " * 70_000, "au plus")]:
        with pytest.raises(BadOffer, match=why):
            validate_offer(body)


# --- Services the pipelines and the supervisors call.


@pytest.mark.django_db
def test_the_camera_status_is_published_to_the_centre_when_it_changes_only(area):
    camera = factories.make_camera()
    assert camera.status == CameraStatus.ONLINE
    assert camera_status_set(camera_id=camera.pk, online=True) is False  # no news
    assert camera_status_set(camera_id=camera.pk, online=False, detail="lost") is True
    assert camera_status_set(camera_id=camera.pk, online=False) is False
    events = list(Event.objects.filter(type="camera.status"))
    assert len(events) == 1 and events[0].audience == ["csu"]
    assert events[0].data["camera"] == {"id": camera.pk, "code": camera.code, "name": camera.name,
                                        "status": "offline", "detail": "lost"}
    camera.refresh_from_db()
    camera.status = CameraStatus.MAINTENANCE
    camera.save()
    assert camera_status_set(camera_id=camera.pk, online=True) is False  # a supervisor's decision
    camera.refresh_from_db()
    assert camera.status == CameraStatus.MAINTENANCE


@pytest.mark.django_db
def test_masks_in_force_follow_the_preset_and_lifts_apply_to_the_centre_only(area, supervisor):
    from cameras.services import mask_create

    camera = factories.make_camera(kind="ptz", presets=[
        {"number": 1, "name": "Gare", "heading": 10, "angle": 40, "range_m": 80},
        {"number": 2, "name": "Parvis", "heading": 200, "angle": 40, "range_m": 80}])
    wide = mask_create(camera=camera, polygon=SQUARE, created_by=supervisor.user, liftable=True)
    preset1 = camera.presets.get(number=1)
    mask_create(camera=camera, polygon=[[0, 0], [0.2, 0], [0.2, 0.2]], preset=preset1,
                created_by=supervisor.user)
    assert len(masks_in_force(camera.pk).partners) == 1
    assert len(masks_in_force(camera.pk, preset=1).partners) == 2
    assert len(masks_in_force(camera.pk, preset=2).partners) == 1
    camera_preset_report(camera=camera, number=1)
    assert camera_current_preset(camera.pk) == 1

    lift = mask_lift(mask=wide, by=supervisor.user, minutes=5, reason="Recherche d'un suspect")
    in_force = masks_in_force(camera.pk, preset=1)
    assert len(in_force.partners) == 2 and len(in_force.centre) == 1
    record = AuditRecord.objects.get(action=Action.MASK_LIFTED)
    assert record.reason == "Recherche d'un suspect" and record.details["minutes"] == 5
    # Back by itself when the time is up.
    MaskLift.objects.filter(pk=lift.pk).update(until=timezone.now() - dt.timedelta(seconds=1))
    assert len(masks_in_force(camera.pk, preset=1).centre) == 2


@pytest.mark.django_db
def test_only_supervisors_lift_only_liftable_masks_for_a_bounded_time_with_a_reason(area, supervisor,
                                                                                    operator):
    from cameras.services import mask_create

    camera = factories.make_camera()
    permanent = mask_create(camera=camera, polygon=SQUARE, created_by=supervisor.user)
    liftable = mask_create(camera=camera, polygon=SQUARE, created_by=supervisor.user, liftable=True)
    sup = factories.TokenClient().as_member(supervisor)
    op = factories.TokenClient().as_member(operator)
    body = {"minutes": 10, "reason": "Réquisition OPJ"}
    assert op.post(f"/api/streaming/masks/{liftable.pk}/lift/", body).status_code == 403
    assert sup.post(f"/api/streaming/masks/{permanent.pk}/lift/", body).status_code == 409
    assert sup.post(f"/api/streaming/masks/{liftable.pk}/lift/", {"minutes": 10_000, "reason": "x"}
                    ).status_code == 400
    assert sup.post(f"/api/streaming/masks/{liftable.pk}/lift/", {"minutes": 5, "reason": " "}
                    ).status_code == 400
    response = sup.post(f"/api/streaming/masks/{liftable.pk}/lift/", body)
    assert response.status_code == 201 and response.json()["active"] is True
    ended = sup.post(f"/api/streaming/mask-lifts/{response.json()['id']}/end/")
    assert ended.status_code == 200 and ended.json()["active"] is False
    assert len(masks_in_force(camera.pk).centre) == 2


@pytest.mark.django_db
def test_the_preset_api_is_the_centres(area, operator, partner_agent):
    camera = factories.make_camera(kind="ptz", presets=[
        {"number": 3, "name": "Rue", "heading": 10, "angle": 40, "range_m": 80}])
    op = factories.TokenClient().as_member(operator)
    assert op.post(f"/api/streaming/cameras/{camera.pk}/preset/", {"preset": 3}).json()["preset"] == 3
    assert op.post(f"/api/streaming/cameras/{camera.pk}/preset/", {"preset": 9}).status_code == 400
    agent = factories.TokenClient().as_member(partner_agent)
    assert agent.post(f"/api/streaming/cameras/{camera.pk}/preset/", {"preset": 3}).status_code == 403
    assert agent.get("/api/streaming/pipelines/").status_code == 403
    assert op.get("/api/streaming/pipelines/").status_code == 200
