"""Live video end to end in one process: WHEP offers from real aiortc peers, a real RTSP server
(GStreamer), the encode-once pipeline, masks, the watchdog that cuts a revoked grant.

Every test is transactional: the video runtime's threads (watchdog, journal writer) read
what the test committed through their own database connections.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pytest
from django.utils import timezone

from cameras.choices import CameraStatus
from cameras.models import Camera
from partners.audit import Action
from partners.choices import AgencyKind
from partners.models import AuditRecord
from partners.services import api_token_issue
from realtime.models import Event
from streaming.selectors import refusal_text
from tests import factories
from tests.streaming.conftest import share
from tests.streaming.peer import WhepPeer

pytestmark = pytest.mark.django_db(transaction=True)

# How long a wait for a state (pictures, an event, a row) may last on a busy machine: it ends as
# soon as the state is there. How fast things happen is measured by benchmarks/, not here.
BUSY = 20

# A mask over the left half of the colour bars (normalised coordinates).
MASK = [[0.05, 0.2], [0.45, 0.2], [0.45, 0.6], [0.05, 0.6]]


def whep(client, camera, body, content_type="application/sdp"):
    return client.generic("POST", f"/api/streaming/cameras/{camera.pk}/whep", body, content_type=content_type)


def watch(client, camera, *, frames: int = 5, timeout: float = BUSY) -> tuple[WhepPeer, str]:
    """A peer that watches ``camera`` as ``client``'s user; returns it and its session URL."""
    peer = WhepPeer()
    response = whep(client, camera, peer.offer())
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith("application/sdp")
    peer.accept(response.content.decode())
    assert peer.wait_frames(frames, timeout=timeout) >= frames, "no pictures reached the viewer"
    return peer, response["Location"]


def pipeline_of(runtime, camera):
    return next(p for p in runtime.pipelines() if p.feed.camera_id == camera.pk)


def wait_for(predicate, *, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def camera_status_events(camera):
    return [e.data["camera"]["status"] for e in Event.objects.filter(type="camera.status").order_by("id")
            if e.data["camera"]["id"] == camera.pk]


def test_two_operators_share_one_encoder_and_every_viewing_is_journalled(scene, runtime):
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    first, first_url = watch(api, camera)
    second, second_url = watch(api, camera)
    try:
        assert first.wait_frames(10, timeout=BUSY) >= 10 and second.wait_frames(10, timeout=BUSY) >= 10
        pipeline = pipeline_of(runtime, camera)
        stats = pipeline.stats()
        # One output, one encode per source frame whatever the number of viewers.
        assert [o["key"] for o in stats["outputs"]] == ["centre"]
        assert stats["outputs"][0]["viewers"] == 2
        assert stats["encodes"] <= stats["frames_in"]
        assert stats["encodes"] == stats["outputs"][0]["frames_encoded"]
        # The picture is the bright test pattern, no black area.
        assert first.last_rgb.max(axis=2).min() > 60

        assert api.delete(first_url).status_code == 204
        assert api.delete(first_url).status_code == 204  # ended already: done, and not journalled again
        assert first.ended.wait(BUSY)
        assert second.wait_frames(5, timeout=BUSY) >= 5  # the other viewer goes on
    finally:
        first.close()
        api.delete(second_url)
        second.close()
    # The last viewer left: the pipeline closes after the linger time.
    assert wait_for(lambda: not runtime.pipelines(), timeout=BUSY)
    starts = AuditRecord.objects.filter(action=Action.CAMERA_VIEW_START, object_id=str(camera.pk))
    ends = wait_for(lambda: list(AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END,
                                                            object_id=str(camera.pk))) or None, timeout=BUSY)
    assert starts.count() == 2 and len(ends) == 2
    assert {e.reason for e in ends} == {"hangup"}
    assert all(r.actor_id == scene["operator"].user_id for r in [*starts, *ends])


def test_an_unmasked_rtsp_camera_is_relayed_without_decoding(scene, runtime, rtsp_server):
    camera = scene["camera"]
    Camera.objects.filter(pk=camera.pk).update(stream_uri=rtsp_server.url)
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera, frames=10)
    try:
        stats = pipeline_of(runtime, camera).stats()
        assert stats["outputs"][0]["mode"] == "passthrough"
        assert stats["frames_decoded"] == 0 and stats["encodes"] == 0
        assert stats["packets_in"] >= 10
        # A second viewer gets pictures too (it starts from the kept GOP: how fast a viewer starts
        # is measured by benchmarks/video.py, not here).
        other, other_url = watch(api, camera, frames=1)
        other.close()
        api.delete(other_url)
    finally:
        api.delete(url)
        peer.close()


def test_the_source_going_down_and_back(scene, runtime, rtsp_server):
    camera = scene["camera"]
    Camera.objects.filter(pk=camera.pk).update(stream_uri=rtsp_server.url)
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera)
    try:
        pipeline = pipeline_of(runtime, camera)
        rtsp_server.stop()
        # Marked offline (a camera.status event for the centre), and retried with back-off.
        assert wait_for(lambda: "offline" in camera_status_events(camera), timeout=BUSY)
        assert Camera.objects.get(pk=camera.pk).status == CameraStatus.OFFLINE
        event = Event.objects.filter(type="camera.status").latest("id")
        assert event.audience == ["csu"]
        failures = pipeline.failures
        retried = wait_for(lambda: pipeline.failures >= failures + 2, timeout=BUSY)
        assert retried, "the pipeline does not retry"
        assert not peer.ended.is_set()  # the viewer stays, waiting for pictures

        rtsp_server.start()
        assert wait_for(lambda: camera_status_events(camera)[-1:] == ["online"], timeout=BUSY)
        assert Camera.objects.get(pk=camera.pk).status == CameraStatus.ONLINE
        assert peer.wait_frames(5, timeout=BUSY) >= 5, "no pictures after the source came back"
    finally:
        api.delete(url)
        peer.close()


def test_a_source_that_is_down_answers_503_and_marks_the_camera_offline(scene, runtime, video_settings):
    from tests.streaming.conftest import free_port

    camera = scene["camera"]
    Camera.objects.filter(pk=camera.pk).update(stream_uri=f"rtsp://127.0.0.1:{free_port()}/none")
    api = factories.TokenClient().as_member(scene["operator"])
    # The answer comes from the start timeout (a 503), not from a hung request: no wall-clock
    # figure is asserted here.
    response = whep(api, camera, WhepPeer().offer())
    assert response.status_code == 503 and response.json()["error"] == "video_unavailable"
    assert wait_for(lambda: camera_status_events(camera) == ["offline"], timeout=BUSY)
    assert not AuditRecord.objects.filter(action=Action.CAMERA_VIEW_START).exists()


@pytest.mark.parametrize("source", ["synthetic", "rtsp"])
def test_masked_pixels_are_black_at_the_viewer_and_the_rest_bright(scene, runtime, request, source):
    camera = scene["camera"]
    if source == "rtsp":
        server = request.getfixturevalue("rtsp_server")
        Camera.objects.filter(pk=camera.pk).update(stream_uri=server.url)
    supervisor = factories.make_member(role="supervisor")
    sup_api = factories.TokenClient().as_member(supervisor)
    assert sup_api.post(f"/api/cameras/{camera.pk}/masks/", {"polygon": MASK}).status_code == 201
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera, frames=10)
    try:
        rgb = peer.last_rgb
        h, w, _ = rgb.shape
        inside = rgb[int(0.25 * h):int(0.55 * h), int(0.1 * w):int(0.4 * w)]
        outside = rgb[int(0.25 * h):int(0.55 * h), int(0.55 * w):int(0.95 * w)]
        assert inside.max() < 40, f"masked area not black: max {inside.max()}"
        assert np.median(outside.max(axis=2)) > 150, "the rest of the picture is not bright"
        stats = pipeline_of(runtime, camera).stats()
        assert stats["outputs"][0]["mode"] == "transcode" and stats["masks"] == 1
        if source == "rtsp":
            assert stats["frames_decoded"] > 0  # decoded once to be masked
    finally:
        api.delete(url)
        peer.close()


def test_revoking_the_grant_cuts_the_partner(scene, runtime):
    camera, agent = scene["camera"], scene["agent"]
    grant = share(scene)
    agent_api = factories.TokenClient().as_member(agent)
    peer, _ = watch(agent_api, camera)
    try:
        pipeline = pipeline_of(runtime, camera)
        assert [o["key"] for o in pipeline.stats()["outputs"]] == ["agency:pn-video"]
        response = scene["op_api"].post(f"/api/streaming/grants/{grant['id']}/revoke/", {"reason": "fin"})
        assert response.status_code == 200
        # The connection is closed and no picture comes after it (how fast: benchmarks/video_cuts.py).
        assert peer.ended.wait(BUSY), "the partner's connection was not closed"
        stopped = peer.frames_stop_within(BUSY, quiet=0.3)
        assert stopped is not None, "frames kept coming after the revocation"
    finally:
        peer.close()
    end = wait_for(lambda: AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END).first(), timeout=BUSY)
    assert end.reason == "denied:no_active_grant" and end.details["grant"] == grant["id"]
    start = AuditRecord.objects.get(action=Action.CAMERA_VIEW_START)
    assert start.actor_id == agent.user_id and start.details["grant"] == grant["id"]
    assert start.reason == f"Incident {scene['incident']['reference']}"


def test_an_expired_habilitation_cuts_the_partner(scene, runtime):
    camera, agent = scene["camera"], scene["agent"]
    share(scene)
    peer, _ = watch(factories.TokenClient().as_member(agent), camera)
    try:
        agent.habilitation_valid_until = timezone.localdate() - dt.timedelta(days=1)
        agent.save(update_fields=["habilitation_valid_until"])
        assert peer.ended.wait(BUSY)
    finally:
        peer.close()


def test_partners_get_their_agencys_watermarked_stream_and_operators_the_clean_one(scene, runtime):
    camera = scene["camera"]
    share(scene)
    op_peer, op_url = watch(factories.TokenClient().as_member(scene["operator"]), camera)
    agent_api = factories.TokenClient().as_member(scene["agent"])
    pn_peer, pn_url = watch(agent_api, camera)
    try:
        op_peer.wait_frames(5, timeout=BUSY)
        stats = pipeline_of(runtime, camera).stats()
        assert sorted(o["key"] for o in stats["outputs"]) == ["agency:pn-video", "centre"]
        # The watermark sits bottom right: the partner's picture differs there, not elsewhere.
        a, b = op_peer.last_rgb.astype(int), pn_peer.last_rgb.astype(int)
        h, w, _ = a.shape
        rows, cols = slice(int(0.7 * h), int(0.88 * h)), slice(int(0.3 * w), None)
        corner = np.abs(a[rows, cols] - b[rows, cols])
        bars = np.abs(a[int(0.25 * h):int(0.5 * h)] - b[int(0.25 * h):int(0.5 * h)])
        assert corner.max() > 100 and np.percentile(bars, 99) < 60
        output = next(o for o in pipeline_of(runtime, camera).outputs.values() if o.key != "centre")
        assert scene["agent"].user.username in output.watermark_text()
    finally:
        agent_api.delete(pn_url)
        op_peer.close()
        pn_peer.close()


def test_a_viewer_that_vanishes_is_cleaned_up_and_the_pipeline_freed(scene, runtime, video_settings):
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer, _ = watch(api, camera)
    try:
        peer.vanish()
        assert wait_for(lambda: not runtime.sessions(), timeout=BUSY)
        assert wait_for(lambda: not runtime.pipelines(), timeout=BUSY)
        assert runtime.stats()["viewers"] == 0
    finally:
        peer.close()
    end = wait_for(lambda: AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END).first(), timeout=BUSY)
    assert end.reason in {"peer_timeout", "connection_failed", "connection_closed"}


def test_refusals(scene, runtime):
    camera = scene["camera"]
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-video")
    crf_member = factories.make_member(role="partner_agent", agency=crf, habilitation_reference="HAB-C")
    offer = WhepPeer().offer()

    def refused(member, body=offer, cam=camera, content_type="application/sdp"):
        return whep(factories.TokenClient().as_member(member), cam, body, content_type)

    response = refused(crf_member)
    assert response.status_code == 403
    assert response.json() == {"error": "video_not_allowed",
                               "detail": refusal_text("crf_never_receives_video")}
    assert response.json()["detail"].startswith("La Croix-Rouge ne reçoit jamais")
    response = refused(scene["agent"])  # no grant to the PN yet
    assert response.status_code == 403 and response.json()["detail"] == refusal_text("no_active_grant")

    op = scene["operator"]
    assert refused(op, cam=Camera(pk=999_999)).status_code == 404
    for body in ("hello", "v=0\r\nthis is not sdp", WhepPeer().offer(video=False),
                 offer.replace("a=setup:actpass", "a=setup:active"),
                 offer.replace("H264", "H265")):
        response = refused(op, body=body)
        assert response.status_code == 400, body[:40]
        assert response.json()["error"] == "bad_offer"
    response = refused(op, body="v=0\r\n" + "a=x\r\n" * 200_000)  # 1 MB
    assert response.status_code == 400 and response.json()["error"] == "bad_offer"
    assert refused(op, content_type="application/json").status_code == 415
    assert factories.TokenClient().generic("POST", f"/api/streaming/cameras/{camera.pk}/whep", offer,
                                           content_type="application/sdp").status_code in (401, 403)
    # Nothing was started, nothing journalled.
    assert not runtime.pipelines() and not runtime.sessions()
    assert not AuditRecord.objects.filter(action=Action.CAMERA_VIEW_START).exists()


def test_outside_the_centre_a_missing_camera_is_refused_like_a_forbidden_one(scene, runtime):
    """Camera ids are sequential: the answer to a partner must not tell which ones exist (nor
    which are authorised for which service). Only the centre, which reads the registry anyway,
    gets a 404 for an id that does not exist."""
    from django.contrib.auth import get_user_model

    camera = scene["camera"]  # authorised for PN, PM, GN, SDIS; no grant yet
    sdis_only = factories.make_camera()
    factories.make_authorisation(cameras=[sdis_only], recipients=["SDIS"])
    unauthorised = factories.make_camera()
    missing = Camera.objects.order_by("-pk").first().pk + 1000
    habilitation = {"habilitation_reference": "HAB-W",
                    "habilitation_valid_until": timezone.localdate() + dt.timedelta(days=30)}
    callers = {
        "pn_agent": scene["agent"],
        "pm_agent": factories.make_member(role="partner_agent",
                                          agency=factories.make_agency(kind=AgencyKind.PM), **habilitation),
        "crf_agent": factories.make_member(role="partner_agent",
                                           agency=factories.make_agency(kind=AgencyKind.CRF), **habilitation),
        "pn_unit": factories.make_member(role="field_unit", agency=scene["pn"], **habilitation),
        "auditor": factories.make_member(role="auditor"),
        "pn_agent_expired": factories.make_member(
            role="partner_agent", agency=scene["pn"], habilitation_reference="HAB-OLD",
            habilitation_valid_until=timezone.localdate() - dt.timedelta(days=1)),
    }
    clients = {name: factories.TokenClient().as_member(member) for name, member in callers.items()}
    no_profile = get_user_model().objects.create_user(username="no-profile", password="x")
    clients["no_profile"] = factories.TokenClient()
    clients["no_profile"].credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_issue(user=no_profile)[0]}")
    offer = WhepPeer().offer()
    for name, client in clients.items():
        answers = [whep(client, Camera(pk=pk), offer)
                   for pk in (missing, camera.pk, sdis_only.pk, unauthorised.pk)]
        bodies = [(a.status_code, a.json()) for a in answers]
        assert all(body == bodies[0] for body in bodies), (name, bodies)
        assert bodies[0][0] == 403 and bodies[0][1]["error"] == "video_not_allowed", (name, bodies[0])
    # The reason says what the caller lacks, never what the camera is.
    for name, reason in (("crf_agent", "crf_never_receives_video"),
                         ("pn_agent_expired", "no_valid_habilitation"),
                         ("pn_agent", "no_active_grant"), ("pn_unit", "role_cannot_view_video")):
        assert whep(clients[name], Camera(pk=missing), offer).json()["detail"] == refusal_text(reason), name

    operator = factories.TokenClient().as_member(scene["operator"])
    assert whep(operator, Camera(pk=missing), offer).status_code == 404
    assert not AuditRecord.objects.filter(action=Action.CAMERA_VIEW_START).exists()


def test_beyond_the_viewer_limit_the_answer_is_503_and_nothing_leaks(scene, runtime, video_settings):
    video_settings.HUB_VIDEO_MAX_VIEWERS = 1
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera)
    try:
        response = whep(api, camera, WhepPeer().offer())
        assert response.status_code == 503 and response.json()["error"] == "too_many_viewers"
        assert runtime.stats()["viewers"] == 1 and runtime.stats()["pending"] == 0
    finally:
        api.delete(url)
        peer.close()
    other, other_url = watch(api, camera)  # a place is free again
    api.delete(other_url)
    other.close()


def test_a_hang_up_after_the_peer_left_is_done_and_the_viewing_ends_once(scene, runtime):
    """The player's connection closed before its DELETE arrived (a page going away): the DELETE
    answers 204, the journal keeps the one end the hub saw, for the reason it saw."""
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera)
    peer.close()
    assert wait_for(lambda: not runtime.sessions(), timeout=BUSY)
    other = factories.TokenClient().as_member(factories.make_member(role="operator"))
    assert other.delete(url).status_code == 404  # not theirs: as if it never existed
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 204
    ends = wait_for(lambda: list(AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END,
                                                            object_id=str(camera.pk))) or None, timeout=BUSY)
    time.sleep(0.3)  # a second end, were one coming, would be written by now
    ends = list(AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END, object_id=str(camera.pk)))
    assert [e.reason for e in ends] == ["connection_closed"]
    assert api.delete("/api/streaming/whep/0123456789abcdef0123456789abcdef").status_code == 404


def test_a_session_belongs_to_its_viewer(scene, runtime):
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer, url = watch(api, camera)
    try:
        other = factories.TokenClient().as_member(factories.make_member(role="operator"))
        assert other.delete(url).status_code == 404
        assert peer.wait_frames(3, timeout=BUSY) >= 3
    finally:
        api.delete(url)
        peer.close()


def test_a_burst_of_offers_is_bounded_and_leaves_nothing_behind(scene, runtime, video_settings):
    """Twelve offers at once with room for five viewers and three offers being answered:
    some are served, the others get 503 at once; after hanging up, nothing is left."""
    import concurrent.futures

    from django.db import connection

    video_settings.HUB_VIDEO_MAX_VIEWERS = 5
    video_settings.HUB_VIDEO_MAX_PENDING_OFFERS = 3
    camera = scene["camera"]
    peers = [WhepPeer() for _ in range(12)]
    offers = [peer.offer() for peer in peers]
    token_clients = [factories.TokenClient().as_member(scene["operator"]) for _ in peers]

    def post(i: int):
        try:
            return whep(token_clients[i], camera, offers[i])
        finally:
            connection.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            responses = list(pool.map(post, range(12)))
        codes = sorted(r.status_code for r in responses)
        assert set(codes) <= {201, 503} and 1 <= codes.count(201) <= 5, codes
        assert all(r.json()["error"] == "too_many_viewers" for r in responses if r.status_code == 503)
        assert runtime.stats()["viewers"] == codes.count(201) and runtime.stats()["pending"] == 0
        for i, response in enumerate(responses):
            if response.status_code == 201:
                peers[i].accept(response.content.decode())
                assert token_clients[i].delete(response["Location"]).status_code == 204
    finally:
        for peer in peers:
            peer.close()
    assert runtime.stats()["viewers"] == 0 and not runtime.sessions()
    assert wait_for(lambda: not runtime.pipelines(), timeout=BUSY)
