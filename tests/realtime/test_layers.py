"""The pubsub channel layer (realtime.layers): what Redis pub/sub may lose is refilled from the outbox.

The whole story, Daphne and a Redis restarted under connected clients, is
tests/realtime/test_redis_restart.py; here, each piece on its own.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from incidents.services.journal import journal_append
from realtime import services
from realtime.layers import RESYNC_TYPE, PubSubChannelLayer
from tests import factories
from tests.realtime import helpers
from tests.realtime.processes import RedisServer
from tests.realtime.test_consumers import assert_hears_nothing_before_marker, drop_relayed_messages

db = database_sync_to_async


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def layer_on(url: str, *, prefix: str | None = None, **config) -> PubSubChannelLayer:
    return PubSubChannelLayer(hosts=[url], prefix=prefix or f"test-layers-{uuid.uuid4().hex[:8]}", **config)


async def next_message(layer: PubSubChannelLayer, channel: str, timeout: float = 10.0) -> dict:
    # Not asyncio.wait_for on receive(): a cancelled receive gives the channel up.
    task = asyncio.ensure_future(layer.receive(channel))
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise TimeoutError(f"nothing on {channel} within {timeout} s")
    return task.result()


async def test_after_redis_comes_back_the_groups_are_subscribed_again_and_every_channel_resyncs(tmp_path):
    redis = RedisServer(tmp_path)
    await asyncio.to_thread(redis.start)
    layer = layer_on(redis.url)
    try:
        channel = await layer.new_channel()
        await layer.group_add("csu", channel)
        await layer.group_send("csu", {"type": "hub.test", "n": 1})
        assert (await next_message(layer, channel))["n"] == 1
        before = counter("hub_layer_resubscribed_total")

        await asyncio.to_thread(redis.kill)
        await asyncio.to_thread(redis.start)  # same port, empty: it knows no subscription

        assert (await next_message(layer, channel))["type"] == RESYNC_TYPE
        assert counter("hub_layer_resubscribed_total") == before + 1
        # The resync came once Redis had confirmed the subscriptions: what is published now arrives.
        publisher = layer_on(redis.url, prefix=layer._kwargs["prefix"])
        await publisher.group_send("csu", {"type": "hub.test", "n": 2})
        await publisher.send(channel, {"type": "hub.test", "n": 3})
        assert [(await next_message(layer, channel))["n"] for _ in range(2)] == [2, 3]
        await publisher.flush()
    finally:
        await layer.flush()
        await asyncio.to_thread(redis.stop)


async def test_many_group_messages_go_in_one_round_trip_and_arrive_as_group_send_sends_them(settings):
    layer = layer_on(settings.REDIS_URL)
    try:
        both, only_b = await layer.new_channel(), await layer.new_channel()
        for group, channel in (("a", both), ("b", both), ("b", only_b)):
            await layer.group_add(group, channel)
        await layer.group_send("a", {"type": "hub.test", "n": 0})
        assert (await next_message(layer, both))["n"] == 0  # subscribed

        loop_layer = layer._get_layer()
        [shard] = loop_layer._shards
        pipelines = 0
        real_pipeline = shard._redis.pipeline

        def counted_pipeline(*args, **kwargs):
            nonlocal pipelines
            pipelines += 1
            return real_pipeline(*args, **kwargs)

        shard._redis.pipeline = counted_pipeline
        messages = [("a", {"type": "hub.test", "n": 1, "text": "é"}),
                    ("b", {"type": "hub.test", "n": 2}),
                    ("a", {"type": "hub.test", "n": 3, "nested": {"x": [1, 2]}}),
                    ("b", {"type": "hub.test", "n": 4})]
        await layer.group_send_many(messages)
        assert pipelines == 1
        assert [await next_message(layer, both) for _ in range(4)] == [m for _, m in messages]
        assert [await next_message(layer, only_b) for _ in range(2)] == [messages[1][1], messages[3][1]]
    finally:
        await layer.flush()


async def test_past_its_capacity_a_channel_drops_counts_and_asks_for_one_resync(settings):
    layer = layer_on(settings.REDIS_URL, capacity=2)
    try:
        channel = await layer.new_channel()
        await layer.group_add("csu", channel)
        await layer.group_send("csu", {"type": "hub.test", "n": 0})
        assert (await next_message(layer, channel))["n"] == 0  # subscribed: nothing queued
        before = counter("hub_layer_over_capacity_total")

        loop_layer = layer._get_layer()
        for n in range(1, 6):  # queued straight from Redis while nobody reads
            await layer.group_send("csu", {"type": "hub.test", "n": n})
        while loop_layer.channels[channel].qsize() < 3:  # 2 messages and one resync
            await asyncio.sleep(0.01)
        await layer.group_send("csu", {"type": "hub.test", "n": 99})  # dropped too: a fence
        while counter("hub_layer_over_capacity_total") < before + 4:
            await asyncio.sleep(0.01)

        received = [await next_message(layer, channel) for _ in range(3)]
        assert [m.get("n") for m in received[:2]] == [1, 2]
        assert received[2]["type"] == RESYNC_TYPE  # once for the four dropped
        assert counter("hub_layer_over_capacity_total") == before + 4
        # Read: room again, and the next message is delivered.
        await layer.group_send("csu", {"type": "hub.test", "n": 7})
        assert (await next_message(layer, channel))["n"] == 7
    finally:
        await layer.flush()


async def test_a_channel_asked_for_while_redis_is_away_leaves_nothing_behind(tmp_path):
    redis = RedisServer(tmp_path)  # never started: its port refuses connections
    layer = layer_on(redis.url)
    try:
        with pytest.raises(RedisConnectionError):
            await layer.new_channel()
        assert layer._get_layer().channels == {}
    finally:
        await layer.flush()


@pytest.mark.django_db(transaction=True)
async def test_a_resync_sends_every_missed_event_once_in_order_even_those_not_relayed_yet(
        connect, monkeypatch, settings):
    """What the consumer does with the layer's hub.resync: events whose messages were lost
    (relayed into the void) and one committed that the relay has not sent yet, then nothing
    twice when the relay sends it."""
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    assert ok
    drop_relayed_messages(monkeypatch)
    lost = await db(helpers.open_incident)(operator, description="perdu en route")
    monkeypatch.undo()
    settings.HUB_RELAY_INLINE = False

    await db(journal_append)(incident=lost, member=operator, text="pas encore relayé")
    assert await client.nothing()

    await get_channel_layer().group_send(f"user.{operator.user.pk}", {"type": RESYNC_TYPE})
    frames = await client.events(3)
    assert [f["type"] for f in frames] == ["incident.created", "journal.appended", "journal.appended"]
    assert frames[0]["data"]["incident"]["description"] == "perdu en route"
    assert frames[2]["data"]["entry"]["text"] == "pas encore relayé"
    assert [f["id"] for f in frames] == sorted({f["id"] for f in frames})

    settings.HUB_RELAY_INLINE = True
    assert await db(services.relay)() == 1  # its live message arrives: sent already, dropped
    await assert_hears_nothing_before_marker({"operator": client}, operator)
