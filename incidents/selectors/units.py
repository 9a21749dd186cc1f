"""Field units: which a member sees, which it drives, who manages them, who hears of them."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import QuerySet

from incidents.models import Unit
from partners.choices import Role
from partners.models import Agency, Member
from realtime import audiences
from realtime.audiences import Audience


def unit_of(member: Member | None) -> Unit | None:
    """The unit a field-unit member drives, if any (never a retired one)."""
    if member is None or member.role != Role.FIELD_UNIT:
        return None
    return Unit.objects.filter(member=member, retired_at__isnull=True).select_related("agency").first()


def units_visible_to(member: Member | None, *, retired: bool = False) -> QuerySet[Unit]:
    """The units in service: the centre sees every one; a partner agent or a field unit those of
    its agency. ``retired``: the retired ones instead, for the centre only (to reinstate one)."""
    qs = Unit.objects.select_related("agency", "member__user").filter(retired_at__isnull=not retired)
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT} and not retired:
        return qs.filter(agency=member.agency)
    return qs.none()


def may_manage_units(member: Member | None) -> bool:
    """Creating, editing, handing over and retiring units: the centre's supervisors and
    administrators (docs/security.md)."""
    return member is not None and member.is_supervisor


def unit_drivers(agency: Agency, *, unit: Unit | None = None) -> QuerySet[Member]:
    """The members who may be handed ``unit``'s tablet: field units of ``agency`` with an active
    account who drive no other unit in service."""
    taken = Unit.objects.filter(member__isnull=False, retired_at__isnull=True)
    if unit is not None and unit.pk:
        taken = taken.exclude(pk=unit.pk)
    return (Member.objects.filter(agency=agency, role=Role.FIELD_UNIT, user__is_active=True)
            .exclude(pk__in=taken.values("member_id")).select_related("user", "agency")
            .order_by("user__username"))


def unit_audience(unit: Unit, *, former_agency: Agency | None = None) -> Audience:
    """The centre and the unit's agency (its own tablet hears its agency's group); when the unit
    has just changed agency, the former one too, so that its screens drop it."""
    codes = [unit.agency.code] + ([former_agency.code] if former_agency is not None else [])
    return audiences.agencies(codes)


def unit_list(*, member: Member | None, filters: Mapping[str, str]) -> QuerySet[Unit]:
    """The units in service ``member`` sees; ``retired`` (``1``/``true``): the retired ones."""
    return units_visible_to(member, retired=filters.get("retired") in {"1", "true"})


def unit_for(member: Member | None, pk: int) -> Unit | None:
    """The unit ``pk`` if ``member`` sees it; a field unit's own unit in one query."""
    if member is not None and member.role == Role.FIELD_UNIT:  # the usual caller, its own unit
        own = (Unit.objects.select_related("agency")
               .filter(pk=pk, member=member, retired_at__isnull=True).first())
        if own is not None:
            return own
    return units_visible_to(member).filter(pk=pk).first()


def may_open_tablet(member: Member | None) -> bool:
    """``/terrain/``: a field-unit member while a unit in service is handed to them."""
    return unit_of(member) is not None

