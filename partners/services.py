"""Every write of the partners app."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from config.errors import Conflict, DomainError
from partners.choices import CENTRE_ROLES, AgencyKind, Role
from partners.models import Agency, ApiToken, Member
from partners.selectors import token_cache_invalidate
from partners.signals import token_revoked


class UnknownAgency(DomainError):
    """No agency has this code."""

    code = "unknown_agency"


@transaction.atomic
def member_create(*, username: str, password: str | None, agency_code: str, role: str,
                  email: str = "", first_name: str = "", last_name: str = "",
                  totp_secret: str = "", habilitation_reference: str = "",
                  habilitation_authority: str = "",
                  habilitation_valid_from: dt.date | None = None,
                  habilitation_valid_until: dt.date | None = None) -> Member:
    """Create a user and its member profile in one agency, with one role (``password`` None:
    an unusable one)."""
    if role not in Role.values:
        raise DomainError(_("Unknown role %(role)s; roles: %(roles)s.")
                          % {"role": role, "roles": ", ".join(Role.values)}, field="role")
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None:
        raise UnknownAgency(_("No agency has the code %(code)s.") % {"code": agency_code}, field="agency")
    if agency.kind != AgencyKind.CSU and role in CENTRE_ROLES:
        # An administrator is a superuser of the whole hub: never a partner's member.
        raise DomainError(_("Operators, supervisors and administrators belong to the CSU."), field="role")
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise Conflict(_("The username %(username)s already exists.") % {"username": username},
                       field="username")
    user = User.objects.create_user(username=username, password=password, email=email,
                                    first_name=first_name, last_name=last_name)
    if role == Role.ADMIN:
        user.is_staff = True
        user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    elif role == Role.SUPERVISOR:
        from django.contrib.auth.models import Group

        from partners.groups import SUPERVISORS, ensure_supervisor_group

        user.is_staff = True
        user.save(update_fields=["is_staff"])
        if not Group.objects.filter(name=SUPERVISORS).exists():
            ensure_supervisor_group()
        user.groups.add(Group.objects.get(name=SUPERVISORS))
    return Member.objects.create(
        user=user, agency=agency, role=role, totp_secret=totp_secret,
        habilitation_reference=habilitation_reference,
        habilitation_authority=habilitation_authority,
        habilitation_valid_from=habilitation_valid_from or (
            timezone.localdate() if habilitation_reference else None),
        habilitation_valid_until=habilitation_valid_until,
    )


def api_token_issue(*, user: User) -> tuple[str, ApiToken]:
    """Issue a bearer token; the raw value is returned once and never stored."""
    raw = ApiToken.new_raw()
    token = ApiToken.objects.create(
        user=user, digest=ApiToken.digest_of(raw),
        expires_at=timezone.now() + dt.timedelta(hours=settings.HUB_API_TOKEN_TTL_HOURS),
    )
    return raw, token


@transaction.atomic
def api_token_revoke(*, raw: str) -> bool:
    """Revoke a token; True when it existed and was live. Once committed, the sockets opened
    with it are closed (``partners.signals.token_revoked``)."""
    token = (ApiToken.objects.select_for_update()
             .filter(digest=ApiToken.digest_of(raw), revoked_at__isnull=True).only("pk", "user_id").first())
    if token is None:
        return False
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    token_cache_invalidate()  # refused at once, never served from the cache
    user_id, token_id = token.user_id, token.pk
    transaction.on_commit(lambda: token_revoked.send(sender=ApiToken, user_id=user_id, token_id=token_id))
    return True
