"""Radio nets: who is on which net (reads, sends, hears), the messages a member may read, and
whose acknowledgement is awaited."""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from config.errors import DomainError
from incidents.choices import NetKind
from incidents.models import Net, RadioMessage, RadioReceipt, Unit
from incidents.selectors.incidents import incident_audience, incidents_visible_to
from incidents.selectors.units import unit_of
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member
from realtime import audiences
from realtime.audiences import Audience


def nets_visible_to(member: Member | None) -> QuerySet[Net]:
    """The nets a member is on (may read and send on). The centre is on every net; a partner
    agent or a field unit on its agency's net, the all-partners net and the nets of the
    incidents shared with its agency; a field unit also on its own direct line."""
    qs = Net.objects.select_related("agency", "incident", "unit")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role not in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        return qs.none()
    rule = (Q(kind=NetKind.AGENCY, agency=member.agency) | Q(kind=NetKind.ALL_PARTNERS)
            | Q(kind=NetKind.INCIDENT, incident__in=incidents_visible_to(member).values("pk")))
    if member.role == Role.FIELD_UNIT:
        rule |= Q(kind=NetKind.DIRECT, unit__member=member)
    return qs.filter(rule)


def nets_listed_for(member: Member | None) -> QuerySet[Net]:
    """The nets offered to speak on: those the member is on, less the direct lines of retired
    units (their traffic stays readable)."""
    return nets_visible_to(member).exclude(kind=NetKind.DIRECT, unit__retired_at__isnull=False)


def net_audience(net: Net) -> Audience:
    """Who hears a net: the same people ``nets_visible_to`` lets read it."""
    # Each kind of net names its agency, incident or unit (nets_ensure, net_for_unit...).
    if net.kind == NetKind.AGENCY:
        assert net.agency is not None
        return audiences.agencies([net.agency.code])
    if net.kind == NetKind.INCIDENT:
        assert net.incident is not None
        return incident_audience(net.incident)
    if net.kind == NetKind.DIRECT:
        assert net.unit_id is not None
        return audiences.unit(net.unit_id)
    return audiences.agencies(Agency.objects.exclude(kind=AgencyKind.CSU).values_list("code", flat=True))


def net_units(net: Net) -> QuerySet[Unit]:
    """The units on a net that have a tablet (someone to acknowledge)."""
    units = Unit.objects.filter(member__isnull=False, retired_at__isnull=True)
    if net.kind == NetKind.AGENCY:
        return units.filter(agency=net.agency)
    if net.kind == NetKind.INCIDENT:
        assert net.incident is not None  # an incident net names its incident
        return units.filter(agency__in=net.incident.shared_with.all())
    if net.kind == NetKind.DIRECT:
        assert net.unit_id is not None  # a direct line names its unit
        return units.filter(pk=net.unit_id)
    return units


def radio_messages_visible_to(member: Member | None) -> QuerySet[RadioMessage]:
    return (RadioMessage.objects.filter(net__in=nets_visible_to(member).values("pk"))
            .select_related("net", "to_unit").prefetch_related("receipts"))


def receipt_for(message: RadioMessage, member: Member) -> RadioReceipt | None:
    """The recipient row ``member`` acknowledges for: its unit's, or the centre's."""
    receipts = message.receipts.all()
    if member.is_centre_staff:
        return receipts.filter(unit__isnull=True).first()
    unit = unit_of(member)
    return receipts.filter(unit=unit).first() if unit is not None else None


def radio_messages_pending_for(member: Member | None) -> QuerySet[RadioMessage]:
    """The messages still waiting for the acknowledgement of the member's own station: the
    centre's for its staff, its unit's for a field unit; none for anyone else (a partner
    agent's desk is no recipient)."""
    waiting = RadioReceipt.objects.filter(acknowledged_at__isnull=True)
    if member is not None and member.is_centre_staff:
        waiting = waiting.filter(unit__isnull=True)
    else:
        unit = unit_of(member)
        if unit is None:
            return RadioMessage.objects.none()
        waiting = waiting.filter(unit=unit)
    return radio_messages_visible_to(member).filter(pk__in=waiting.values("message_id"))



def message_after(raw: str | None) -> int:
    """The ``after`` filter: a message id (0 when not given)."""
    try:
        return max(int(raw or 0), 0)
    except ValueError as exc:
        raise DomainError(gettext("A whole number."), field="after") from exc


def _page(qs: QuerySet[RadioMessage], after: int, last: int) -> list[RadioMessage]:
    if after:
        return list(qs.filter(pk__gt=after).order_by("id")[:500])
    return list(qs.order_by("-id")[:last])[::-1]


def net_messages(*, net: Net, filters: Mapping[str, str]) -> list[RadioMessage]:
    """A net's traffic, oldest first: after the message id ``after`` (500 at most), or the
    last 200."""
    qs = (RadioMessage.objects.filter(net=net).select_related("net", "to_unit")
          .prefetch_related("receipts"))
    return _page(qs, message_after(filters.get("after")), 200)


def radio_message_list(*, member: Member | None, filters: Mapping[str, str]) -> list[RadioMessage]:
    """The traffic on the member's nets, oldest first: after the message id ``after`` (500 at
    most), or the last 100; ``pending`` (``1``/``true``): only those waiting for the member's
    acknowledgement."""
    if filters.get("pending") in {"1", "true"}:
        qs = radio_messages_pending_for(member)
    else:
        qs = radio_messages_visible_to(member)
    return _page(qs, message_after(filters.get("after")), 100)
