"""Who may see which incident: the one rule that REST, pages and the event stream call."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from incidents.choices import JournalKind, NetKind
from incidents.models import Alert, Incident, JournalEntry, Net, RadioMessage, RadioReceipt, Unit
from partners.choices import AgencyKind, Role
from partners.models import Agency, Member
from realtime import audiences
from realtime.audiences import Audience


def incidents_visible_to(member: Member | None) -> QuerySet[Incident]:
    """Deny by default: the centre sees every incident; a partner agent or a field unit
    those shared with its agency; everyone else none."""
    # The commune's boundary is never shown with an incident: do not load it.
    qs = Incident.objects.select_related("nature", "commune").defer("commune__boundary")
    if member is None:
        return qs.none()
    if member.is_centre_staff:
        return qs
    if member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        return qs.filter(shared_with=member.agency)
    return qs.none()


def incident_audience(incident: Incident, *, camera_data: bool = False) -> Audience:
    """The centre, and the members of every agency the incident is shared with.

    ``camera_data``: the event names cameras; the Croix-Rouge, which never gets
    video nor camera identifiers, is left out.
    """
    agencies = incident.shared_with.all()
    if camera_data:
        agencies = agencies.exclude(kind=AgencyKind.CRF)
    return audiences.agencies(agencies.values_list("code", flat=True))


def journal_visible_to(incident: Incident, member: Member | None) -> QuerySet[JournalEntry]:
    """The journal of an incident the member may see; camera lines are kept from the CRF."""
    entries = incident.journal.select_related("author")
    if member is not None and member.agency.kind == AgencyKind.CRF:
        entries = entries.exclude(kind=JournalKind.CAMERA)
    return entries


def journal_entries_visible_to(member: Member | None) -> QuerySet[JournalEntry]:
    """Every journal line the member may read: those of the incidents it sees, as
    :func:`journal_visible_to` gives them (the event stream's replay asks this)."""
    entries = JournalEntry.objects.filter(incident__in=incidents_visible_to(member).values("pk"))
    if member is not None and member.agency.kind == AgencyKind.CRF:
        entries = entries.exclude(kind=JournalKind.CAMERA)
    return entries


# --- Radio nets, field units, Croix-Rouge alerts ----------------------------------------


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


def is_crf_member(member: Member | None) -> bool:
    return (member is not None and member.agency.kind == AgencyKind.CRF
            and member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT})


# Who may open each page of the incidents app: the views refuse the others, and the hub's
# menu (config/navigation.py) shows a page to those only.

# Members who read the incidents shared with their agency on the portal.
PORTAL_ROLES = frozenset({Role.PARTNER_AGENT, Role.FIELD_UNIT})


def may_open_console(member: Member | None) -> bool:
    """``/console/``: the centre's operators, supervisors and administrators."""
    return member is not None and member.is_centre_staff


def may_open_portal(member: Member | None) -> bool:
    """``/portail/incidents/``: partner agents and field units (the centre has the console)."""
    return member is not None and not member.is_centre_staff and member.role in PORTAL_ROLES


def may_open_tablet(member: Member | None) -> bool:
    """``/terrain/``: a field-unit member while a unit in service is handed to them."""
    return unit_of(member) is not None


def may_open_alerts(member: Member | None) -> bool:
    """``/portail/alertes/``: the Croix-Rouge's desk and teams."""
    return is_crf_member(member)


def alerts_visible_to(member: Member | None) -> QuerySet[Alert]:
    """Croix-Rouge alerts: the centre that raises them and the Croix-Rouge's members."""
    qs = Alert.objects.select_related("commune", "unit", "acknowledged_by").defer("commune__boundary")
    if member is not None and (member.is_centre_staff or is_crf_member(member)):
        return qs
    return qs.none()


def alert_audience() -> Audience:
    """The centre and every Croix-Rouge agency (desk and units)."""
    return audiences.agencies(Agency.objects.filter(kind=AgencyKind.CRF).values_list("code", flat=True))


def alert_stats(*, year: int) -> list[dict]:
    """Alerts raised per month of ``year`` (local time) and the time to take charge (minutes)."""
    import statistics
    import zoneinfo

    from django.conf import settings

    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    months: dict[int, dict] = {m: {"month": m, "raised": 0, "taken_charge": 0, "closed": 0,
                                   "escalated": 0, "_minutes": []} for m in range(1, 13)}
    rows = Alert.objects.filter(raised_at__year=year).values_list(
        "raised_at", "taken_charge_at", "closed_at", "escalated_at")
    for raised_at, taken_at, closed_at, escalated_at in rows:
        month = months[raised_at.astimezone(tz).month]
        month["raised"] += 1
        month["closed"] += closed_at is not None
        month["escalated"] += escalated_at is not None
        if taken_at is not None:
            month["taken_charge"] += 1
            month["_minutes"].append((taken_at - raised_at).total_seconds() / 60)
    result = []
    for month in months.values():
        minutes = month.pop("_minutes")
        month["mean_minutes_to_take_charge"] = round(statistics.fmean(minutes), 1) if minutes else None
        month["median_minutes_to_take_charge"] = round(statistics.median(minutes), 1) if minutes else None
        result.append(month)
    return result
