"""Reads of the partners app: who is who, and what their role lets them do."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from partners.models import ApiToken, Member


def user_for_token(raw: str) -> AbstractBaseUser | None:
    """The active user behind a bearer token, or None when unknown, expired or revoked."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(raw), revoked_at__isnull=True,
                expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    return token.user


def member_of(user: AbstractBaseUser | AnonymousUser | None) -> Member | None:
    """The member profile of a user, or None (anonymous, or a bare Django account)."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return Member.objects.select_related("agency").get(user=user)
    except Member.DoesNotExist:
        return None


def is_supervisor(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    member = member_of(user)
    return member is not None and member.is_supervisor
