"""Audiences: the channel groups an event goes to, and the groups a user listens on.

Group names are ``csu`` (operators and supervisors of the centre), ``agency.<code>``,
``agents.<code>`` (an agency's partner agents, not its field units), ``unit.<id>``,
``user.<id>``. ``realtime`` carries events to these groups and knows nothing of what the
events mean; the app that publishes decides the audience with its selectors
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.auth.models import User

from partners.choices import Role
from partners.models import Member

CENTRE = "csu"


def agency_group(code: str) -> str:
    return f"agency.{code}"


def agents_group(code: str) -> str:
    return f"agents.{code}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def unit_group(unit_id: int) -> str:
    return f"unit.{unit_id}"


class Audience(tuple):
    """An immutable, ordered set of group names."""

    def __new__(cls, groups: Iterable[str]) -> Audience:
        return super().__new__(cls, sorted(set(groups)))

    def __or__(self, other: Iterable[str]) -> Audience:  # type: ignore[override]
        return Audience([*self, *other])


def centre() -> Audience:
    """Every operator and supervisor of the centre."""
    return Audience([CENTRE])


def agencies(codes: Iterable[str], *, with_centre: bool = True) -> Audience:
    """The members of these agencies (and, by default, the centre, which sees everything)."""
    return Audience([*(agency_group(c) for c in codes), *([CENTRE] if with_centre else [])])


def agents(code: str, *, with_centre: bool = True) -> Audience:
    """The partner agents of this agency (its desks, not its field units' tablets)."""
    return Audience([agents_group(code), *([CENTRE] if with_centre else [])])


def user(user_id: int) -> Audience:
    return Audience([user_group(user_id)])


def unit(unit_id: int, *, with_centre: bool = True) -> Audience:
    return Audience([unit_group(unit_id), *([CENTRE] if with_centre else [])])


# Apps that give members groups of their own objects register a provider here (the
# incidents app: a field unit hears its unit's group); realtime knows no app above it.
MemberGroups = Callable[[Member], Iterable[str]]
_member_group_providers: list[MemberGroups] = []


def register_member_groups(provider: MemberGroups) -> None:
    if provider not in _member_group_providers:
        _member_group_providers.append(provider)


def groups_of(user: User, member: Member | None) -> list[str]:
    """The groups an authenticated user listens on, from its member profile.

    Deny by default: a user without a member profile hears only its own group.
    Auditors read the access journal and nothing else, so they hear only theirs.
    """
    groups = [user_group(user.pk)]
    if member is None or not user.is_active:
        return groups
    if member.is_centre_staff:
        groups.append(CENTRE)
    elif member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        groups.append(agency_group(member.agency.code))
        if member.role == Role.PARTNER_AGENT:
            groups.append(agents_group(member.agency.code))
        for provider in _member_group_providers:
            groups.extend(provider(member))
    return sorted(set(groups))
