"""The centre's technical alarms in force reach the operator console at load (json_script), so a
reload shows what the events showed: cameras no recorder node holds, a lost recorder node, the
object store down; each one gone once its recovery happened. A partner's portal shows none."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client

from partners.choices import AgencyKind
from recordings.models import RecordingPlan, StoreOutage
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
