"""ASGI application for the ``-fixed`` variants of ``benchmarks/fanout.py`` (never used by the hub).

``config.asgi.application`` with the consumer change the benchmark proposes for
``realtime/consumers.py``: Channels (4.2+) runs ``aclose_old_connections()`` (a
``sync_to_async`` hop to the single thread-sensitive worker thread) before EVERY
handler, so each live event costs each recipient a thread round trip although
``hub_event`` touches no database (its gap refill goes through
``database_sync_to_async``, which closes stale connections itself). The fix
dispatches ``hub.event`` straight to its handler::

    async def dispatch(self, message: dict) -> None:
        if message.get("type") == "hub.event":
            await self.hub_event(message)
            return
        await super().dispatch(message)

Served as ``daphne -b 127.0.0.1 -p PORT benchmarks.fanout_asgi:application`` from the
repository root, with ``DJANGO_SETTINGS_MODULE=benchmarks.fanout_settings``.
"""

from __future__ import annotations

from config.asgi import application  # noqa: F401 (sets Django up; what Daphne serves)
from realtime.consumers import EventConsumer

_channels_dispatch = EventConsumer.dispatch


async def dispatch(self, message: dict) -> None:
    if message.get("type") == "hub.event":
        await self.hub_event(message)
        return
    await _channels_dispatch(self, message)


EventConsumer.dispatch = dispatch
