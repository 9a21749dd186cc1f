"""Video nodes (streaming/video_nodes.py): the cameras shared by the video nodes' leases, a WHEP offer
sent on (307) to the node holding its camera, the holder serving it and naming itself in the
session's URL, the hop limit, no live holder, the cameras watched on a node staying with it, and
``manage.py video`` refusing a taken name, serving, and leaving cleanly on SIGTERM.

Each process of the cluster is played here by this one, with ``HUB_VIDEO_NODE`` set to the node
it is. The leases last an hour (``HUB_NODE_LEASE_SECONDS``), so that a node joined during a test
stays live however long the test takes; an expired node joined two hours before the test.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from partners.audit import Action
from partners.models import AuditRecord
from realtime.models import Event
from streaming.models import CameraLease, Node, NodeRole, Viewing
from streaming.nodes import node_join, nodes_check, rebalance
from streaming.runtime import current_runtime
from streaming.video_nodes import camera_holder, whep_route
from tests import factories
from tests.realtime.processes import database_url, free_port
from tests.streaming.peer import WhepPeer

pytestmark = pytest.mark.django_db(transaction=True)

VIDEO = NodeRole.VIDEO
# How long a wait for a state (pictures, a hang-up) may last on a busy machine: it ends as soon as
# the state is there.
BUSY = 20


@pytest.fixture
def cluster(scene, settings):
    """Nodes ``video-a`` and ``video-b``; ``video-b`` holds the scene's camera; this process is
    ``video-a`` unless a test says otherwise."""
    settings.HUB_NODE_LEASE_SECONDS = 3600
    settings.HUB_VIDEO_NODE = "video-a"
    node_join(name="video-a", role=VIDEO)
    holder = node_join(name="video-b", role=VIDEO)
    assert rebalance(holder).held == {scene["camera"].pk}
    return settings


def whep(client, camera, body, query: str = ""):
    return client.generic("POST", f"/api/streaming/cameras/{camera.pk}/whep{query}", body,
                          content_type="application/sdp")


def nothing_started(camera) -> bool:
    runtime = current_runtime()
    journalled = AuditRecord.objects.filter(action=Action.CAMERA_VIEW_START, object_id=str(camera.pk))
    return (runtime is None or not runtime.sessions()) and not journalled.exists()


def test_a_node_that_does_not_hold_the_camera_sends_the_offer_to_its_holder(scene, cluster):
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        response = whep(api, camera, peer.offer())
    finally:
        peer.close()
    assert response.status_code == 307
    # The same path, naming the holder for HAProxy, and counting the hop.
    assert response["Location"] == f"/api/streaming/cameras/{camera.pk}/whep?node=video-b&hop=1"
    assert nothing_started(camera)
    # A refused offer is refused where it lands, not sent on.
    response = whep(api, camera, "v=0\r\nthis is not sdp")
    assert response.status_code == 400 and response.json()["error"] == "bad_offer"


def test_the_holder_serves_the_offer_and_its_session_url_leads_back_to_it(scene, cluster, runtime):
    camera = scene["camera"]
    cluster.HUB_VIDEO_NODE = "video-b"
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        response = whep(api, camera, peer.offer(), "?node=video-b&hop=1")
        assert response.status_code == 201, response.content
        session = response["Location"]
        assert session.startswith("/api/streaming/whep/") and session.endswith("?node=video-b")
        peer.accept(response.content.decode())
        assert peer.wait_frames(3, timeout=BUSY) >= 3, "no pictures reached the viewer"
        assert [p.feed.camera_id for p in runtime.pipelines()] == [camera.pk]
        assert api.delete(session).status_code == 204  # the session's URL, ?node= and all
        assert peer.ended.wait(BUSY), "the viewer was not hung up"
        assert not runtime.sessions()
    finally:
        peer.close()


def test_an_offer_sent_on_too_many_times_gets_a_clear_503(scene, cluster):
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        offer = peer.offer()
    finally:
        peer.close()
    # Sent on twice already, and the holder is elsewhere again: the holder keeps changing.
    response = whep(api, camera, offer, "?node=video-a&hop=2")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "video_route_loop"
    assert body["detail"].startswith("La vidéo de cette caméra n'a pas pu être jointe")
    response = whep(api, camera, offer, "?hop=deux")
    assert response.status_code == 400
    assert response.json()["detail"] == {"hop": ["Le nombre de renvois est un nombre entier."]}
    assert nothing_started(camera)


def test_without_a_live_holder_the_node_that_got_the_offer_serves_it(scene, settings, runtime):
    camera = scene["camera"]
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_VIDEO_NODE = "video-a"
    long_ago = timezone.now() - dt.timedelta(hours=2)
    rebalance(node_join(name="video-b", role=VIDEO, now=long_ago), now=long_ago)  # silent since
    assert camera_holder(camera.pk) is None
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        response = whep(api, camera, peer.offer())
        assert response.status_code == 201, response.content
        assert response["Location"].endswith("?node=video-a")
        api.delete(response["Location"])
    finally:
        peer.close()


def test_an_offer_for_a_node_the_proxy_could_not_reach_is_served_where_it_lands(scene, cluster, runtime):
    """``?node=video-b`` reached video-a: HAProxy skipped video-b (down for its health checks, not
    yet for the leases). Bouncing it back would loop; video-a serves it."""
    camera = scene["camera"]
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        response = whep(api, camera, peer.offer(), "?node=video-b&hop=1")
        assert response.status_code == 201, response.content
        assert response["Location"].endswith("?node=video-a")
        api.delete(response["Location"])
    finally:
        peer.close()


def test_a_process_that_is_no_video_node_serves_every_offer(scene, cluster):
    cluster.HUB_VIDEO_NODE = ""
    assert camera_holder(scene["camera"].pk) == "video-b"
    assert whep_route(scene["camera"].pk) is None


def test_the_video_nodes_share_the_cameras_that_have_a_source(area, settings):
    settings.HUB_NODE_LEASE_SECONDS = 3600
    cameras = [factories.make_camera() for _ in range(4)]
    sourceless = factories.make_camera()
    sourceless.stream_uri = ""
    sourceless.save(update_fields=["stream_uri"])
    a = node_join(name="video-a", role=VIDEO)
    b = node_join(name="video-b", role=VIDEO)
    for _ in range(2):
        held_a, held_b = rebalance(a).held, rebalance(b).held
    assert len(held_a) == len(held_b) == 2
    assert held_a | held_b == {c.pk for c in cameras}
    assert not CameraLease.objects.filter(camera=sourceless).exists()
    assert not CameraLease.objects.exclude(role=VIDEO).exists()  # the recorders' leases are their own


def test_the_video_command_refuses_a_name_a_live_node_holds_and_names_haproxy_cannot_use(area, settings):
    node_join(name="video-a", role=VIDEO, host="vid1", pid=4242)
    with pytest.raises(CommandError, match="Un nœud actif tourne déjà sous le nom « video-a » "
                                           r"\(machine vid1, processus 4242"):
        call_command("video", "--node", "video-a", "--port", "1")
    with pytest.raises(CommandError, match="Le nom d'un nœud vidéo"):
        call_command("video", "--node", "vidéo a", "--port", "1")
    assert list(Node.objects.values_list("name", flat=True)) == ["video-a"]
    assert settings.HUB_VIDEO_NODE == ""  # never served


def test_a_silent_video_node_is_declared_lost_by_the_periodic_check(area, settings):
    """Even with every video node down (nobody else to notice), and without a recorder's alarm:
    a camera without a video node is served wherever its offer lands."""
    settings.HUB_NODE_LEASE_SECONDS = 10
    t0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    camera = factories.make_camera()
    rebalance(node_join(name="video-a", role=VIDEO, now=t0), now=t0)
    assert camera_holder(camera.pk, now=t0 + dt.timedelta(seconds=9)) == "video-a"
    assert nodes_check(now=t0 + dt.timedelta(seconds=15)) == {"lost": ["video-a"], "unrecorded": []}
    assert camera_holder(camera.pk, now=t0 + dt.timedelta(seconds=15)) is None


def test_a_node_whose_share_shrinks_gives_away_the_cameras_nobody_watches_there_first(area, settings):
    settings.HUB_NODE_LEASE_SECONDS = 3600
    cameras = [factories.make_camera() for _ in range(4)]
    a = node_join(name="video-a", role=VIDEO)
    assert len(rebalance(a).held) == 4
    watched = {cameras[0].pk, cameras[3].pk}  # pipelines running on video-a
    b = node_join(name="video-b", role=VIDEO)
    rebalance(b)  # nothing free yet: video-b is below its floor
    released = rebalance(a, busy=watched).released
    assert len(released) == 2 and not watched & set(released)
    assert rebalance(b).held == set(released)
    assert camera_holder(cameras[0].pk) == camera_holder(cameras[3].pk) == "video-a"


def test_the_video_command_serves_as_its_node_and_leaves_cleanly_on_sigterm(area, tmp_path, settings):
    """``manage.py video --node video-a`` (Daphne in the process): it holds the cameras and answers
    on its port; SIGTERM: it exits, gives its cameras back and says so (``node.left``)."""
    cameras = [factories.make_camera() for _ in range(2)]
    port = free_port()
    log = tmp_path / "video-a.log"
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONUNBUFFERED="1", HUB_NODE_RENEW_SECONDS="1")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "video", "--node", "video-a", "--port", str(port)],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        # It took the cameras before it served.
        assert {camera_holder(c.pk) for c in cameras} == {"video-a"}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, log.read_text(errors="replace")
    assert not CameraLease.objects.filter(node__isnull=False).exists()  # every camera given back
    assert Node.objects.get(name="video-a").left_at is not None
    assert Event.objects.filter(type="node.left", data__node__name="video-a").exists()
    assert "video node video-a left" in log.read_text()


def test_the_nodes_api_shows_video_nodes_and_no_alarm_for_a_camera_without_one(area, api, operator):
    camera = factories.make_camera()
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    rebalance(node_join(name="video-a", role=VIDEO, now=long_ago), now=long_ago)  # silent since
    body = api.as_member(operator).get("/api/streaming/nodes/").json()
    [node] = body["nodes"]
    assert (node["name"], node["role"], node["state"]) == ("video-a", "video", "silent")
    assert node["leases"][0]["camera"] == camera.code and node["leases"][0]["expired"] is True
    assert body["unrecorded"] == []  # no video node holds it: served wherever its offer lands


def test_a_video_node_killed_with_a_viewer_leaves_no_viewing_open_once_declared_lost(
        scene, tmp_path, settings):
    """``kill -9`` of a video node while an operator watches a camera it serves: once the node is
    declared lost, the viewing ends at the node's last sign of life (``node_lost``), journalled once,
    and the viewer's late hang-up is answered as done."""
    from partners.services import api_token_issue

    settings.HUB_NODE_LEASE_SECONDS = 10
    camera, operator = scene["camera"], scene["operator"]
    raw, _ = api_token_issue(user=operator.user)
    port = free_port()
    log = tmp_path / "video-a.log"
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONUNBUFFERED="1", HUB_NODE_RENEW_SECONDS="1", HUB_NODE_LEASE_SECONDS="10")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "video", "--node", "video-a", "--port", str(port)],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    peer = WhepPeer()
    try:
        deadline = time.monotonic() + 60
        while camera_holder(camera.pk) != "video-a":
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        offer = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/streaming/cameras/{camera.pk}/whep", data=peer.offer().encode(),
            method="POST", headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {raw}"})
        with urllib.request.urlopen(offer, timeout=30) as answer:
            assert answer.status == 201
            peer.accept(answer.read().decode())
        peer.wait_frames(3, timeout=20)
        viewing = Viewing.objects.get(camera=camera)
        node = Node.objects.get(name="video-a")
        assert viewing.ended_at is None and viewing.node_session == node.session
    finally:
        process.kill()  # SIGKILL: no hang-up, no leave
        process.wait(10)
        peer.close()
    node.refresh_from_db()
    assert Viewing.objects.get(pk=viewing.pk).ended_at is None  # nobody knows yet

    assert nodes_check(now=node.last_seen + dt.timedelta(seconds=11))["lost"] == ["video-a"]

    viewing.refresh_from_db()
    # The last sign of life: the node's last renewal, or the viewing's start if it came after it
    # (the viewing itself proves the node was alive then).
    assert viewing.end_reason == "node_lost"
    assert viewing.ended_at == max(node.last_seen, viewing.started_at)
    ends = AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END, object_id=str(camera.pk))
    assert [(line.reason, line.actor_id) for line in ends] == [("node_lost", operator.user.pk)]
    nodes_check(now=node.last_seen + dt.timedelta(seconds=30))
    assert ends.count() == 1
    late = factories.TokenClient().as_member(operator).delete(f"/api/streaming/whep/{viewing.session}")
    assert late.status_code == 204


def test_a_paused_node_declared_lost_hangs_up_the_viewers_the_journal_says_ended(
        scene, cluster, runtime, monkeypatch):
    """A node paused past its lease (not dead) is declared lost: its viewings were closed and
    journalled then; when it wakes up and learns it, it hangs those viewers up, so that nobody
    watches past what the journal says, and nothing is journalled twice."""
    from streaming import video_nodes

    camera = scene["camera"]
    cluster.HUB_VIDEO_NODE = "video-b"
    node = Node.objects.get(name="video-b")
    monkeypatch.setattr(video_nodes, "_node_session", node.session)
    api = factories.TokenClient().as_member(scene["operator"])
    peer = WhepPeer()
    try:
        response = whep(api, camera, peer.offer(), "?node=video-b&hop=1")
        assert response.status_code == 201, response.content
        peer.accept(response.content.decode())
        assert peer.wait_frames(3, timeout=BUSY) >= 3
        viewing = Viewing.objects.get(camera=camera)
        assert viewing.node_session == node.session

        # Silent past its lease (an hour here): the others declare it lost.
        assert "video-b" in nodes_check(now=node.last_seen + dt.timedelta(hours=2))["lost"]
        viewing.refresh_from_db()
        assert viewing.end_reason == "node_lost"
        assert viewing.ended_at == max(node.last_seen, viewing.started_at)
        assert runtime.sessions() and not peer.ended.is_set()  # still watching, for now

        video_nodes._hang_up_lost_viewings()  # what the node does on learning it was lost

        assert peer.ended.wait(BUSY), "the viewer was not hung up"
        assert not runtime.sessions()
    finally:
        peer.close()
    ends = AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END, object_id=str(camera.pk))
    assert [line.reason for line in ends] == ["node_lost"]
