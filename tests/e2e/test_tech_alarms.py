"""The centre's technical alarms on the operator console, in a real browser: the object store
going down (through the recorder's own path) shows in the header in French, live, stays on a
reload, and goes when the store answers again; a camera no recorder holds is listed; the strip is
readable (contrast at least 4.5:1) and nothing in the header is cut at 1920×1080 or 1280×800.
When the stream was interrupted, the strip reloads the alarms in force (GET /api/alarms/), in place
of what it showed: on a resync (alarms raised and ended while the socket was closed, which no
replay will bring) and on a reconnect (the segments waiting now).

E2E_SCREENSHOTS=/some/folder keeps a picture of the console with two alarms.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.alarms import alarms_in_force
from realtime import audiences
from realtime.events import local_iso
from realtime.models import Event
from realtime.services import publish
from recordings import objects
from recordings.models import RecordingPlan, StoreOutage
from streaming.events import CameraRecorded, CameraRef, CameraUnrecorded
from streaming.models import NodeRole
from streaming.nodes import node_join, nodes_check, rebalance
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.readability import contrast_failures, overflow_failures

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 20_000  # ms: the machine running the suite may be busy
DESKTOP = {"width": 1920, "height": 1080}
T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # the nodes' clock: fixed, the alarms depend on no clock
TABLET = {"width": 1280, "height": 800}


def test_storage_and_recording_alarms_show_live_in_french_and_clear(hub, signed_in):
    factories.make_commune()
    operator = factories.make_member(role="operator")
    camera = factories.make_camera(code="95014-s001-f1")
    page = signed_in(operator.user).new_page()
    page.set_viewport_size(DESKTOP)
    live(page, "/console/", timeout=LIVE)
    strip = page.locator("#tech-alarms")
    assert strip.is_hidden()

    # The recorder fails an upload: the outage is opened and announced.
    objects._alarm("upload of 95014-s001-f1/1.mp4: connection refused")
    since = timezone.localtime(StoreOutage.objects.get().started_at).strftime("%H:%M")
    storage = strip.locator("[data-alarm='storage']")
    storage.wait_for(timeout=LIVE)
    assert storage.inner_text() == f"Stockage des enregistrements indisponible depuis {since}"

    # No recorder node holds a camera with a recording plan.
    ref = CameraRef(id=camera.pk, code=camera.code, name=camera.name)
    with transaction.atomic():
        publish(CameraUnrecorded(camera=ref, role="record", since=local_iso(timezone.now()), node="rec-2"),
                audience=audiences.centre())
    unrecorded = strip.locator("[data-alarm='unrecorded']")
    unrecorded.wait_for(timeout=LIVE)
    assert unrecorded.inner_text() == "Enregistrement interrompu : 1 caméra sans enregistreur (95014-s001-f1)"

    checked, failures = contrast_failures(page, "#tech-alarms")
    assert checked >= 2
    failures += overflow_failures(page, ".topbar")
    box, viewport = strip.bounding_box(), page.viewport_size
    assert box and viewport and box["x"] + box["width"] <= viewport["width"]
    assert not failures, "\n".join(failures)
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, "console-tech-alarms.png"))
    # On a 1280×800 screen the alarms wrap in the header; nothing is cut either.
    page.set_viewport_size(TABLET)
    assert not overflow_failures(page, ".topbar")
    if folder:
        page.screenshot(path=os.path.join(folder, "console-tech-alarms-1280.png"))

    # The camera is held again: its alarm goes, the other stays.
    with transaction.atomic():
        publish(CameraRecorded(camera=ref, role="record", node="rec-1"), audience=audiences.centre())
    strip.locator("[data-alarm='unrecorded']").wait_for(state="detached", timeout=LIVE)
    assert strip.locator("li").count() == 1

    # A reload shows the outage still in force (from the server, not from the events).
    live(page, "/console/", timeout=LIVE)
    assert strip.locator("[data-alarm='storage']").inner_text() == (
        f"Stockage des enregistrements indisponible depuis {since}")

    # The store answers again: the strip goes.
    objects._recovered(3)
    strip.wait_for(state="hidden", timeout=LIVE)
    assert strip.locator("li").count() == 0


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def buffered(root, count: int) -> None:
    """``count`` segments waiting in the recorder's buffer ``root`` (their pending notes)."""
    for n in range(count):
        note = root / "95014-s001-f1" / "20261207" / f"0200{n:02d}.mp4.pending"
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text("{}")


def test_the_strip_reloads_the_alarms_in_force_on_a_resync_and_on_a_reconnect(hub, signed_in, settings,
                                                                             tmp_path, monkeypatch):
    monkeypatch.setattr(objects, "_store_down", threading.Event())  # the alarm's log line, once
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_NODE_RENEW_SECONDS = 3
    settings.HUB_NODE_ALARM_SECONDS = 20
    settings.HUB_RECORDINGS_DIR = str(tmp_path)
    factories.make_commune()
    operator = factories.make_member(role="operator")
    camera = factories.make_camera(code="95014-s001-f1")
    RecordingPlan.objects.create(camera=camera)
    node = node_join(name="rec-2", now=at(0))
    rebalance(node, now=at(0))
    nodes_check(now=at(15))  # rec-2 lost
    nodes_check(now=at(25))  # its camera unrecorded

    # The page's socket goes through this relay, which can cut it, or hold the page's next socket
    # without a server behind it and speak to the page as the server would.
    sockets = {"hold": False, "page": None, "server": None}

    def relay(route):
        sockets["page"], sockets["server"] = route, None if sockets["hold"] else route.connect_to_server()

    page = signed_in(operator.user).new_page()
    page.set_viewport_size(DESKTOP)
    page.route_web_socket(re.compile(r"/ws/events/"), relay)
    with page.expect_response(lambda r: r.url.endswith("/api/alarms/"), timeout=LIVE):
        live(page, "/console/", timeout=LIVE)  # a new tab holds no position: it reloads its state
    strip = page.locator("#tech-alarms")
    assert strip.locator("li").all_inner_texts() == [
        "Enregistrement interrompu : 1 caméra sans enregistreur (95014-s001-f1)",
        "Nœud d'enregistrement perdu : rec-2"]

    # A video node starts: the page hears it, so it holds a position in the stream (a page holding
    # none reloads its state at every connection, a resync of its own).
    node_join(name="video-1", role=NodeRole.VIDEO, now=at(30))
    heard = Event.objects.order_by("-id").values_list("id", flat=True).first()
    page.wait_for_function("id => Number(sessionStorage.getItem('csu.events.lastEventId')) >= id", arg=heard,
                           timeout=LIVE)

    # The connection drops; the page's next socket opens on the relay alone.
    sockets["hold"] = True
    with page.expect_response(lambda r: r.url.endswith("/api/alarms/"), timeout=LIVE):
        sockets["server"].close()
        sockets["page"].close()
    page.locator("#connection[data-state='open']").wait_for(timeout=LIVE)
    # Meanwhile the node comes back and takes its camera again; the object store goes down with two
    # segments waiting. The page hears none of it.
    node = node_join(name="rec-2", now=at(40))
    rebalance(node, now=at(40))
    buffered(tmp_path, 2)
    objects._alarm("upload of 95014-s001-f1/1.mp4: connection refused")
    since = timezone.localtime(StoreOutage.objects.get().started_at).strftime("%H:%M")
    assert strip.locator("li").count() == 2

    # The server tells the page it missed events, as when its position is older than the outbox
    # keeps: the resync gives the server's position, so nothing the page missed is replayed.
    latest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    sockets["page"].send(json.dumps({"type": "resync", "last_event_id": latest}))
    strip.locator("[data-alarm='storage']").wait_for(timeout=LIVE)
    strip.locator("[data-alarm='unrecorded']").wait_for(state="detached", timeout=LIVE)
    assert strip.locator("li").all_inner_texts() == [
        f"Stockage des enregistrements indisponible depuis {since} — 2 segments en attente"]

    # Another drop; one more segment waits meanwhile; the page reconnects to the hub, which replays
    # nothing new: the strip still counts the segments waiting now.
    buffered(tmp_path, 3)
    objects._alarm("upload of 95014-s001-f1/2.mp4: connection refused")
    sockets["hold"] = False
    sockets["page"].close()
    storage = strip.locator("[data-alarm='storage']")
    storage.filter(has_text="3 segments en attente").wait_for(timeout=LIVE)
    assert storage.inner_text() == (
        f"Stockage des enregistrements indisponible depuis {since} — 3 segments en attente")
    assert sockets["server"] is not None  # on the hub again
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, "console-tech-alarms-reloaded.png"))


def test_an_alarm_ended_while_a_reload_was_on_its_way_stays_ended(hub, signed_in, settings, tmp_path,
                                                                  monkeypatch):
    """The answer of GET /api/alarms/ was read before the store answered again and arrives after
    the page heard ``storage.available``: the page keeps what it heard (the answer replaces the
    strip, then the events heard meanwhile are applied again)."""
    monkeypatch.setattr(objects, "_store_down", threading.Event())
    settings.HUB_RECORDINGS_DIR = str(tmp_path)
    factories.make_commune()
    operator = factories.make_member(role="operator")
    buffered(tmp_path, 2)
    objects._alarm("upload of 95014-s001-f1/1.mp4: connection refused")
    sockets = []

    def relay(route):
        route.connect_to_server()
        sockets.append(route)

    page = signed_in(operator.user).new_page()
    page.set_viewport_size(DESKTOP)
    page.route_web_socket(re.compile(r"/ws/events/"), relay)
    with page.expect_response(lambda r: r.url.endswith("/api/alarms/"), timeout=LIVE):
        live(page, "/console/", timeout=LIVE)
    strip = page.locator("#tech-alarms")
    strip.locator("[data-alarm='storage']").wait_for(timeout=LIVE)

    # The next reload's answer is held back. It says what the hub said before the store came back,
    # and a node lost, so that the page shows when it has applied it.
    stale = alarms_in_force() + [{"type": "node.lost", "data": {"node": {
        "name": "rec-9", "role": "record", "weight": 1, "host": "rec9", "pid": None,
        "started_at": "2026-12-07T03:00:00+01:00", "last_seen": "2026-12-07T03:00:00+01:00", "cameras": []}}}]
    held = []
    page.route(re.compile(r"/api/alarms/$"), lambda route: held.append(route))
    latest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    with page.expect_request(lambda r: r.url.endswith("/api/alarms/"), timeout=LIVE):
        sockets[-1].send(json.dumps({"type": "resync", "last_event_id": latest}))
    # Meanwhile the store answers again: the page hears it.
    objects._recovered(2)
    strip.wait_for(state="hidden", timeout=LIVE)
    [route] = held
    route.fulfill(json=stale)
    strip.locator("[data-alarm='node']").wait_for(timeout=LIVE)
    assert strip.locator("li").all_inner_texts() == ["Nœud d'enregistrement perdu : rec-9"]
