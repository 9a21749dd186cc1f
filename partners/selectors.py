"""Reads of the partners app: who is who, and what their role lets them do."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from partners.models import ApiToken, Member


def token_for(raw: str) -> ApiToken | None:
    """The live bearer token of an active user, or None when unknown, expired or revoked."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(raw), revoked_at__isnull=True,
                expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    return token


def user_for_token(raw: str) -> User | None:
    """The active user behind a bearer token, or None when unknown, expired or revoked."""
    token = token_for(raw)
    return token.user if token is not None else None


def token_expiry(token_id: int) -> dt.datetime | None:
    """When a token that still stands (neither revoked nor expired) expires; None otherwise."""
    live = ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True, expires_at__gt=timezone.now())
    return live.values_list("expires_at", flat=True).first()


def session_expiry(session_key: str) -> dt.datetime | None:
    """When a signed-in session that still stands ends by itself (Django's expiry or the hub's
    lifetime, ``HUB_SESSION_MAX_HOURS`` since the sign-in, the earlier); None when it no longer
    stands (ended: ending deletes Django's row; expired; past its lifetime). Idle time is
    counted on requests, by :class:`partners.middleware.SessionPolicyMiddleware`."""
    from django.contrib.sessions.models import Session

    from partners.middleware import STARTED

    now = timezone.now()
    session = Session.objects.filter(session_key=session_key, expire_date__gt=now).first()
    if session is None:
        return None
    ends = session.expire_date
    started = session.get_decoded().get(STARTED)
    if started is not None:
        lifetime_end = started + settings.HUB_SESSION_MAX_HOURS * 3600
        ends = min(ends, dt.datetime.fromtimestamp(lifetime_end, tz=dt.UTC))
    return ends if ends > now else None


def signed_in(request: HttpRequest | Request) -> User:
    """The account behind a request that the view's permissions already require signed in
    (a view that gets here anonymous is a bug: 401, not a write by nobody)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotAuthenticated
    return user


def member_of(user: User | AnonymousUser | None) -> Member | None:
    """The member profile of a user, or None (anonymous, or a bare Django account)."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return Member.objects.select_related("agency").get(user=user)
    except Member.DoesNotExist:
        return None


def is_supervisor(user: User | AnonymousUser | None) -> bool:
    member = member_of(user)
    return member is not None and member.is_supervisor
