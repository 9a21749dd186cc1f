"""The hub's channel layer: channels_redis' pub/sub layer, made to survive a Redis restart.

``RedisPubSubChannelLayer`` carries two to three times the frames of ``RedisChannelLayer`` per
CPU (one ``PUBLISH`` per group message, no list per channel to push to and pop from), but Redis
pub/sub keeps nothing: a message published while a process's subscriber connection is down, or
before it has subscribed again, is gone. channels_redis does nothing when that connection
drops; redis-py re-subscribes a ``PubSub``'s channels by itself when its connection comes back
(a connect callback), silently, so a consumer would never learn what it missed. This layer:

1. watches every new connection of a shard's subscriber (a connect callback of its own,
   registered after redis-py's re-subscription), and once Redis has confirmed the
   re-subscription (the answer to a PING sent after it, on the same connection), puts one
   ``hub.resync`` message in the queue of every channel of the process. The consumer answers
   it by sending from the outbox every event after the last one it sent, up to the newest
   committed (:meth:`realtime.consumers.EventConsumer.hub_resync`): whatever was published
   while the subscriptions were away is an outbox row, committed before that read;
2. bounds the queue of each channel (``capacity``, 1,000 by default as the core layer's): past
   it a message is dropped, counted in ``hub_layer_over_capacity``, and the channel gets a
   ``hub.resync`` (one at a time), so a process that falls behind refills from the outbox
   instead of growing without bound;
3. logs an outage once, and its end, rather than a traceback a second;
4. sends many group messages in one round trip (:meth:`PubSubChannelLayer.group_send_many`: a
   pipeline of ``PUBLISH`` per shard, each message serialised as ``group_send`` does), for the
   relay, which would otherwise wait for Redis once per (event, group).

The rest (publishing, groups, the per-loop layers) is channels_redis' own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _consistent_hash, _wrap_close, decode_hosts
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from realtime.metrics import LAYER_OVER_CAPACITY, LAYER_RESUBSCRIBED

log = logging.getLogger(__name__)

RESYNC_TYPE = "hub.resync"
# Sent after redis-py's re-subscription on a new connection; its answer confirms it.
_MARK = b"hub-resubscribed"
# While Redis is away, how long the receiver waits between two attempts to reconnect.
RETRY_SECONDS = 0.5


class _Shard(RedisSingleShardConnection):
    """One Redis host's publisher and subscriber, telling its channels when the subscriber
    reconnected."""

    channel_layer: PubSubLoopLayer

    def __init__(self, host: dict, channel_layer: PubSubLoopLayer) -> None:
        super().__init__(host, channel_layer)
        self._watched: Any = None  # the subscriber connection whose reconnections are watched
        self._down = False
        # For the logs: host and port only (the address may carry a password).
        address = urlsplit(host["address"]) if "address" in host else None
        self._where = (f"{address.hostname}:{address.port or 6379}" if address is not None
                       else f"{host.get('host', '?')}:{host.get('port', 6379)}")

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        connection = self._pubsub.connection if self._pubsub is not None else None
        if connection is not None and connection is not self._watched:
            # After PubSub's own callback (registered when it first connected): by the time
            # this one runs, the SUBSCRIBE of every channel is written on the connection.
            connection.register_connect_callback(self._reconnected)
            self._watched = connection

    async def publish_many(self, messages: list[tuple[str, bytes]]) -> None:
        """``PUBLISH`` each ``(channel, data)`` in order, in one round trip (a pipeline without
        MULTI: Redis runs them in order; a broken connection fails the call, and the caller sends
        the whole list again)."""
        async with self._lock:
            self._ensure_redis()
            pipe = self._redis.pipeline(transaction=False)
            for channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()

    async def _reconnected(self, connection: Any) -> None:
        # Redis answers in order: when this PING's answer comes back, every subscription
        # written before it is in force, and whatever is published from then on reaches us.
        await connection.send_command("PING", _MARK, check_health=False)

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub is not None and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if self._down:
                        log.warning("channel layer: Redis is back at %s", self._where)
                        self._down = False
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as error:
                if not self._down:
                    log.warning("channel layer: lost Redis at %s (%s); reconnecting, then every "
                                "socket of this process resyncs from the outbox",
                                self._where, error)
                    self._down = True
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:
                log.exception("channel layer: unexpected error in the receiver")
                await asyncio.sleep(1)

    def _receive_message(self, message: dict | None) -> None:
        if message is None:
            return
        layer = self.channel_layer
        if message["type"] == "pong":
            if message["data"] == _MARK:
                LAYER_RESUBSCRIBED.inc()
                layer.resync(list(layer.channels))
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        data = message["data"]
        if name in layer.channels:
            layer.deliver(name, data)
        elif name in layer.groups:
            for channel in layer.groups[name]:
                layer.deliver(channel, data)


class PubSubLoopLayer(RedisPubSubLoopLayer):
    """The layer of one event loop: its channels' bounded queues and their resyncs."""

    def __init__(self, hosts: list | None = None, *args: Any, capacity: int = 1000, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self.capacity = capacity
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]
        # Channels with a hub.resync waiting in their queue: one is enough until it is read.
        self._resync_due: set[str] = set()
        self._resync_bytes = self.channel_layer.serialize({"type": RESYNC_TYPE})

    async def _subscribe_to_channel(self, channel: str) -> None:
        try:
            await super()._subscribe_to_channel(channel)
        except BaseException:
            # Redis is away: the handshake that wanted this channel fails; leave no queue behind
            # (channels_redis would keep it, and every resync would queue into it forever).
            self.channels.pop(channel, None)
            raise

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        """Send each ``(group, message)``, in order for each group, one round trip per shard."""
        by_shard: dict[int, list[tuple[str, bytes]]] = {}
        serialize = self.channel_layer.serialize
        for group, message in messages:
            name = self._get_group_channel_name(group)
            index = _consistent_hash(name, len(self._shards))
            by_shard.setdefault(index, []).append((name, serialize(message)))
        for index, published in by_shard.items():
            await self._shards[index].publish_many(published)

    def deliver(self, channel: str, data: bytes) -> None:
        queue = self.channels.get(channel)
        if queue is None:
            return
        if queue.qsize() >= self.capacity:
            LAYER_OVER_CAPACITY.inc()
            self.resync([channel])
            return
        queue.put_nowait(data)

    def resync(self, channels: list[str]) -> None:
        """Tell these channels' consumers to refill from the outbox (above the bound: once)."""
        for channel in channels:
            queue = self.channels.get(channel)
            if queue is not None and channel not in self._resync_due:
                self._resync_due.add(channel)
                queue.put_nowait(self._resync_bytes)

    async def receive(self, channel: str) -> dict:
        try:
            message = await super().receive(channel)
        except BaseException:
            self._resync_due.discard(channel)  # the consumer is leaving: its channel is gone
            raise
        if message.get("type") == RESYNC_TYPE:
            # Read now: the refill that follows reads the outbox after this point, so a
            # message dropped from here on needs a resync of its own.
            self._resync_due.discard(channel)
        return message


class PubSubChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose sockets resync from the outbox when the layer may have
    lost messages (module docstring). ``capacity``: messages queued per channel."""

    def _get_layer(self) -> PubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = PubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer

    async def group_send_many(self, messages: list[tuple[str, dict]]) -> None:
        """``group_send`` of each ``(group, message)`` (in order within each group), in one
        round trip to each Redis shard instead of one per message."""
        await self._get_layer().group_send_many(messages)
