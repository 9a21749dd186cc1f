"""Hands messages to the Channels layer from synchronous code.

``async_to_sync`` would open a new event loop, hence a new Redis connection,
for every call; the relay sends from one long-lived loop in a daemon thread
instead, so a process keeps one connection pool however many events it relays.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from channels.layers import get_channel_layer

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
    """Run ``coro`` on the relay loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result(timeout)


def group_send_many(messages: list[tuple[str, dict]]) -> None:
    """Send each ``(group, message)`` in order, on the relay loop."""
    layer = get_channel_layer()

    async def send_all() -> None:
        for group, message in messages:
            await layer.group_send(group, message)

    run(send_all())
