"""Two Daphne processes on one Redis: what a request on one publishes reaches clients of the other."""

from __future__ import annotations

import asyncio

import pytest

from partners.services import api_token_issue
from tests import factories
from tests.realtime import helpers
from tests.realtime.processes import daphne_log, daphnes, http
from tests.realtime.wsclient import WebSocket

INCIDENT = {"nature": "rixe", "priority": 2, "description": "Rixe devant la gare",
            "location": {"type": "Point", "coordinates": [2.3222, 48.9883]}}


@pytest.mark.django_db(transaction=True)
def test_an_incident_posted_to_one_process_reaches_clients_of_the_other(tmp_path):
    helpers.area()
    operator = factories.make_member(role="operator")
    pn_agent = factories.make_member(role="partner_agent", agency=helpers.agency("PN"))
    gn_agent = factories.make_member(role="partner_agent", agency=helpers.agency("GN"))
    http_token, _ = api_token_issue(user=operator.user)
    operator_token, _ = api_token_issue(user=operator.user)
    pn_token, _ = api_token_issue(user=pn_agent.user)
    gn_token, _ = api_token_issue(user=gn_agent.user)

    async def scenario(a: int, b: int) -> None:
        console = await WebSocket.connect(b, "/ws/events/", token=operator_token)
        pn = await WebSocket.connect(a, "/ws/events/", token=pn_token)
        gn = await WebSocket.connect(b, "/ws/events/", token=gn_token)
        for client in (console, pn, gn):
            await client.live()

        status, incident = await asyncio.to_thread(http, a, "POST", "/api/incidents/",
                                                   token=http_token, body=INCIDENT)
        assert status == 201, incident
        created = await console.frame()
        assert created["type"] == "incident.created"
        assert created["data"]["incident"]["reference"] == incident["reference"]
        assert (await console.frame())["type"] == "journal.appended"

        # Shared through process B: the PN agent, connected to A, is told.
        status, _ = await asyncio.to_thread(http, b, "POST", f"/api/incidents/{incident['id']}/shares/",
                                            token=http_token, body={"agency": "pn-test"})
        assert status == 201
        shared = [await pn.frame(), await pn.frame()]
        assert [f["type"] for f in shared] == ["journal.appended", "incident.shared"]
        assert shared[1]["data"]["incident"]["reference"] == incident["reference"]
        assert [f["type"] for f in [await console.frame(), await console.frame()]] == [
            "journal.appended", "incident.shared"]

        # The gendarmerie's agent heard none of it: its first frame is a later pong.
        await gn.send({"type": "ping"})
        assert (await gn.frame())["type"] == "pong"
        for client in (console, pn, gn):
            await client.close()

    with daphnes(2, tmp_path=tmp_path) as (a, b):
        try:
            asyncio.run(scenario(a, b))
        except BaseException:
            print(daphne_log(tmp_path))
            raise
