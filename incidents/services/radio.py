"""Radio traffic (trafic radio): nets (talk groups), messages, acknowledgements, and the
follow-up of the messages nobody acknowledged in time."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from config.errors import Conflict, DomainError, NotAllowed
from incidents.choices import IncidentStatus, JournalKind, NetKind, RadioPriority
from incidents.events import RadioAcknowledged, RadioEscalated, RadioMessageSent, radio_message_data
from incidents.models import Incident, Net, RadioMessage, RadioReceipt, Unit
from incidents.selectors.radio import net_audience, net_units, nets_visible_to, receipt_for
from incidents.selectors.units import unit_of
from incidents.services.common import in_area, retired_refusal, text_checked
from incidents.services.journal import journal_line_write
from partners.choices import AgencyKind
from partners.models import Agency, Member
from realtime.events import local_iso
from realtime.services import publish


class NetNotAllowed(NotAllowed):
    """The sender is not on this net."""

    code = "net_not_allowed"


class NotARecipient(NotAllowed):
    code = "not_a_recipient"


RADIO_MAX_TEXT = 2000

def net_for_agency(agency: Agency) -> Net:
    net, _ = Net.objects.get_or_create(agency=agency, kind=NetKind.AGENCY,
                                       defaults={"name": f"Réseau {agency.name}"})
    return net


def net_for_incident(incident: Incident) -> Net:
    net, _ = Net.objects.get_or_create(incident=incident, kind=NetKind.INCIDENT,
                                       defaults={"name": f"Incident {incident.reference}"})
    return net


def net_for_unit(unit: Unit) -> Net:
    net, _ = Net.objects.get_or_create(unit=unit, kind=NetKind.DIRECT,
                                       defaults={"name": f"Ligne directe {unit.callsign}"})
    net.unit = unit  # the caller's copy: no query to read it back
    return net


@transaction.atomic
def nets_ensure() -> None:
    """Create the nets that follow from the agencies: one per partner agency and the
    all-partners net (incident nets are made when an incident is shared, direct lines with
    their unit). Idempotent; cheap when nothing is missing."""
    Net.objects.get_or_create(kind=NetKind.ALL_PARTNERS, defaults={"name": "Interservices"})
    for agency in Agency.objects.exclude(kind=AgencyKind.CSU).filter(net__isnull=True):
        net_for_agency(agency)


def callsign_of(member: Member) -> str:
    """How a member is named on the air: its unit's callsign, the centre's, or its agency's code."""
    if member.is_centre_staff:
        return settings.HUB_CENTRE_CALLSIGN
    unit = unit_of(member)
    return unit.callsign if unit is not None else member.agency.code.upper()


def _radio_journal_text(message: RadioMessage) -> str:
    tag = "" if message.priority == RadioPriority.ROUTINE else f"[{message.get_priority_display().upper()}] "
    return f"{tag}{message.from_callsign} → {message.net.name} : {message.text}"


def _receipts_known(message: RadioMessage, receipts: list[RadioReceipt]) -> None:
    """``message.receipts.all()`` answers the receipts just made without reading them back (as a
    ``prefetch_related`` would have left them)."""
    cached = message.receipts.all()
    cached._result_cache = list(receipts)
    setattr(cached, "_prefetch_done", True)  # noqa: B010 (Django's private prefetch cache)
    setattr(message, "_prefetched_objects_cache", {"receipts": cached})  # noqa: B010


@transaction.atomic
def radio_message_send(*, member: Member, text: str, net: Net | None = None, to_unit: Unit | None = None,
                       priority: str = RadioPriority.ROUTINE, location: Point | None = None,
                       ack_required: bool = False, now: dt.datetime | None = None) -> RadioMessage:
    """Send a message on ``net``, or to ``to_unit`` on its direct line.

    The recipients (the units on the net with a tablet, and the centre when a partner
    speaks) each get a receipt to acknowledge. A flash always requires an acknowledgement.
    A message on an incident's net is also written in its main courante.
    """
    if (net is None) == (to_unit is None):
        raise DomainError(gettext("Give a net or a unit, not both."), field="net")
    if priority not in RadioPriority.values:
        raise DomainError(gettext("Unknown priority: %(priority)s.") % {"priority": priority},
                          field="priority")
    text = text_checked(text, "text", limit=RADIO_MAX_TEXT)
    if location is not None:
        in_area(location, "location")
    if to_unit is not None:
        if to_unit.retired:
            raise retired_refusal(to_unit, "to_unit")
        net = net_for_unit(to_unit)
    assert net is not None
    if net.kind == NetKind.DIRECT and net.unit is not None and net.unit.retired:
        raise retired_refusal(net.unit, "net")
    # The centre is on every net (nets_visible_to): only a partner's net needs asking.
    if not member.is_centre_staff and not nets_visible_to(member).filter(pk=net.pk).exists():
        raise NetNotAllowed(gettext("You are not on this net."), field="net")
    if net.incident is not None and net.incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("The incident of this net is closed."), field="net")
    now = now or timezone.now()
    sender_unit = unit_of(member)
    message = RadioMessage.objects.create(
        net=net, to_unit=to_unit, sender=member.user, from_callsign=callsign_of(member),
        priority=priority, text=text, location=location,
        ack_required=ack_required or priority == RadioPriority.FLASH, sent_at=now, last_sent_at=now)
    if net.kind == NetKind.DIRECT and net.unit is not None:  # its unit, known already
        on_net = [net.unit] if net.unit.member_id is not None and not net.unit.retired else []
    else:
        on_net = list(net_units(net))
    receipts = [RadioReceipt(message=message, unit=unit, callsign=unit.callsign)
                for unit in on_net if unit != sender_unit]
    if not member.is_centre_staff:
        receipts.append(RadioReceipt(message=message, unit=None, callsign=settings.HUB_CENTRE_CALLSIGN))
    RadioReceipt.objects.bulk_create(receipts)
    _receipts_known(message, receipts)
    publish(RadioMessageSent(message=radio_message_data(message), resend=0), audience=net_audience(net))
    if net.incident is not None:
        journal_line_write(incident=net.incident, user=member.user, kind=JournalKind.RADIO,
                           text=_radio_journal_text(message))
    return message


@transaction.atomic
def radio_acknowledge(*, message: RadioMessage, member: Member,
                      now: dt.datetime | None = None) -> RadioReceipt:
    """Acknowledge ``message`` for the member's station (its unit, or the centre).

    Exactly once per recipient: a second acknowledgement returns the first, unchanged.
    """
    receipt = receipt_for(message, member)
    if receipt is None:
        raise NotARecipient(gettext("You are not a recipient of this message."))
    receipt = RadioReceipt.objects.select_for_update().get(pk=receipt.pk)
    if receipt.acknowledged_at is not None:
        return receipt
    receipt.acknowledged_at = now or timezone.now()
    receipt.acknowledged_by = member.user
    receipt.save(update_fields=["acknowledged_at", "acknowledged_by"])
    pending = sorted(message.receipts.filter(acknowledged_at__isnull=True).values_list("callsign", flat=True))
    publish(RadioAcknowledged(message_id=message.pk, net=message.net_id, callsign=receipt.callsign,
                              by=member.user.get_username(), at=local_iso(receipt.acknowledged_at),
                              pending=pending),
            audience=net_audience(message.net))
    return receipt


def _radio_delay(priority: str) -> dt.timedelta:
    return dt.timedelta(seconds=settings.HUB_RADIO_ACK_SECONDS[priority])


@transaction.atomic
def _radio_follow_up(message_id: int, now: dt.datetime) -> str | None:
    message = (RadioMessage.objects.select_for_update(skip_locked=True, of=("self",))
               .select_related("net", "to_unit")
               .filter(pk=message_id, escalated_at__isnull=True).first())
    if message is None or now - message.last_sent_at < _radio_delay(message.priority):
        return None
    if not message.receipts.filter(acknowledged_at__isnull=True).exists():
        return None
    if message.resends < settings.HUB_RADIO_RESENDS:
        message.resends += 1
        message.last_sent_at = now
        message.save(update_fields=["resends", "last_sent_at"])
        publish(RadioMessageSent(message=radio_message_data(message), resend=message.resends),
                audience=net_audience(message.net))
        return "resent"
    message.escalated_at = now
    message.save(update_fields=["escalated_at"])
    data = radio_message_data(message)
    # The supervisors are the centre's; the net hears it too, so that the sender knows.
    publish(RadioEscalated(message=data), audience=net_audience(message.net))
    if message.net.incident is not None:
        text = f"Message non acquitté par {', '.join(data.pending)} : signalé au superviseur"
        journal_line_write(incident=message.net.incident, user=message.sender, kind=JournalKind.RADIO,
                           text=text)
    return "escalated"


def radio_follow_up(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-send every urgent or flash message still unacknowledged after its delay
    (``HUB_RADIO_ACK_SECONDS``), ``HUB_RADIO_RESENDS`` times, then escalate it to the
    supervisors. ``now`` is explicit so that tests control time."""
    now = now or timezone.now()
    shortest = min(_radio_delay(p) for p in (RadioPriority.URGENT, RadioPriority.FLASH))
    due = (RadioMessage.objects.filter(ack_required=True, escalated_at__isnull=True,
                                       priority__in=[RadioPriority.URGENT, RadioPriority.FLASH],
                                       last_sent_at__lte=now - shortest,
                                       receipts__acknowledged_at__isnull=True)
           .distinct().order_by("id").values_list("id", flat=True))
    counts = {"resent": 0, "escalated": 0}
    for message_id in list(due):
        outcome = _radio_follow_up(message_id, now)
        if outcome:
            counts[outcome] += 1
    return counts

