"""Messages a client sends on ``/ws/events/`` besides ``ping`` and ``ack``: a tablet's position
(``unit.position``), answered on the same socket (docs/realtime.md).

``realtime`` knows no app above it (docs/architecture.md): an app registers a handler for each
message type it takes (in its ``AppConfig.ready``), as it registers its replay rules. A handler
is a coroutine ``handler(user, message) → frame``; it answers with an ``ack`` or an ``error``
frame carrying the message's ``id``. It runs beside the socket's stream, not in its way: the
socket keeps delivering events, and takes the client's next messages, while it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from django.contrib.auth.models import User

InboundHandler = Callable[[User, dict], Awaitable[dict]]
_handlers: dict[str, InboundHandler] = {}


def register_inbound(message_type: str, handler: InboundHandler) -> None:
    _handlers[message_type] = handler


def inbound_handler(message_type: object) -> InboundHandler | None:
    return _handlers.get(message_type) if isinstance(message_type, str) else None


def reply_id(message: dict) -> str | None:
    """The ``id`` an answer repeats: the message's, as a string (a page tells the answers to its
    messages from events by it: an event's id is a whole number)."""
    value = message.get("id")
    return None if value is None or isinstance(value, bool | dict | list) else str(value)


def inbound_types() -> list[str]:
    return sorted(_handlers)
