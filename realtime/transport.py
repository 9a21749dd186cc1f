"""Hands messages to the Channels layer from synchronous code.

``async_to_sync`` would open a new event loop, hence a new Redis connection,
for every call; the relay sends from one long-lived loop in a daemon thread
instead, so a process keeps one connection pool however many events it relays.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from channels.layers import get_channel_layer

from realtime.layers import PubSubChannelLayer

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="realtime-relay", daemon=True).start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
    """Run ``coro`` on the relay loop and wait for its result. Past ``timeout`` it is cancelled
    and stopped before the TimeoutError reaches the caller: a relay that retries a batch must
    not send it again while the first attempt is still sending (the same frames twice, and
    the clients' channels over capacity)."""
    stopped = threading.Event()

    async def guarded() -> Any:
        try:
            return await coro
        finally:
            stopped.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), _background_loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()  # delivered to the coroutine at its next await
        stopped.wait(STOP_WAIT_SECONDS)
        raise


# How long a timed-out send may take to notice its cancellation (it is between two awaits).
STOP_WAIT_SECONDS = 5.0


# How long one call of group_send_many may take (the relay sends a slice of its batch per call).
SEND_TIMEOUT = 5.0


def group_send_many(messages: list[tuple[str, dict]], timeout: float = SEND_TIMEOUT) -> None:
    """Send each ``(group, message)`` in order, on the relay loop: with the hub's pubsub layer in
    one round trip to Redis (a pipeline), with another layer one ``group_send`` after the other.
    Past ``timeout`` the send is stopped and ``TimeoutError`` raised (see :func:`run`)."""
    layer = get_channel_layer()

    async def send_all() -> None:
        if isinstance(layer, PubSubChannelLayer):
            await layer.group_send_many(messages)
            return
        for group, message in messages:
            await layer.group_send(group, message)

    run(send_all(), timeout)
