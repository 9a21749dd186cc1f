"""Two video nodes behind HAProxy, as ``make run`` starts them with ``HUB_VIDEO_PROCESSES=2``
(``manage.py video --node video1|video2``, the HAProxy file of config/topology.py): an operator's
wall plays a camera in Chromium through HAProxy on two screens; the offer that lands on the node
that does not hold the camera is sent on (307) to the holder, which encodes the camera once for
both viewers while the other node runs no pipeline; a screen hanging up with its session's URL
reaches the holder through HAProxy. When the holder dies, a new screen still gets the camera, from
the node that remains.

The two nodes also serve the API and WebSocket pools (any hub process answers any request).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from config.topology import Topology, haproxy_servers_down
from partners.services import api_token_issue
from streaming.models import CameraLease, NodeRole
from tests import factories
from tests.e2e.conftest import ROOT, _free_port, server_env
from tests.e2e.live_video import CHROMIUM_EXTRA_ARGS, video_env  # noqa: F401 - fixtures and settings

PLAYING = "() => document.querySelector('.video-tile')?.dataset.state === 'playing'"
FRAMES = "() => document.querySelector('.video-tile video').getVideoPlaybackQuality().totalVideoFrames > 10"
HANG_UP = """async (url) => {
  const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrftoken='))?.split('=')[1];
  const answer = await fetch(url, {method: 'DELETE', credentials: 'same-origin',
                                   headers: {'X-CSRFToken': csrf}});
  return answer.status;
}"""


class VideoCluster:
    """Two ``manage.py video`` nodes and HAProxy in front of them; ``url`` is HAProxy's."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.tmp = tmp
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.topology = Topology(port=self.port, api=2, ws=1, video=2, check_interval="500ms")
        ports = [_free_port(), _free_port()]
        self.topology.api_ports = self.topology.video_ports = ports
        self.topology.ws_ports = ports[:1]
        self.ports = dict(zip(self.topology.video_names, ports, strict=True))
        self.processes: list[subprocess.Popen] = []
        self.nodes: dict[str, subprocess.Popen] = {}
        self.stats = tmp / "haproxy.sock"

    def access_log(self, name: str) -> Path:
        return self.tmp / f"{name}.access.log"

    def start(self) -> None:
        for name, port in self.ports.items():
            with (self.tmp / f"{name}.log").open("wb") as out:
                self.nodes[name] = subprocess.Popen(
                    [sys.executable, "manage.py", "video", "--node", name, "--port", str(port),
                     "--access-log", str(self.access_log(name))],
                    cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
                self.processes.append(self.nodes[name])
        cfg = self.tmp / "haproxy.cfg"
        cfg.write_text(self.topology.haproxy_cfg().replace(
            "global\n", f"global\n    stats socket {self.stats} level user\n", 1))
        with (self.tmp / "haproxy.log").open("wb") as out:
            self.processes.append(subprocess.Popen(["haproxy", "-W", "-db", "-f", str(cfg)],
                                                   stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while True:
            exited = [p.args for p in self.processes if p.poll() is not None]
            if exited:
                pytest.fail(f"exited: {exited}\n{self.log()}")
            try:
                if self.stats.exists() and not haproxy_servers_down(self.stats):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the video nodes were not up behind HAProxy within 60 s:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes:  # SIGTERM: the nodes leave (give their cameras back)
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def kill(self, name: str) -> None:
        """Node ``name`` dies (SIGKILL: no goodbye to HAProxy, nor to the database)."""
        self.nodes[name].kill()
        self.nodes[name].wait(5)

    def pipelines(self, name: str, token: str) -> list[dict]:
        """What node ``name`` streams, asked on its own port."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.ports[name]}/api/streaming/pipelines/",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer)["pipelines"]

    def answers(self, name: str, method: str, path: str) -> list[str]:
        """The statuses node ``name`` answered to ``method path`` (any query), in order (its access
        log)."""
        line = re.compile(rf'"{method} {re.escape(path)}(\?[^"]*)?" (\d+) ')
        text = self.access_log(name).read_text() if self.access_log(name).exists() else ""
        return [m.group(2) for m in line.finditer(text)]

    def log(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.tmp.glob("*.log")) if ".access." not in p.name)


@pytest.fixture(scope="module")
def hub(video_env, django_db_setup, tmp_path_factory, hub_env, collected_static):  # noqa: F811
    env = server_env(hub_env, collected_static)
    env.update({"HUB_NODE_RENEW_SECONDS": "1", "HUB_TRUSTED_PROXIES": "127.0.0.1"})
    cluster = VideoCluster(env, tmp_path_factory.mktemp("video-nodes"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def scene(transactional_db):
    factories.make_commune()
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera])
    operator = factories.make_member(role="operator")
    token, _ = api_token_issue(user=operator.user)
    return {"camera": camera, "operator": operator, "token": token}


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


def wait_for(predicate, *, timeout: float, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def test_a_camera_watched_through_haproxy_is_encoded_once_by_the_node_that_holds_it(scene, hub, signed_in):
    camera, token = scene["camera"], scene["token"]
    leases = CameraLease.objects.filter(camera=camera, role=NodeRole.VIDEO, node__isnull=False)
    holder = wait_for(lambda: leases.values_list("node__name", flat=True).first(), timeout=10)
    assert holder in hub.ports, f"no video node took the camera:\n{hub.log()}"
    other = next(name for name in hub.ports if name != holder)
    whep = f"/api/streaming/cameras/{camera.pk}/whep"
    contexts, pages, sessions = [], [], []
    try:
        for _ in range(2):  # two screens of the centre; HAProxy gives each offer to the next node
            contexts.append(signed_in(scene["operator"].user))
            page = contexts[-1].new_page()
            page.on("response", lambda r: sessions.append(r.headers.get("location"))
                    if r.status == 201 and r.url.split("?")[0].endswith(whep) else None)
            page.goto(f"/mur/?cameras={camera.pk}")
            page.wait_for_function(PLAYING, timeout=15_000)
            pages.append(page)
        for page in pages:
            page.wait_for_function(FRAMES, timeout=5_000)
        screenshot(pages[0], "video-nodes-wall-1280.png")
        pages[1].set_viewport_size({"width": 1920, "height": 1080})
        screenshot(pages[1], "video-nodes-wall-1920.png")

        # One of the two offers landed on the node without the camera, which sent it on.
        assert hub.answers(other, "POST", whep) == ["307"], hub.answers(other, "POST", whep)
        assert hub.answers(holder, "POST", whep) == ["201", "201"]
        # One pipeline, one encode, for both viewers: on the holder, none on the other node.
        [pipeline] = hub.pipelines(holder, token)
        assert pipeline["camera"] == camera.pk and pipeline["viewers"] == 2
        assert [(o["key"], o["viewers"]) for o in pipeline["outputs"]] == [("centre", 2)]
        assert 0 < pipeline["encodes"] <= pipeline["frames_in"]
        assert hub.pipelines(other, token) == []
        # HAProxy sends a request naming a node to that node (here, one that reads its pipelines).
        for name, cameras in [(holder, [camera.pk]), (other, []), (holder, [camera.pk]), (other, [])]:
            request = urllib.request.Request(f"{hub.url}/api/streaming/pipelines/?node={name}",
                                             headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, timeout=5) as answer:
                assert [p["camera"] for p in json.load(answer)["pipelines"]] == cameras, name

        # The session's URL names its node: the hang-up reaches the holder through HAProxy.
        assert len(sessions) == 2 and all(s.endswith(f"?node={holder}") for s in sessions), sessions
        assert pages[0].evaluate(HANG_UP, sessions[0]) == 204
        assert wait_for(lambda: hub.pipelines(holder, token)[0]["viewers"] == 1, timeout=5)
        pages[1].wait_for_function(FRAMES.replace("> 10", "> 30"), timeout=5_000)  # the other one plays on
    except BaseException:
        print(hub.log())
        raise
    finally:
        for context in contexts:
            context.close()
    assert wait_for(lambda: not hub.pipelines(holder, token), timeout=10), "the holder still streams"


def test_when_the_holder_dies_a_new_screen_gets_the_camera_from_the_node_that_remains(scene, hub, signed_in):
    """Killed, the holder still holds the camera's lease for up to HUB_NODE_LEASE_SECONDS: the node
    that remains sends the offer on to it (307), HAProxy skips the dead server and gives the
    request back to the remaining node, which serves it (it named another node). Once the lease
    has expired, the remaining node serves at once. The module's last test: it kills a node."""
    camera, token = scene["camera"], scene["token"]
    leases = CameraLease.objects.filter(camera=camera, role=NodeRole.VIDEO, node__isnull=False)
    holder = wait_for(lambda: leases.values_list("node__name", flat=True).first(), timeout=10)
    assert holder in hub.ports, f"no video node took the camera:\n{hub.log()}"
    survivor = next(name for name in hub.ports if name != holder)
    whep = f"/api/streaming/cameras/{camera.pk}/whep"
    before = len(hub.answers(survivor, "POST", whep))
    hub.kill(holder)
    assert wait_for(lambda: f"video/{holder}:DOWN" in haproxy_servers_down(hub.stats), timeout=10)
    context = signed_in(scene["operator"].user)
    try:
        page = context.new_page()
        page.goto(f"/mur/?cameras={camera.pk}")
        page.wait_for_function(PLAYING, timeout=15_000)
        page.wait_for_function(FRAMES, timeout=5_000)
        answers = hub.answers(survivor, "POST", whep)[before:]
        assert answers in (["201"], ["307", "201"]), answers
        [pipeline] = hub.pipelines(survivor, token)
        assert pipeline["camera"] == camera.pk and pipeline["viewers"] == 1
    except BaseException:
        print(hub.log())
        raise
    finally:
        context.close()
    assert wait_for(lambda: not hub.pipelines(survivor, token), timeout=10), "the survivor still streams"
