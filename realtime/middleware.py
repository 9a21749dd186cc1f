"""WebSocket authentication: the session cookie (pages) or ``Authorization: Bearer`` (programs)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import WebsocketDenier
from django.conf import settings

from config.errors import POOL_EXHAUSTED_DETAIL, pool_exhausted, pool_exhausted_note
from partners.selectors import token_for
from realtime.consumers import CLOSE_TRY_AGAIN_LATER


class BearerTokenMiddleware(BaseMiddleware):
    """Puts the token's user in ``scope["user"]`` when the handshake carries a bearer token.

    A token that is unknown, expired or revoked leaves the connection anonymous;
    the consumer then refuses it.
    """

    async def __call__(self, scope, receive, send):
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        parts = header.decode("latin-1").split()
        if len(parts) == 2 and parts[0].lower() == "bearer":
            token = await database_sync_to_async(token_for)(parts[1])
            # The token's id: its revocation or expiry closes the socket (realtime.consumers).
            scope = dict(scope, auth_method="token", token_id=token.pk if token is not None else None)
            if token is not None:
                scope["user"] = token.user
            else:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()
            return await super().__call__(scope, receive, send)
        return await super().__call__(scope, receive, send)


class PoolExhaustedGuard:
    """Around a socket's authentication (the session, the user, a token: database reads before
    the consumer runs). The database pool exhausted there accepts the handshake and closes it
    with 1013 ("try again later"), as the consumer does for its own reads, instead of Daphne's
    refused handshake (HTTP 500) and an error with its traceback: the client reconnects after
    its backoff. What the consumer raises after accepting is its own business."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        answered = False

        async def watched(message):
            nonlocal answered
            if message.get("type") in {"websocket.accept", "websocket.close"}:
                answered = True
            await send(message)

        try:
            return await self.application(scope, receive, watched)
        except Exception as exc:
            if answered or not pool_exhausted(exc):
                raise
        pool_exhausted_note("websocket", f"handshake {scope.get('path', '')}")
        await send({"type": "websocket.accept"})
        said = {"type": "error", "error": "saturated", "detail": str(POOL_EXHAUSTED_DETAIL)}
        await send({"type": "websocket.send", "text": json.dumps(said, ensure_ascii=False)})
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER})


def HubAuthMiddlewareStack(inner):  # noqa: N802 (named like Channels' own stacks)
    # The session stack runs first; a bearer token, when present, wins.
    return AuthMiddlewareStack(BearerTokenMiddleware(inner))


Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of an ``Origin`` (or of an entry of ``HUB_ALLOWED_ORIGINS``),
    the default port written out; None for anything else (``null``, a bare host...)."""
    try:
        parts = urlsplit(value.strip())
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        return scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:  # a port out of range, a broken IPv6 literal
        return None


def own_origin(scope) -> Origin | None:
    """The origin of the hub as the browser reached it: the handshake's scheme and ``Host``,
    when that host is one the hub serves (``ALLOWED_HOSTS``: a name an attacker pointed at
    the hub is not)."""
    from django.http.request import split_domain_port, validate_host

    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") in {"wss", "https"} else "http"
    return parse_origin(f"{scheme}://{host}")


def origin_allowed(origin: str, scope) -> bool:
    candidate = parse_origin(origin)
    if candidate is None:
        return False
    allowed = {parse_origin(entry) for entry in settings.HUB_ALLOWED_ORIGINS} | {own_origin(scope)}
    return candidate in allowed - {None}


class OriginValidator:
    """Browsers always send ``Origin`` on a WebSocket handshake: when it is there, its scheme,
    host and port must be the hub's own (as the browser reached it) or one of
    ``HUB_ALLOWED_ORIGINS`` (the public address behind a proxy), so a page of another site,
    of another service on the same host, or the plain-http twin of the site cannot ride a
    signed-in operator's cookie. Programs send none and authenticate with a bearer token."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if b"origin" not in headers:
            if b"cookie" in headers and b"authorization" not in headers:
                # No Origin yet a cookie: not a browser, so not a page of ours either.
                scope = dict(scope, cookies={}, headers=[(k, v) for k, v in scope["headers"]
                                                          if k != b"cookie"])
            return await self.application(scope, receive, send)
        if not origin_allowed(headers[b"origin"].decode("latin-1"), scope):
            # Refused before the handshake is accepted: HTTP 403.
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
