"""WebSocket authentication: the session cookie (pages) or ``Authorization: Bearer`` (programs)."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from partners.selectors import token_for


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


def HubAuthMiddlewareStack(inner):  # noqa: N802 (named like Channels' own stacks)
    # The session stack runs first; a bearer token, when present, wins.
    return AuthMiddlewareStack(BearerTokenMiddleware(inner))


class OriginValidator:
    """Browsers always send ``Origin`` on a WebSocket handshake: when it is there, it must be
    one of the hub's allowed hosts (a foreign page cannot ride a signed-in operator's
    cookie). Programs send none and authenticate with a bearer token."""

    def __init__(self, application) -> None:
        from channels.security.websocket import AllowedHostsOriginValidator

        self.application = application
        self.checked = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if b"origin" not in headers:
            if b"cookie" in headers and b"authorization" not in headers:
                # No Origin yet a cookie: not a browser, so not a page of ours either.
                scope = dict(scope, cookies={}, headers=[(k, v) for k, v in scope["headers"]
                                                          if k != b"cookie"])
            return await self.application(scope, receive, send)
        return await self.checked(scope, receive, send)
