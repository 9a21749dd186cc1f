"""Redis restarted under connected clients: nothing is lost, the outbox is the source of truth."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from partners.services import api_token_issue
from realtime import services
from tests import factories
from tests.realtime import helpers
from tests.realtime.processes import RedisServer, daphne_log, daphnes, http
from tests.realtime.wsclient import Closed, Refused, WebSocket


def incident(description: str) -> dict:
    return {"nature": "rixe", "description": description,
            "location": {"type": "Point", "coordinates": [2.3222, 48.9883]}}


def relay_in_a_thread_of_its_own() -> int:
    """The periodic relay task, as the beat would run it."""
    try:
        return services.relay()
    finally:
        connection.close()


async def reconnect(port: int, path: str, *, token: str, attempts: int = 8) -> WebSocket:
    """Connect as the browser client does after a drop: retry, with a growing delay.

    Right after a Redis restart the first handshake on a process is answered 500: the
    channel layer's pool hands out a connection the old Redis closed, and redis-py does
    not retry it (no ``retry_on_error`` in CHANNEL_LAYERS). The retry covers it.
    """
    delay = 0.05
    for attempt in range(attempts):
        try:
            return await WebSocket.connect(port, path, token=token)
        except (Refused, ConnectionError) as error:
            print(f"reconnection attempt {attempt + 1} failed: {error}")
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


LAYERS = {"pubsub": "realtime.layers.PubSubChannelLayer", "core": "channels_redis.core.RedisChannelLayer"}


@pytest.mark.parametrize("layer", ["pubsub", "core"])
@pytest.mark.django_db(transaction=True)
def test_clients_resume_with_nothing_lost_after_a_redis_restart(layer, tmp_path, settings):
    """``pubsub`` (the default): the sockets stay open and are refilled from the outbox once the
    layer has subscribed again; a client that dropped meanwhile resumes with last_event_id.
    ``core``: the sockets are closed, and the clients resume with last_event_id."""
    helpers.area()
    operator = factories.make_member(role="operator")
    http_token, _ = api_token_issue(user=operator.user)
    ws_token, _ = api_token_issue(user=operator.user)
    redis = RedisServer(tmp_path)
    redis.start()

    async def scenario(port: int) -> None:
        client = await WebSocket.connect(port, "/ws/events/", token=ws_token)
        await client.live()
        dropping = await WebSocket.connect(port, "/ws/events/", token=ws_token)
        await dropping.live()
        status, before = await asyncio.to_thread(http, port, "POST", "/api/incidents/",
                                                 token=http_token, body=incident("avant"))
        assert status == 201
        frames = [await client.frame(), await client.frame()]
        assert frames[0]["data"]["incident"]["reference"] == before["reference"]
        assert [await dropping.frame(), await dropping.frame()] == frames
        last_seen = frames[-1]["id"]
        await dropping.close()  # a tablet whose network drops: it comes back after the restart

        redis.kill()
        # Writes go on while Redis is down: the relay fails, is logged, and the request succeeds.
        during = []
        for text in ("pendant 1", "pendant 2"):
            status, body = await asyncio.to_thread(http, port, "POST", "/api/incidents/",
                                                   token=http_token, body=incident(text))
            assert status == 201, body
            during.append(body["reference"])

        if layer == "core":
            # The socket lost its channel layer: the server ends it rather than leave it deaf,
            # so that the client reconnects.
            with pytest.raises((Closed, ConnectionError)):
                while True:
                    frame = await client.receive(timeout=10)
                    assert frame["type"] == "heartbeat", frame  # nothing of the outage gets through
            await client.close()

        def assert_missed(missed: list[dict]) -> None:
            assert [f["type"] for f in missed] == ["incident.created", "journal.appended"] * 2
            assert [f["data"]["incident"]["reference"] for f in missed[::2]] == during
            assert [f["id"] for f in missed] == sorted({f["id"] for f in missed})
            assert missed[0]["id"] > last_seen

        redis.start()  # same port, empty
        if layer == "pubsub":
            # The socket that stayed open is refilled in place once the layer has subscribed
            # again, before any relay: the 4 events are committed, that is enough.
            assert_missed([await client.frame(timeout=15) for _ in range(4)])
        assert await asyncio.to_thread(relay_in_a_thread_of_its_own) == 4

        resumed = await reconnect(port, f"/ws/events/?last_event_id={last_seen}", token=ws_token)
        assert_missed([await resumed.frame(timeout=15) for _ in range(4)])
        clients = [resumed] if layer == "core" else [client, resumed]

        status, after = await asyncio.to_thread(http, port, "POST", "/api/incidents/",
                                                token=http_token, body=incident("après"))
        assert status == 201
        for each in clients:
            live = await each.frame()  # live again, and nothing replayed twice before it
            assert live["type"] == "incident.created"
            assert live["data"]["incident"]["reference"] == after["reference"]
            await each.close()

    try:
        # The test process relays to the same Redis, through the same layer, as the Daphne process.
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": LAYERS[layer],
                                               "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"],
                                                          "hosts": [redis.url]}}}
        with daphnes(1, tmp_path=tmp_path, redis_url=redis.url, env={"HUB_CHANNEL_LAYER": layer}) as (port,):
            try:
                asyncio.run(scenario(port))
            except BaseException:
                print(daphne_log(tmp_path))
                raise
    finally:
        redis.stop()
