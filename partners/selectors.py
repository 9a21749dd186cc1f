"""Reads of the partners app: who is who, and what their role lets them do."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from partners.models import ApiToken, Member

log = logging.getLogger(__name__)


def token_for(raw: str) -> ApiToken | None:
    """The live bearer token of an active user, or None when unknown, expired or revoked."""
    token = (
        # Without the password's hash: the account is cached (user_for_token), and a save of
        # it then writes only the fields it holds.
        ApiToken.objects.select_related("user").defer("user__password")
        .filter(digest=ApiToken.digest_of(raw), revoked_at__isnull=True,
                expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    return token


# The token → (user, member) lookup of every bearer request, cached (Redis, shared by every
# process) for HUB_TOKEN_CACHE_SECONDS. Every entry carries the generation it was read under;
# anything that could change what a token gives (a token revoked or edited, an account
# deactivated or edited, a member's role, agency or habilitation changed, either deleted) moves
# the generation after commit (``token_cache_invalidate``, from partners.apps), so every entry
# read before is ignored from then on: a revoked token is refused at once, never served from
# the cache. Such changes are rare (a few a day), so one generation for all tokens is enough.
# A cache that does not answer is skipped (the database answers); the TTL bounds what an
# invalidation lost while Redis was away could leave.
_TOKEN_KEY = "hub-token:{digest}"
_GENERATION_KEY = "hub-token-generation"
# Set on the user a bearer token authenticated: its member profile, read with it (member_of).
PINNED_MEMBER = "_hub_member"


def _generation() -> str | None:
    """The current generation, made when missing (first use, Redis flushed)."""
    made = uuid.uuid4().hex
    if cache.add(_GENERATION_KEY, made, timeout=None):
        return made
    return cache.get(_GENERATION_KEY)


def _new_generation() -> None:
    try:
        cache.set(_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # Redis away: its entries expire within the TTL
        log.exception("could not invalidate the token cache")


def token_cache_invalidate() -> None:
    """Forget every cached token lookup (a new generation), now and again once the current
    transaction commits: a lookup between the two reads the database as it was before the
    change and caches that under the first new generation, which the second one retires."""
    _new_generation()
    transaction.on_commit(_new_generation)


def _lookup(raw: str) -> tuple[ApiToken, Member | None] | None:
    token = token_for(raw)
    if token is None:
        return None
    member = Member.objects.select_related("agency").filter(user=token.user).first()
    if member is not None:
        member.user = token.user  # the same account: member.user reads nothing more
    return token, member


def user_for_token(raw: str) -> User | None:
    """The active user behind a bearer token, or None when unknown, expired or revoked. The
    user carries its member profile (``member_of`` then reads no more)."""
    ttl = settings.HUB_TOKEN_CACHE_SECONDS
    if ttl <= 0:
        found = _lookup(raw)
        if found is None:
            return None
        user, member = found[0].user, found[1]
    else:
        key = _TOKEN_KEY.format(digest=ApiToken.digest_of(raw))
        try:
            got = cache.get_many([key, _GENERATION_KEY])
            generation = got.get(_GENERATION_KEY) or _generation()
        except Exception:
            log.warning("token cache unavailable; reading the database", exc_info=True)
            got, generation = {}, None
        entry = got.get(key)
        if (entry is not None and generation is not None and entry["generation"] == generation
                and entry["expires_at"] > timezone.now()):
            user, member = entry["user"], entry["member"]
        else:
            # The generation was read before the database: a change committed meanwhile has
            # moved it, and this entry, stored under the old one, is never served.
            found = _lookup(raw)
            if found is None:
                return None
            token, member = found
            user = token.user
            if generation is not None:
                left = int((token.expires_at - timezone.now()).total_seconds())
                try:
                    cache.set(key, {"generation": generation, "expires_at": token.expires_at,
                                    "user": user, "member": member}, timeout=min(ttl, max(1, left)))
                except Exception:
                    log.warning("token cache unavailable; not stored", exc_info=True)
    setattr(user, PINNED_MEMBER, member)
    return user


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
    if hasattr(user, PINNED_MEMBER):  # read with the bearer token (user_for_token)
        return getattr(user, PINNED_MEMBER)
    try:
        return Member.objects.select_related("agency").get(user=user)
    except Member.DoesNotExist:
        return None


def is_supervisor(user: User | AnonymousUser | None) -> bool:
    member = member_of(user)
    return member is not None and member.is_supervisor
