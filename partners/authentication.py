"""``Authorization: Bearer <token>`` for programs (DRF, and the WebSocket handshake later)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from partners.selectors import user_for_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request) -> tuple[User, None] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Malformed Authorization header."))
        user = user_for_token(header[1].decode("latin-1"))
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return user, None

    def authenticate_header(self, request) -> str:
        return self.keyword
