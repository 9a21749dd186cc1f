"""Several processes on one Redis: what a request on one publishes reaches clients of another;
behind HAProxy, one API process, one WebSocket process and the active relay killed mid-stream
lose, double or reorder nothing."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import pytest

from incidents.models import RadioMessage
from incidents.services.radio import net_for_agency
from partners.services import api_token_issue
from realtime.models import Event
from tests import factories
from tests.realtime import helpers
from tests.realtime.processes import daphne_log, daphnes, http, hub
from tests.realtime.wsclient import Closed, Refused, WebSocket

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


WRITES = 45
KILL_AFTER = 15


def send_radio(port: int, *, token: str, net: int, n: int) -> int:
    """``POST /api/radio/messages/`` through HAProxy, retried with the same Idempotency-Key
    until it is answered (a process killed under it, a pool without a live server yet); how
    many attempts it took."""
    body = json.dumps({"net": net, "text": f"message {n}"}).encode()
    for attempt in range(1, 60):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/radio/messages/", method="POST", data=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                     "Idempotency-Key": f"scale-out-{n}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 201
                return attempt
        except urllib.error.HTTPError as error:
            assert error.code in {502, 503, 504}, (error.code, error.read())
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"message {n} never accepted")


class Follower:
    """A screen on /ws/events/ through HAProxy that reconnects, as static/js/lib/events.js does,
    with the last id it saw."""

    def __init__(self, port: int, token: str, last_id: int) -> None:
        self.port, self.token, self.last_id = port, token, last_id
        self.ids: list[int] = []
        self.texts: list[str] = []
        self.reconnects = 0
        self.socket: WebSocket | None = None

    async def connect(self) -> None:
        while True:
            try:
                self.socket = await WebSocket.connect(
                    self.port, f"/ws/events/?last_event_id={self.last_id}", token=self.token)
                return
            except (Refused, OSError):
                await asyncio.sleep(0.1)

    async def follow(self, until: float) -> None:
        while len(self.texts) < WRITES and time.monotonic() < until:
            try:
                frame = await self.socket.receive(timeout=0.5)
            except TimeoutError:
                continue
            except (Closed, OSError, asyncio.IncompleteReadError, ValueError):
                self.reconnects += 1
                await self.connect()
                continue
            if "id" in frame:
                self.ids.append(frame["id"])
                self.last_id = frame["id"]
                if frame["type"] == "radio.message":
                    self.texts.append(frame["data"]["message"]["text"])


@pytest.mark.django_db(transaction=True)
def test_behind_haproxy_killing_an_api_a_websocket_process_and_the_relay_loses_nothing(tmp_path):
    helpers.area()
    pn = helpers.agency("PN")
    operator = factories.make_member(role="operator")
    agents = [factories.make_member(role="partner_agent", agency=pn) for _ in range(2)]
    net = net_for_agency(pn).pk
    writer_token, _ = api_token_issue(user=operator.user)
    tokens = [api_token_issue(user=m.user)[0] for m in [operator, operator, *agents]]
    start_id = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

    async def scenario(running) -> list[Follower]:
        followers = [Follower(running.port, token, start_id) for token in tokens]
        for follower in followers:
            await follower.connect()
            await follower.socket.live()
        until = time.monotonic() + 45
        reading = [asyncio.create_task(f.follow(until)) for f in followers]
        for n in range(WRITES):
            if n == KILL_AFTER:
                running.kill(running.daphnes[running.api_ports[0]])
                running.kill(running.daphnes[running.ws_ports[0]])
                running.kill(running.active_relay())
            await asyncio.to_thread(send_radio, running.port, token=writer_token, net=net, n=n)
            await asyncio.sleep(0.05)
        await asyncio.gather(*reading)
        for follower in followers:
            await follower.socket.close()
        return followers

    with hub(tmp_path, api=2, ws=2) as running:
        try:
            followers = asyncio.run(scenario(running))
            expected = [f"message {n}" for n in range(WRITES)]
            for follower in followers:
                # Every message once, in order, whichever process served the screen.
                assert follower.texts == expected
                assert follower.ids == sorted(set(follower.ids))
            # The clients of the killed WebSocket process came back through the other one.
            assert sum(f.reconnects for f in followers) >= 1
            # No write lost or doubled by the retries.
            assert sorted(RadioMessage.objects.filter(text__startswith="message ")
                          .values_list("text", flat=True)) == sorted(expected)
            # The standby took over.
            assert sum("relay: active" in log.read_text() for _, log in running.relays) == 2
        except BaseException:
            print(running.log())
            raise
