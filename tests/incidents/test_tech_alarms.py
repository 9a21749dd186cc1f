"""The centre's technical alarms in force reach the operator console at load (json_script), so a
reload shows what the events showed: cameras no recorder node holds, a lost recorder node, the
object store down (with the segments waiting now); each one gone once its recovery happened. A
partner's portal shows none. ``GET /api/alarms/`` answers the same frames to the centre's staff
(the console reloads them when its stream was interrupted), and refuses everyone else. The admin
shows nodes, leases and outages, read-only."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading

import pytest
from django.test import Client

from partners.choices import AgencyKind
from realtime.models import Event
from recordings import objects
from recordings.models import RecordingPlan, StoreOutage
from recordings.storage import StoreUnavailable
from streaming.nodes import node_join, nodes_check, rebalance
from tests import factories

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def page_of(member, path: str) -> str:
    browser = Client()
    browser.force_login(member.user)
    page = browser.get(path)
    assert page.status_code == 200, path
    return page.content.decode()


def script(html: str, name: str):
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html, re.S)
    assert found, f"no {name} in the page"
    return json.loads(found.group(1))


def test_the_console_gets_the_alarms_in_force_and_not_those_ended(area, settings):
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_NODE_RENEW_SECONDS = 3
    settings.HUB_NODE_ALARM_SECONDS = 20
    operator = factories.make_member(role="operator")
    cameras = [factories.make_camera(code=f"95014-s001-f{n}") for n in (1, 2)]
    RecordingPlan.objects.bulk_create([RecordingPlan(camera=camera) for camera in cameras])
    node = node_join(name="rec-2", now=at(0))
    rebalance(node, now=at(0))
    StoreOutage.objects.create(started_at=at(5), detail="connection refused", host="rec-host")

    html = page_of(operator, "/console/")
    assert [frame["type"] for frame in script(html, "tech-alarms-data")] == ["storage.unavailable"]
    # Nothing renews: the node is lost, then its cameras are announced unrecorded.
    nodes_check(now=at(15))
    nodes_check(now=at(25))

    html = page_of(operator, "/console/")
    assert 'id="tech-alarms"' in html
    alarms = script(html, "tech-alarms-data")
    by_type: dict[str, list] = {}
    for frame in alarms:
        by_type.setdefault(frame["type"], []).append(frame["data"])
    codes = [data["camera"]["code"] for data in by_type["camera.unrecorded"]]
    assert codes == ["95014-s001-f1", "95014-s001-f2"]
    assert [data["node"]["name"] for data in by_type["node.lost"]] == ["rec-2"]
    [storage] = by_type["storage.unavailable"]
    assert storage["since"].startswith("2026-12-07T03:00:05")  # Paris time, as the events write it
    texts = script(html, "alarm-texts")
    assert texts["unrecorded_many"] == ("Enregistrement interrompu : {count} caméras sans enregistreur "
                                        "({cameras})")
    assert texts["storage"] == "Stockage des enregistrements indisponible depuis {time}"
    assert texts["node_lost_record"] == "Nœud d'enregistrement perdu : {name}"

    # Recovery: the node joins again and takes the cameras back; the store answers again.
    node = node_join(name="rec-2", now=at(40))
    rebalance(node, now=at(40))
    StoreOutage.objects.update(ended_at=at(41))
    assert script(page_of(operator, "/console/"), "tech-alarms-data") == []


def test_a_partner_s_portal_shows_no_technical_alarm(area):
    StoreOutage.objects.create(detail="connection refused", host="rec-host")
    agent = factories.make_member(role="partner_agent", agency=factories.make_agency(kind=AgencyKind.PN))
    html = page_of(agent, "/portail/incidents/")
    assert "tech-alarms" not in html
    assert "Stockage des enregistrements" not in html
    assert "connection refused" not in html


# --- GET /api/alarms/ ---------------------------------------------------------------------------


def test_the_api_answers_the_centre_the_frames_the_console_gets_at_load(area, settings, api):
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_NODE_RENEW_SECONDS = 3
    settings.HUB_NODE_ALARM_SECONDS = 20
    operator = factories.make_member(role="operator")
    supervisor = factories.make_member(role="supervisor")
    camera = factories.make_camera(code="95014-s001-f1")
    RecordingPlan.objects.create(camera=camera)
    api.as_member(operator)
    assert api.get("/api/alarms/").json() == []

    node = node_join(name="rec-2", now=at(0))
    rebalance(node, now=at(0))
    nodes_check(now=at(15))
    nodes_check(now=at(25))
    StoreOutage.objects.create(started_at=at(5), detail="connection refused", host="rec-host",
                               pending={"rec-host:/var/rec": 4})
    for member in (operator, supervisor):
        api.as_member(member)
        answer = api.get("/api/alarms/")
        assert answer.status_code == 200
        frames = answer.json()
        assert frames == script(page_of(member, "/console/"), "tech-alarms-data")
        assert [frame["type"] for frame in frames] == [
            "camera.unrecorded", "node.lost", "storage.unavailable"]
    unrecorded, lost, storage = (frame["data"] for frame in frames)
    assert unrecorded["camera"]["code"] == "95014-s001-f1" and unrecorded["node"] == "rec-2"
    assert lost["node"]["name"] == "rec-2" and lost["node"]["cameras"] == ["95014-s001-f1"]
    assert storage == {"since": storage["since"], "detail": "connection refused", "host": "rec-host",
                       "pending": 4}
    assert storage["since"].startswith("2026-12-07T03:00:05")

    # The alarms end: the answer is the state now, not a history.
    node = node_join(name="rec-2", now=at(40))
    rebalance(node, now=at(40))
    StoreOutage.objects.update(ended_at=at(41))
    assert api.get("/api/alarms/").json() == []


def test_the_api_refuses_everyone_but_the_centre_s_staff_in_french(area, api, anon_api):
    StoreOutage.objects.create(detail="connection refused", host="rec-host")
    refused = anon_api.get("/api/alarms/")
    assert refused.status_code in {401, 403}
    assert "connection refused" not in refused.content.decode()
    pn = factories.make_agency(kind=AgencyKind.PN)
    members = [factories.make_member(role="partner_agent", agency=pn), factories.make_member(role="auditor"),
               factories.make_unit(agency=pn, callsign="PN 1").member]
    for member in members:
        api.as_member(member)
        refused = api.get("/api/alarms/")
        assert refused.status_code == 403, member.role
        assert refused.json()["detail"] == "Réservé aux opérateurs et superviseurs du centre."
        assert "connection refused" not in refused.content.decode()


# --- The segments waiting, after a reload -------------------------------------------------------


class DownStore:
    """The recordings' object store refusing every upload."""

    kind = "s3"

    def put_file(self, key, path):
        raise StoreUnavailable(f"upload of {key}: connection refused")


def record_segment(camera, root, n: int) -> None:
    """The recorder closes the ``n``-th segment of ``camera`` in the buffer ``root`` and uploads it."""
    path = root / camera.code / "20261207" / f"0200{n:02d}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"segment")
    assert objects.segment_upload(camera=camera, start=at(60 * n), end=at(60 * (n + 1)), path=path, size=7,
                                  sha256="0" * 64) is None  # buffered


def test_the_console_counts_the_segments_waiting_in_every_recorder_s_buffer_at_load(area, settings, tmp_path,
                                                                                    monkeypatch, api):
    monkeypatch.setattr(objects, "recording_store", DownStore)
    monkeypatch.setattr(objects, "_store_down", threading.Event())
    operator = factories.make_member(role="operator")
    camera = factories.make_camera(code="95014-s001-f1")
    other = factories.make_camera(code="95014-s002-f1")
    first, second = tmp_path / "rec-1", tmp_path / "rec-2"
    start = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

    settings.HUB_RECORDINGS_DIR = str(first)
    record_segment(camera, first, 0)
    [announced] = Event.objects.filter(id__gt=start, type="storage.unavailable")
    assert announced.data["pending"] == 1  # when the outage began
    record_segment(camera, first, 1)
    record_segment(camera, first, 2)
    # A second recorder, with a buffer of its own, fails too: the same outage, one announcement.
    settings.HUB_RECORDINGS_DIR = str(second)
    record_segment(other, second, 0)
    record_segment(other, second, 1)
    assert Event.objects.filter(id__gt=start, type="storage.unavailable").count() == 1

    [frame] = script(page_of(operator, "/console/"), "tech-alarms-data")
    assert frame["type"] == "storage.unavailable" and frame["data"]["pending"] == 5
    api.as_member(operator)
    assert api.get("/api/alarms/").json() == [frame]

    # One more segment waits: a reload says so.
    settings.HUB_RECORDINGS_DIR = str(first)
    record_segment(camera, first, 3)
    [frame] = script(page_of(operator, "/console/"), "tech-alarms-data")
    assert frame["data"]["pending"] == 6


# --- The admin ----------------------------------------------------------------------------------


def test_the_admin_shows_nodes_leases_and_outages_in_french_and_read_only(area, settings):
    settings.HUB_NODE_LEASE_SECONDS = 10
    settings.HUB_NODE_RENEW_SECONDS = 3
    camera = factories.make_camera(code="95014-s001-f1")
    RecordingPlan.objects.create(camera=camera)
    node = node_join(name="rec-2", now=at(0), host="rec-host")
    rebalance(node, now=at(0))
    nodes_check(now=at(15))
    outage = StoreOutage.objects.create(detail="connection refused", host="rec-host",
                                        pending={"rec-host:/var/rec": 4, "rec-2:/var/rec": 3})
    supervisor = factories.make_member(role="supervisor")
    browser = Client()
    browser.force_login(supervisor.user)

    nodes = browser.get("/admin/streaming/node/").content.decode()
    assert "rec-2" in nodes and "perdu" in nodes and "Déclaré perdu le" in nodes
    leases = browser.get("/admin/streaming/cameralease/").content.decode()
    assert "95014-s001-f1" in leases and "rec-2 (enregistreur)" in leases
    assert "Renouvelé le" in leases and "Alarme annoncée le" in leases
    outages = browser.get("/admin/recordings/storeoutage/").content.decode()
    assert "connection refused" in outages and "Commencée le" in outages and "Segments en attente" in outages
    assert "<td class=\"field-waiting\">7</td>" in outages
    lease = camera.leases.get()
    for url in (f"/admin/streaming/node/{node.pk}/change/",
                f"/admin/streaming/cameralease/{lease.pk}/change/",
                f"/admin/recordings/storeoutage/{outage.pk}/change/"):
        page = browser.get(url)
        assert page.status_code == 200, url
        assert 'name="_save"' not in page.content.decode(), url  # shown, not editable
    for url in ("/admin/streaming/node/add/", "/admin/streaming/cameralease/add/",
                "/admin/recordings/storeoutage/add/", f"/admin/recordings/storeoutage/{outage.pk}/delete/"):
        assert browser.get(url).status_code == 403, url
    assert browser.post(f"/admin/recordings/storeoutage/{outage.pk}/change/",
                        {"detail": "rewritten"}).status_code == 403
    outage.refresh_from_db()
    assert outage.detail == "connection refused"

    operator = Client()
    operator.force_login(factories.make_member(role="operator").user)
    assert operator.get("/admin/streaming/node/").status_code == 302  # not staff: to the admin's login
