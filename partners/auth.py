"""Signing in: passwords, the second factor (TOTP or a recovery code), throttling,
sessions. One path for the login page and for ``POST /api/auth/token/``."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import secrets

import pyotp
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.errors import DomainError
from partners.audit import Action, audit
from partners.choices import Role
from partners.models import Member, RecoveryCode, UserSession
from partners.signals import session_ended

MFA_ROLES = frozenset({Role.PARTNER_AGENT, Role.SUPERVISOR, Role.ADMIN})
# Journal action (partners.audit.Action lists the others): new recovery codes drawn from the
# account page, proved by a current code.
RECOVERY_CODES_RENEWED = "recovery_codes_renewed"


class BadCredentials(DomainError):
    """Unknown user, wrong password or inactive account."""

    code = "bad_credentials"
    status_code = 401


class SecondFactorRequired(DomainError):
    """This account signs in with a one-time code from its authenticator app."""

    code = "otp_required"
    status_code = 401


class BadSecondFactor(DomainError):
    """The one-time code is wrong, expired or already used."""

    code = "bad_otp"
    status_code = 401


class LoginLocked(DomainError):
    """Too many failed attempts: try again later."""

    code = "locked"
    status_code = 429


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


@functools.lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(tuple(settings.HUB_TRUSTED_PROXIES))


def peer_is_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the direct peer is one of our proxies (``HUB_TRUSTED_PROXIES``): only then are
    the ``X-Forwarded-*`` headers its writing rather than the client's."""
    peer = _ip(request.META.get("REMOTE_ADDR") or "")
    return peer is not None and any(peer in network for network in _trusted_networks())


def client_address(request: HttpRequest | None) -> str | None:
    """The address of the client: what the throttles count and the journal records.

    ``X-Forwarded-For`` is written by whoever sends the request, so it is read only when
    the peer is one of our proxies (``HUB_TRUSTED_PROXIES``), and then from the right:
    each trusted proxy appended the address it saw, and the client is the rightmost
    entry that no trusted proxy wrote. Entries left of it are the client's own writing.
    """
    if request is None:
        return None
    peer = _ip(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    trusted = _trusted_networks()

    def is_trusted(address) -> bool:
        return any(address in network for network in trusted)

    if not trusted or not is_trusted(peer):
        return str(peer)
    client = peer
    for entry in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        if not entry.strip():
            continue
        address = _ip(entry)
        if address is None:  # not written by a proxy of ours: stop at the last hop we vouch for
            break
        client = address
        if not is_trusted(address):
            break
    return str(client)


def mfa_required(member: Member | None) -> bool:
    if member is None or member.role not in MFA_ROLES:
        return False
    return not (settings.DEMO_MODE and settings.HUB_DEMO_RELAX_MFA)


# --- Throttling: counters in the shared cache (Redis), so every process agrees.

def _key(kind: str, value: str) -> str:
    return f"login-fail:{kind}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


def _failures(kind: str, value: str | None) -> int:
    return int(cache.get(_key(kind, value), 0)) if value else 0


def _check_throttle(username: str, address: str | None) -> None:
    if _failures("account", username) >= settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT:
        minutes = settings.HUB_LOGIN_LOCK_MINUTES
        raise LoginLocked(ngettext(
            "Too many failed attempts on this account: try again in %(minutes)d minute.",
            "Too many failed attempts on this account: try again in %(minutes)d minutes.",
            minutes) % {"minutes": minutes})
    if _failures("address", address) >= settings.HUB_LOGIN_MAX_FAILURES_PER_ADDRESS:
        raise LoginLocked(_("Too many failed attempts from this address: try again later."))


def _record_failure(username: str, address: str | None, reason: str) -> None:
    timeout = settings.HUB_LOGIN_LOCK_MINUTES * 60
    for kind, value in (("account", username), ("address", address)):
        if value:
            key = _key(kind, value)
            cache.add(key, 0, timeout)
            count = cache.incr(key)
            cache.touch(key, timeout)
            if kind == "account" and count == settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT:
                audit(action=Action.LOGIN_LOCKED, actor_username=username, address=address,
                      reason=f"{count} failed attempts")
    audit(action=Action.LOGIN_FAILED, actor_username=username[:150], address=address, reason=reason)


def _clear_failures(username: str) -> None:
    cache.delete(_key("account", username))


# --- The second factor.

def _totp_ok(member: Member, code: str) -> bool:
    if not member.totp_secret or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(member.totp_secret)
    now = timezone.now().timestamp()
    for drift in (0, -30, 30):  # one step either side, for clock drift
        if secrets.compare_digest(totp.at(now + drift), code):
            step = int((now + drift) // 30)
            # A code is good once: a replay within its window is refused.
            return cache.add(f"totp-used:{member.pk}:{step}", 1, 120)
    return False


def _recovery_ok(member: Member, code: str) -> bool:
    digest = hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()
    return bool(RecoveryCode.objects.filter(member=member, digest=digest, used_at__isnull=True)
                .update(used_at=timezone.now()))


def second_factor_ok(member: Member, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    return _totp_ok(member, code) or (len(code) > 6 and _recovery_ok(member, code))


def credentials_check(*, request: HttpRequest | None, username: str, password: str,
                      otp: str | None = None, require_otp: bool = True) -> tuple[User, bool]:
    """Check a username and password (and the second factor when ``otp`` is given).

    Returns ``(user, needs_otp)``: ``needs_otp`` is True when the account needs a
    second factor that has not been checked yet. With ``require_otp`` (the API),
    a missing code raises :class:`SecondFactorRequired` instead. Failures are
    counted per account and per address and audited; past the bounds, every
    attempt is refused without checking the password.
    """
    address = client_address(request)
    _check_throttle(username, address)
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        _record_failure(username, address, "bad password or inactive account")
        raise BadCredentials(_("Unknown user, wrong password or inactive account."))
    member = Member.objects.filter(user=user).select_related("agency").first()
    if member is None:
        # Deny by default: an account without a member profile (``createsuperuser``) has no
        # agency, no role and no second factor; it would reach the admin on a password alone.
        _record_failure(username, address, "no member profile")
        raise BadCredentials(_("Unknown user, wrong password or inactive account."))
    if mfa_required(member):
        if otp is None:
            if require_otp:
                raise SecondFactorRequired(_("This account needs a one-time code."), field="otp")
            return user, True
        if not second_factor_ok(member, otp):
            _record_failure(username, address, "bad second factor")
            raise BadSecondFactor(_("Wrong, expired or already used code."), field="otp")
    _clear_failures(username)
    return user, False


def second_step_check(*, request: HttpRequest, user: User, otp: str,
                      reason: str = "bad second factor") -> Member:
    """A one-time code from a user whose password was already checked: the second step of the
    login page, and every code asked again of a signed-in member (step-up, e.g. to renew the
    recovery codes). The sign-in's throttle and lock apply; ``reason`` is journalled with a
    failure. Returns the member."""
    address = client_address(request)
    _check_throttle(user.get_username(), address)
    member = Member.objects.filter(user=user).first()
    if member is None or not second_factor_ok(member, otp):
        _record_failure(user.get_username(), address, reason)
        raise BadSecondFactor(_("Wrong, expired or already used code."), field="otp")
    _clear_failures(user.get_username())
    return member


def recovery_codes_renew(*, request: HttpRequest, user: User, otp: str) -> list[str]:
    """New recovery codes for a signed-in member who proves a current code (step-up): throttled
    and locked like a sign-in, journalled either way."""
    member = second_step_check(request=request, user=user, otp=otp,
                               reason="bad second factor (code asked to renew the recovery codes)")
    codes = recovery_codes_generate(member=member)
    audit(action=RECOVERY_CODES_RENEWED, actor=user, address=client_address(request),
          details={"count": len(codes)})
    return codes


# --- Enrolment.

def recovery_codes_generate(*, member: Member, count: int = 10) -> list[str]:
    """New recovery codes (the old ones stop working); shown once, stored hashed."""
    codes = [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(count)]
    with transaction.atomic():
        RecoveryCode.objects.filter(member=member).delete()
        RecoveryCode.objects.bulk_create([
            RecoveryCode(member=member, digest=hashlib.sha256(c.replace("-", "").encode()).hexdigest())
            for c in codes])
    return codes


def totp_enrol(*, member: Member, secret: str, code: str, request: HttpRequest | None = None) -> list[str]:
    """Bind an authenticator app (proved by a first code); returns new recovery codes.

    A code asked like any other: the sign-in's throttle and lock apply, a failure is journalled
    (outside the transaction, which a failure rolls back)."""
    username, address = member.user.get_username(), client_address(request)
    _check_throttle(username, address)
    candidate = Member(pk=member.pk, totp_secret=secret)
    if not _totp_ok(candidate, code.strip()):
        _record_failure(username, address, "bad second factor (enrolment)")
        raise BadSecondFactor(_("This code does not match the secret: check the phone's clock."),
                              field="otp")
    _clear_failures(username)
    with transaction.atomic():
        member.totp_secret = secret
        member.save(update_fields=["totp_secret"])
        audit(action=Action.TOTP_ENROLLED, actor=member.user, address=address)
        return recovery_codes_generate(member=member)


# --- Sessions.

def session_register(*, request: HttpRequest, user: User) -> UserSession:
    if not request.session.session_key:
        request.session.save()
    session, _ = UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={"user": user, "address": client_address(request), "ended_at": None,
                  "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
                  "last_seen": timezone.now()})
    audit(action=Action.LOGIN, actor=user, address=client_address(request), object_type="session",
          object_id=session.pk)
    return session


def sessions_of(user: User):
    return UserSession.objects.filter(user=user, ended_at__isnull=True)


@transaction.atomic
def session_end(*, user: User, session_key: str, request: HttpRequest | None = None,
                action: str = Action.SESSION_ENDED) -> bool:
    """End one session of ``user`` everywhere: its cookie stops working at once."""
    updated = UserSession.objects.filter(user=user, session_key=session_key, ended_at__isnull=True) \
        .update(ended_at=timezone.now())
    Session.objects.filter(session_key=session_key).delete()
    transaction.on_commit(lambda: session_ended.send(sender=UserSession, user_id=user.pk,
                                                     session_key=session_key))
    if updated:
        audit(action=action, actor=user, address=client_address(request), object_type="session",
              object_id=session_key[:8])
    return bool(updated)
