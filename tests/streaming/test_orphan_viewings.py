"""Viewings left open by a video process that died (kill -9, machine lost): closed at its last sign
of life, journalled once each (``node_lost``), when its node is declared lost, when a process
starts again under its name, and, for processes that are no video node, at the next process's
first viewing on the same host (``process_lost``). Time is controlled (time_machine)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from partners.audit import Action
from partners.models import AuditRecord
from streaming import services, video_nodes
from streaming.models import NodeRole, Viewing
from streaming.nodes import node_heartbeat, node_join, nodes_check
from streaming.services import viewing_start
from tests import factories

T0 = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
VIDEO = NodeRole.VIDEO


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def lease_ten_seconds(settings):
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_NODE_RENEW_SECONDS = 3
    return settings


def watch(node, *, viewer, camera, session: str, seconds: float) -> None:
    """``viewer`` starts watching ``camera`` on ``node`` at ``seconds`` after T0."""
    previous = video_nodes._node_session
    video_nodes._node_session = node.session if node is not None else ""
    try:
        with time_machine.travel(at(seconds), tick=False):
            viewing_start(viewer=viewer, camera=camera, grant=None, session=session)
    finally:
        video_nodes._node_session = previous


def ends(session: str) -> list[AuditRecord]:
    return [r for r in AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END)
            if r.details.get("session") == session]


def test_a_lost_video_node_s_viewings_end_at_its_last_sign_of_life_journalled_once(
        area, lease_ten_seconds, operator, supervisor, api):
    camera, other_camera = factories.make_camera(), factories.make_camera()
    dead = node_join(name="video-a", role=VIDEO, now=at(0))
    alive = node_join(name="video-b", role=VIDEO, now=at(0))
    watch(dead, viewer=operator.user, camera=camera, session="s-dead-1", seconds=5)
    watch(dead, viewer=supervisor.user, camera=camera, session="s-dead-2", seconds=20)
    watch(alive, viewer=operator.user, camera=other_camera, session="s-alive", seconds=21)
    node_heartbeat(dead, now=at(30))  # its last sign of life, then kill -9
    node_heartbeat(alive, now=at(30))
    node_heartbeat(alive, now=at(40))

    assert nodes_check(now=at(41))["lost"] == ["video-a"]

    first, second = Viewing.objects.get(session="s-dead-1"), Viewing.objects.get(session="s-dead-2")
    assert (first.ended_at, first.end_reason) == (at(30), "node_lost")
    assert (second.ended_at, second.end_reason) == (at(30), "node_lost")
    [line] = ends("s-dead-1")
    assert line.reason == "node_lost" and line.details["seconds"] == 25.0
    assert line.actor_id == operator.user.pk and line.object_id == str(camera.pk)
    assert ends("s-dead-2")[0].details["seconds"] == 10.0
    # The live node's viewing goes on.
    assert Viewing.objects.get(session="s-alive").ended_at is None and ends("s-alive") == []

    # Swept again (another node, the periodic check): nothing is journalled twice.
    nodes_check(now=at(60))
    assert len(ends("s-dead-1")) == 1 and len(ends("s-dead-2")) == 1

    # The viewer's player hangs up late: done, not "no such session".
    api.as_member(operator)
    assert api.delete("/api/streaming/whep/s-dead-1").status_code == 204


def test_a_video_process_started_again_under_its_name_closes_what_its_dead_predecessor_left(
        area, lease_ten_seconds, operator):
    camera = factories.make_camera()
    dead = node_join(name="video-a", role=VIDEO, now=at(0))
    watch(dead, viewer=operator.user, camera=camera, session="s-1", seconds=2)
    node_heartbeat(dead, now=at(9))

    # Restarted before anyone declared it lost.
    node_join(name="video-a", role=VIDEO, now=at(25))

    viewing = Viewing.objects.get(session="s-1")
    assert (viewing.ended_at, viewing.end_reason) == (at(9), "node_lost")
    assert [line.details["seconds"] for line in ends("s-1")] == [7.0]


def test_a_recorder_node_lost_closes_no_viewing(area, lease_ten_seconds, operator):
    camera = factories.make_camera()
    video = node_join(name="video-a", role=VIDEO, now=at(0))
    node_join(name="rec-a", role=NodeRole.RECORD, now=at(0))
    watch(video, viewer=operator.user, camera=camera, session="s-1", seconds=1)
    node_heartbeat(video, now=at(30))

    assert nodes_check(now=at(31))["lost"] == ["rec-a"]
    assert Viewing.objects.get(session="s-1").ended_at is None


def test_a_plain_process_closes_the_viewings_of_dead_processes_of_its_host_at_its_first_viewing(
        area, operator, supervisor, monkeypatch):
    camera = factories.make_camera()
    monkeypatch.setattr(services, "_dead_processes_checked", False)
    watch(None, viewer=operator.user, camera=camera, session="s-dead", seconds=0)
    watch(None, viewer=operator.user, camera=camera, session="s-running", seconds=1)
    watch(None, viewer=operator.user, camera=camera, session="s-elsewhere", seconds=2)
    # Rows of other processes: one whose pid runs no more, one still running (pid 1), one on
    # another machine.
    Viewing.objects.filter(session="s-dead").update(process="dead", pid=2**22 + 1)
    Viewing.objects.filter(session="s-running").update(process="running", pid=1)
    Viewing.objects.filter(session="s-elsewhere").update(process="other", host="elsewhere", pid=2**22 + 1)
    monkeypatch.setattr(services, "_dead_processes_checked", False)  # this process just started

    watch(None, viewer=supervisor.user, camera=camera, session="s-new", seconds=60)

    dead = Viewing.objects.get(session="s-dead")
    assert (dead.ended_at, dead.end_reason) == (at(60), "process_lost")
    assert [line.reason for line in ends("s-dead")] == ["process_lost"]
    assert Viewing.objects.filter(session__in=["s-running", "s-elsewhere", "s-new"],
                                  ended_at__isnull=True).count() == 3
