"""Request body size limits, enforced before Django reads a body.

Django's ASGI handler copies the whole body of a request (to memory, then to a temporary
file) before any middleware or view runs, and the JSON parser then decodes all of it: a
client could make the hub hold and parse any amount. :class:`BodySizeLimit` wraps the
HTTP application and answers 413 in JSON as soon as the declared ``Content-Length``, or
the bytes actually received (a chunked body declares none), pass the limit of the
address (``HUB_BODY_LIMITS``, first match; ``HUB_MAX_BODY_BYTES`` otherwise).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import translation

Scope = dict[str, Any]
# As Django's ASGIHandler types them: read-only messages.
Message = Mapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@lru_cache(maxsize=1)
def _compiled(limits: tuple[tuple[str, int], ...]) -> list[tuple[re.Pattern[str], int]]:
    return [(re.compile(pattern), size) for pattern, size in limits]


def body_limit(path: str) -> int:
    """The largest body (bytes) a request to ``path`` may carry."""
    for pattern, size in _compiled(tuple(settings.HUB_BODY_LIMITS)):
        if pattern.match(path):
            return size
    return settings.HUB_MAX_BODY_BYTES


def too_large_body(limit: int) -> dict[str, str]:
    from django.utils.translation import gettext

    return {"error": "too_large",
            "detail": gettext("The request body is larger than %(limit)s bytes, the limit at this address.")
            % {"limit": f"{limit:,}".replace(",", "\u202f")}}


class BodySizeLimit:
    """ASGI middleware for ``http`` scopes: 413 past the address's body limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, limit)
            return
        # Read the body here (Django would read all of it anyway before the view), counting,
        # then hand the same messages to the application.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                messages.append(message)
                break
            size += len(message.get("body", b""))
            if size > limit:
                await self._refuse(send, limit)
                return
            messages.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        with translation.override(settings.LANGUAGE_CODE):
            body = json.dumps(too_large_body(limit), ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
