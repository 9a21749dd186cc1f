"""Every write of the incidents app; each publishes its events through the outbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.db.models import Exists, QuerySet, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext

from cameras.models import Camera
from config.errors import Conflict, DomainError, NotAllowed
from geo.geometry import EARTH_RADIUS_M
from geo.models import Commune
from geo.selectors import commune_at, in_service_area
from incidents.choices import (
    AlertCondition,
    AlertOutcome,
    AlertStatus,
    IncidentStatus,
    JournalKind,
    NetKind,
    RadioPriority,
    UnitStatus,
)
from incidents.events import (
    UNIT_CHANGES,
    AlertRaised,
    AlertUpdated,
    IncidentCreated,
    IncidentShared,
    IncidentUnshared,
    IncidentUpdated,
    JournalAppended,
    PointData,
    RadioAcknowledged,
    RadioEscalated,
    RadioMessageSent,
    UnitEngaged,
    UnitPositionReported,
    UnitStatusChanged,
    UnitUpdated,
    alert_data,
    incident_data,
    journal_entry_data,
    radio_message_data,
    unit_data,
)
from incidents.models import (
    Alert,
    Incident,
    JournalEntry,
    Nature,
    Net,
    RadioMessage,
    RadioReceipt,
    Unit,
    UnitPosition,
)
from incidents.selectors import (
    alert_audience,
    incident_audience,
    is_crf_member,
    may_manage_units,
    net_audience,
    net_units,
    nets_visible_to,
    receipt_for,
    unit_audience,
    unit_of,
)
from partners.audit import Action, audit
from partners.choices import AgencyKind, Role
from partners.models import Agency, IdempotencyRecord, Member
from realtime.events import local_iso
from realtime.services import outbox_lock, publish
from realtime.signals import sockets_rescope

log = logging.getLogger(__name__)

MAX_TEXT = 10_000


class OutsideServiceArea(DomainError):
    """The incident's location is outside the communes the centre serves."""

    code = "outside_service_area"


class UnknownNature(DomainError):
    code = "unknown_nature"


class UnknownAgency(DomainError):
    code = "unknown_agency"


def _text(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(gettext("This text cannot be empty."), field=field)
    if len(value) > MAX_TEXT:
        raise DomainError(gettext("At most %(count)d characters.") % {"count": MAX_TEXT}, field=field)
    return value


def _next_reference(year: int) -> str:
    # Serialised by the outbox lock every incident creation takes anyway; the
    # unique constraint on reference is the backstop.
    prefix = f"CSU-{year}-"
    # No row lock here: sharing locks the incident row and then takes the outbox lock;
    # locking rows after the outbox lock would deadlock with it.
    last = (Incident.objects.filter(reference__startswith=prefix)
            .order_by("-reference").values_list("reference", flat=True).first())
    number = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{number:06d}"


@transaction.atomic
def incident_create(*, author: User, nature: str, location: Point, description: str,
                    priority: int = 3, address: str = "") -> Incident:
    """Open an incident where ``location`` is, in the commune that contains it."""
    nature_obj = Nature.objects.filter(code=nature, active=True).first()
    if nature_obj is None:
        raise UnknownNature(gettext("Unknown nature: %(nature)s.") % {"nature": nature}, field="nature")
    if priority not in (1, 2, 3):
        raise DomainError(gettext("Priority is 1 (urgent), 2 or 3."), field="priority")
    description = _text(description, "description")
    commune = commune_at(location)
    if commune is None:
        raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
    outbox_lock()  # taken now rather than at publish: it also serialises reference numbers
    now = timezone.now()
    incident = Incident.objects.create(
        reference=_next_reference(timezone.localtime(now).year), nature=nature_obj,
        priority=priority, location=location, address=address.strip()[:300], commune=commune,
        description=description, reported_by=author, created_at=now)
    publish(IncidentCreated(incident=incident_data(incident)), audience=incident_audience(incident))
    _journal(incident=incident, author=author, kind=JournalKind.OPENED, text=description)
    return incident


def _journal(*, incident: Incident, author: User, kind: str, text: str,
             corrects: JournalEntry | None = None) -> JournalEntry:
    entry = JournalEntry.objects.create(incident=incident, author=author, kind=kind, text=text,
                                        corrects=corrects)
    publish(JournalAppended(incident_id=incident.pk, entry=journal_entry_data(entry)),
            audience=incident_audience(incident, camera_data=kind == JournalKind.CAMERA))
    return entry


@transaction.atomic
def journal_append(*, incident: Incident, author: User, text: str,
                   corrects: JournalEntry | None = None) -> JournalEntry:
    """Add a note to the main courante (a correction points at the entry it corrects)."""
    if corrects is not None and corrects.incident_id != incident.pk:
        raise DomainError(gettext("The corrected entry belongs to another incident."), field="corrects")
    return _journal(incident=incident, author=author, kind=JournalKind.NOTE,
                    text=_text(text, "text"), corrects=corrects)


@transaction.atomic
def journal_camera_note(*, incident: Incident, author: User, text: str) -> JournalEntry:
    """A line about the incident's images (a snapshot taken...): seen only by those who may see
    camera data, like the camera attachments."""
    return _journal(incident=incident, author=author, kind=JournalKind.CAMERA, text=_text(text, "text"))


@transaction.atomic
def incident_share(*, incident: Incident, agency_code: str, author: User) -> Incident:
    """Share the incident with an agency: its members see it, live, with its journal."""
    agency = Agency.objects.filter(code=agency_code).first()
    if agency is None or agency.kind == AgencyKind.CSU:
        raise UnknownAgency(gettext("No partner service has the code %(code)s.") % {"code": agency_code},
                            field="agency")
    incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot be shared."), field="incident")
    if incident.shared_with.filter(pk=agency.pk).exists():
        return incident
    incident.shared_with.add(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    _journal(incident=incident, author=author, kind=JournalKind.SHARED,
             text=f"Partagé avec {agency.name}")
    publish(IncidentShared(incident=incident_data(incident), agency=agency.code),
            audience=incident_audience(incident))
    net_for_incident(incident)  # the incident's talk group, heard by whoever it is shared with
    return incident


@transaction.atomic
def incident_unshare(*, incident: Incident, agency_code: str, author: User) -> Incident:
    """Stop sharing: the agency's members lose the incident (they are told first)."""
    incident = Incident.objects.select_for_update(no_key=True).get(pk=incident.pk)
    agency = incident.shared_with.filter(code=agency_code).first()
    if agency is None:
        raise UnknownAgency(gettext("The incident is not shared with %(code)s.") % {"code": agency_code},
                            field="agency")
    # Told while still in the audience, so that their screens drop it.
    publish(IncidentUnshared(incident_id=incident.pk, reference=incident.reference, agency=agency.code),
            audience=incident_audience(incident))
    incident.shared_with.remove(agency)
    incident.version += 1
    incident.save(update_fields=["version", "updated_at"])
    # Those who keep it get its new version (and shared_with), as after any change.
    publish(IncidentUpdated(incident=incident_data(incident)), audience=incident_audience(incident))
    _journal(incident=incident, author=author, kind=JournalKind.UNSHARED,
             text=f"Fin du partage avec {agency.name}")
    return incident


# Allowed moves of the status. An open incident may be closed at once (a doubt
# lifted without engaging anyone); closed and cancelled are final.
TRANSITIONS: dict[str, set[str]] = {
    IncidentStatus.OPEN: {IncidentStatus.ENGAGED, IncidentStatus.CLOSED, IncidentStatus.CANCELLED},
    IncidentStatus.ENGAGED: {IncidentStatus.CLOSED, IncidentStatus.CANCELLED},
    IncidentStatus.CLOSED: set(),
    IncidentStatus.CANCELLED: set(),
}


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    status_code = 409


class StaleVersion(Conflict):
    """Someone changed the incident since the caller read it."""

    code = "stale_version"


def _locked(incident: Incident, version: int | None) -> Incident:
    # FOR NO KEY UPDATE, of this row only: inserts that point at the incident (journal
    # lines, radio receipts) take a KEY SHARE lock on it at commit, which a plain FOR
    # UPDATE would block, a deadlock with the outbox lock (benchmarks/radio.py).
    locked = (Incident.objects.select_for_update(of=("self",), no_key=True)
              .select_related("nature", "commune").get(pk=incident.pk))
    if version is not None and version != locked.version:
        raise StaleVersion(gettext("Someone else changed the incident meanwhile: check its new version, "
                                   "then try again."), field="version")
    return locked


def _bump_and_announce(incident: Incident) -> None:
    incident.version += 1
    incident.save()
    publish(IncidentUpdated(incident=incident_data(incident)), audience=incident_audience(incident))


@transaction.atomic
def incident_transition(*, incident: Incident, status: str, author: User,
                        version: int | None = None, comment: str = "") -> Incident:
    """Move the incident to ``status`` when the current status allows it (``TRANSITIONS``)."""
    incident = _locked(incident, version)
    if status not in IncidentStatus.values:
        raise DomainError(gettext("Unknown status: %(status)s.") % {"status": status}, field="status")
    if status not in TRANSITIONS[incident.status]:
        raise TransitionNotAllowed(
            gettext("An incident “%(current)s” cannot become “%(next)s”.")
            % {"current": IncidentStatus(incident.status).label.lower(),
               "next": IncidentStatus(status).label.lower()}, field="status")
    previous = incident.status
    incident.status = status
    _bump_and_announce(incident)
    text = f"{IncidentStatus(previous).label} → {IncidentStatus(status).label}"
    if comment.strip():
        text += f" : {_text(comment, 'comment')}"
    kind = JournalKind.CLOSED if status == IncidentStatus.CLOSED else JournalKind.STATUS
    _journal(incident=incident, author=author, kind=kind, text=text)
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, author: User, version: int,
                    priority: int | None = None, nature: str | None = None,
                    address: str | None = None, location: Point | None = None) -> Incident:
    """Change priority, nature, address or location; refused (409) when ``version`` is stale.

    A move re-derives the commune; every change is written in the journal.
    """
    incident = _locked(incident, version)
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot change."), field="status")
    changes = []
    if priority is not None and priority != incident.priority:
        if priority not in (1, 2, 3):
            raise DomainError(gettext("Priority is 1 (urgent), 2 or 3."), field="priority")
        changes.append(f"priorité {incident.priority} → {priority}")
        incident.priority = priority
    if nature is not None and nature != incident.nature.code:
        nature_obj = Nature.objects.filter(code=nature, active=True).first()
        if nature_obj is None:
            raise UnknownNature(gettext("Unknown nature: %(nature)s.") % {"nature": nature}, field="nature")
        changes.append(f"nature « {incident.nature.label} » → « {nature_obj.label} »")
        incident.nature = nature_obj
    if address is not None and address.strip() != incident.address:
        incident.address = address.strip()[:300]
        changes.append(f"adresse : {incident.address}")
    if location is not None and not location.equals_exact(incident.location, 1e-9):
        commune = commune_at(location)
        if commune is None:
            raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
        incident.location, incident.commune = location, commune
        changes.append(f"nouvelle position ({location.y:.5f}, {location.x:.5f}), {commune.name}")
    if not changes:
        return incident
    _bump_and_announce(incident)
    _journal(incident=incident, author=author, kind=JournalKind.NOTE,
             text="Modification : " + " ; ".join(changes))
    return incident


@transaction.atomic
def incident_attach_camera(*, incident: Incident, camera: Camera, author: User) -> Incident:
    """Attach a camera to the incident (journalled); attaching it twice changes nothing."""
    incident = _locked(incident, None)
    if incident.cameras.filter(pk=camera.pk).exists():
        return incident
    incident.cameras.add(camera)
    _bump_and_announce(incident)
    _journal(incident=incident, author=author, kind=JournalKind.CAMERA,
             text=f"Caméra associée : {camera.code} ({camera.name})")
    return incident


# --- Radio traffic (trafic radio) -------------------------------------------------------


class NetNotAllowed(NotAllowed):
    """The sender is not on this net."""

    code = "net_not_allowed"


class NotARecipient(NotAllowed):
    code = "not_a_recipient"


RADIO_MAX_TEXT = 2000


def _in_area(point: Point, field: str) -> Point:
    if not in_service_area(point):
        raise OutsideServiceArea(gettext("This location is outside the service area."), field=field)
    return point


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
    text = (text or "").strip()
    if not text:
        raise DomainError(gettext("This text cannot be empty."), field="text")
    if len(text) > RADIO_MAX_TEXT:
        raise DomainError(gettext("At most %(count)d characters.") % {"count": RADIO_MAX_TEXT}, field="text")
    if location is not None:
        _in_area(location, "location")
    if to_unit is not None:
        if to_unit.retired:
            raise _retired_refusal(to_unit, "to_unit")
        net = net_for_unit(to_unit)
    assert net is not None
    if net.kind == NetKind.DIRECT and net.unit is not None and net.unit.retired:
        raise _retired_refusal(net.unit, "net")
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
        _journal(incident=net.incident, author=member.user, kind=JournalKind.RADIO,
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
        _journal(incident=message.net.incident, author=message.sender, kind=JournalKind.RADIO,
                 text=f"Message non acquitté par {', '.join(data.pending)} : signalé au superviseur")
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


# --- Field units (unités de terrain) -----------------------------------------------------


class ImplausiblePosition(DomainError):
    code = "implausible_position"


def _announce_unit(unit: Unit) -> None:
    unit.updated_at = timezone.now()
    unit.save()
    publish(UnitStatusChanged(unit=unit_data(unit)), audience=unit_audience(unit))


class CallsignTaken(Conflict):
    code = "callsign_taken"


class NotAFieldUnit(DomainError):
    code = "not_a_field_unit"


class MemberOfAnotherAgency(DomainError):
    code = "member_of_another_agency"


class MemberHasAUnit(Conflict):
    code = "member_has_a_unit"


class UnitRetired(Conflict):
    """The unit is retired: it keeps its history but takes part in nothing."""

    code = "unit_retired"


class UnitBusy(Conflict):
    code = "unit_busy"


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


# "Leave this as it is", for the fields of ``unit_update`` where ``None`` means something
# (``member=None`` takes the tablet back).
KEEP: Any = _Keep()

# A unit on its way or on the scene: it neither changes agency nor retires.
BUSY_STATUSES = frozenset({UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE})


def _other_units(unit: Unit | None) -> QuerySet[Unit]:
    """Every unit but ``unit`` (every unit when ``unit`` is one being created)."""
    return Unit.objects.exclude(pk=unit.pk) if unit is not None else Unit.objects.all()


def _retired_refusal(unit: Unit, field: str) -> UnitRetired:
    return UnitRetired(gettext("%(callsign)s is retired: it can no longer be engaged nor called.")
                       % {"callsign": unit.callsign}, field=field)


def _busy(unit: Unit) -> bool:
    return unit.incident_id is not None or unit.status in BUSY_STATUSES


def callsign_normalise(value: str) -> str:
    """A callsign as stored: single spaces, capitals."""
    return " ".join((value or "").split()).upper()


def unit_changes_check(*, unit: Unit | None, callsign: Any = KEEP, agency: Any = KEEP, member: Any = KEEP,
                       retired: Any = KEEP) -> dict[str, Any]:
    """The changes that a creation (``unit`` None) or an edit would make, checked and normalised:
    only what differs from the unit, keyed ``callsign``, ``agency``, ``member``, ``retired``.

    Raises the error a supervisor should read: callsign taken, agency that is not a partner,
    member who is not a field unit or belongs to another agency or already drives a unit,
    a retired unit given a tablet, an engaged unit moved or retired. Reads only (the admin's
    form calls it to show the error on the field; the services call it again under lock).
    """
    changes: dict[str, Any] = {}
    if callsign is not KEEP:
        callsign = callsign_normalise(callsign)
        if not callsign or len(callsign) > 40:
            raise DomainError(gettext("A callsign is 1 to 40 characters."), field="callsign")
        if unit is None or callsign != unit.callsign:
            taken = _other_units(unit).filter(callsign=callsign).select_related("agency").first()
            if taken is not None:
                text = (gettext("The callsign %(callsign)s is already taken by a retired unit of %(agency)s.")
                        if taken.retired else
                        gettext("The callsign %(callsign)s is already taken by a unit of %(agency)s."))
                raise CallsignTaken(text % {"callsign": callsign, "agency": taken.agency.name},
                                    field="callsign")
            changes["callsign"] = callsign
    if agency is not KEEP:
        if agency is None or agency.kind == AgencyKind.CSU:
            raise DomainError(gettext("A field unit belongs to a partner agency (police, gendarmerie, "
                                      "fire service, Croix-Rouge), not to the centre."), field="agency")
        if unit is None or agency.pk != unit.agency_id:
            if unit is not None and _busy(unit):
                raise UnitBusy(gettext("%(callsign)s is engaged: it changes agency once available again.")
                               % {"callsign": unit.callsign}, field="agency")
            changes["agency"] = agency
    if retired is not KEEP and unit is not None and bool(retired) != unit.retired:
        if retired and _busy(unit):
            raise UnitBusy(gettext("%(callsign)s is engaged: set it available before retiring it.")
                           % {"callsign": unit.callsign}, field="retired")
        changes["retired"] = bool(retired)
    new_agency = changes.get("agency", getattr(unit, "agency", None))
    will_be_retired = changes.get("retired", unit.retired if unit is not None else False)
    current = unit.member if unit is not None and unit.member_id else None
    if member is KEEP and current is not None and "agency" in changes:
        member = current  # its driver must belong to the new agency too
    if will_be_retired and member is not KEEP and member is not None and member == current:
        member = KEEP  # retiring takes the tablet back (the admin's form still names its driver)
    if member is not KEEP and member is not None:
        name = member.user.get_username()
        if will_be_retired and unit is not None:  # only an existing unit is retired
            raise _retired_refusal(unit, "member")
        if member.role != Role.FIELD_UNIT:
            raise NotAFieldUnit(gettext("%(member)s is not a field unit member: only a field unit account "
                                        "drives a unit's tablet.") % {"member": name}, field="member")
        if new_agency is not None and member.agency_id != new_agency.pk:
            raise MemberOfAnotherAgency(
                gettext("%(member)s belongs to %(member_agency)s, not to %(agency)s.")
                % {"member": name, "member_agency": member.agency.name, "agency": new_agency.name},
                field="member")
        other = _other_units(unit).filter(member=member, retired_at__isnull=True).first()
        if other is not None:
            raise MemberHasAUnit(
                gettext("%(member)s already drives %(callsign)s: take that tablet back first.")
                % {"member": name, "callsign": other.callsign}, field="member")
    if will_be_retired and member is KEEP:
        member = None  # a retired unit has no tablet
    if member is not KEEP and getattr(member, "pk", None) != getattr(current, "pk", None):
        changes["member"] = member
    return changes


def _may_manage(by: Member | None) -> None:
    # ``by`` None is the server's shell (create_unit, load_demo): whoever runs it runs the hub.
    if by is not None and not may_manage_units(by):
        raise NotAllowed(gettext("Only the centre's supervisors and administrators manage field units."))


def _unit_saved(unit: Unit, *, creating: bool) -> None:
    # Checked just before, but two supervisors may race: the unique constraints decide.
    try:
        with transaction.atomic():
            unit.save(force_insert=creating)
    except IntegrityError as exc:
        if Unit.objects.filter(callsign=unit.callsign).exclude(pk=unit.pk).exists():
            raise CallsignTaken(gettext("The callsign %(callsign)s is already taken.")
                                % {"callsign": unit.callsign}, field="callsign") from exc
        raise MemberHasAUnit(gettext("This member already drives another unit."), field="member") from exc


def _unit_changed(unit: Unit, changes: list[str], *, by: Member | None,
                  previous: Member | None = None, former_agency: Agency | None = None) -> None:
    publish(UnitUpdated(unit=unit_data(unit), changes=[c for c in UNIT_CHANGES if c in changes]),
            audience=unit_audience(unit, former_agency=former_agency))
    if "member" not in changes:
        return
    # Their sockets join (or leave) the unit's group.
    for user_id in {m.user_id for m in (previous, unit.member) if m is not None}:
        sockets_rescope(user_id)
    audit(action=Action.RIGHTS_CHANGED, actor=by.user if by is not None else None, obj=unit,
          actor_username="" if by is not None else "manage.py",
          details={"unit": unit.callsign, "agency": unit.agency.code,
                   "member": unit.member.user.get_username() if unit.member is not None else "",
                   "previous_member": previous.user.get_username() if previous is not None else ""})


@transaction.atomic
def unit_create(*, by: Member | None, callsign: str, agency: Agency, member: Member | None = None) -> Unit:
    """A field unit of ``agency``, with its direct line; ``member`` (a field unit of the same
    agency who drives no other unit) gets its tablet. ``by``: a supervisor or an administrator
    of the centre, or None for the server's shell."""
    _may_manage(by)
    changes = unit_changes_check(unit=None, callsign=callsign, agency=agency, member=member)
    unit = Unit(callsign=changes["callsign"], agency=changes["agency"], member=changes.get("member"))
    _unit_saved(unit, creating=True)
    net_for_unit(unit)
    net_for_agency(unit.agency)
    _unit_changed(unit, ["created", *(["member"] if unit.member_id else [])], by=by)
    return unit


@transaction.atomic
def unit_update(*, by: Member | None, unit: Unit, callsign: Any = KEEP, agency: Any = KEEP,
                member: Any = KEEP, retired: Any = KEEP, now: dt.datetime | None = None) -> Unit:
    """Rename the unit, move it to another agency, hand its tablet to ``member`` (``None``: take
    it back), retire it (``retired=True``: it leaves every list, keeps its history, loses its
    tablet) or reinstate it. One event, ``unit.updated``, tells the consoles and tablets.
    Same rights and refusals as ``unit_create`` (``unit_changes_check``); nothing is written
    when one is refused."""
    _may_manage(by)
    unit = (Unit.objects.select_for_update(of=("self",), no_key=True)
            .select_related("agency", "member__user", "member__agency").get(pk=unit.pk))
    changes = unit_changes_check(unit=unit, callsign=callsign, agency=agency, member=member, retired=retired)
    if not changes:
        return unit
    previous, former_agency = unit.member if unit.member_id else None, None
    said = list(changes)
    if "callsign" in changes:
        unit.callsign = changes["callsign"]
        Net.objects.filter(unit=unit, kind=NetKind.DIRECT).update(name=f"Ligne directe {unit.callsign}")
    if "agency" in changes:
        former_agency, unit.agency = unit.agency, changes["agency"]
        net_for_agency(unit.agency)
    if "retired" in changes:
        unit.retired_at = (now or timezone.now()) if changes["retired"] else None
        if not changes["retired"]:
            said[said.index("retired")] = "reinstated"
    if "member" in changes:
        unit.member = changes["member"]
    unit.updated_at = now or timezone.now()
    _unit_saved(unit, creating=False)
    _unit_changed(unit, said, by=by, previous=previous, former_agency=former_agency)
    return unit


@transaction.atomic
def unit_status_set(*, unit: Unit, status: str, author: User) -> Unit:
    """Change the unit's status; while engaged, the incident's journal records it.
    Back to available ends its engagement."""
    if status not in UnitStatus.values:
        raise DomainError(gettext("Unknown status: %(status)s.") % {"status": status}, field="status")
    unit = (Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency", "incident")
            .get(pk=unit.pk))
    if unit.retired:
        raise _retired_refusal(unit, "unit")
    if unit.status == status:
        return unit
    previous, incident = unit.status, unit.incident
    unit.status = status
    if status == UnitStatus.AVAILABLE:
        unit.incident = None
    _announce_unit(unit)
    if incident is not None:
        _journal(incident=incident, author=author, kind=JournalKind.UNIT,
                 text=f"{unit.callsign} : {UnitStatus(previous).label} → {UnitStatus(status).label}")
    return unit


def _distance_m(a: Point, b: Point) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a.x, a.y, b.x, b.y))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def _speed_check(fix_point: Point, fix_at: dt.datetime, point: Point, at: dt.datetime) -> None:
    limit = settings.HUB_UNIT_MAX_SPEED_KMH / 3.6
    seconds = abs((at - fix_at).total_seconds())
    metres = _distance_m(fix_point, point)
    # A GPS jitters by some tens of metres even standing still.
    if metres > 50 and metres / max(seconds, 1.0) > limit:
        raise ImplausiblePosition(
            gettext("%(metres)s m in %(seconds)s s from the fix of %(at)s: faster than %(speed)s km/h.")
            % {"metres": formats.number_format(metres, 0), "seconds": formats.number_format(seconds, 0),
               "at": formats.date_format(timezone.localtime(fix_at), "DATETIME_FORMAT"),
               "speed": formats.number_format(settings.HUB_UNIT_MAX_SPEED_KMH)}, field="position")


def _check_speed(unit: Unit, point: Point, at: dt.datetime) -> None:
    """Against the neighbouring fixes. A fix newer than the unit's latest has one neighbour,
    the latest, which the unit row carries (no query)."""
    if unit.position_at is None or at > unit.position_at:
        neighbours = [(unit.position, unit.position_at)] if unit.position is not None else []
    else:
        before = unit.positions.filter(at__lte=at).order_by("-at").first()
        after = unit.positions.filter(at__gt=at).order_by("at").first()
        neighbours = [(fix.point, fix.at) for fix in (before, after) if fix is not None]
    for fix_point, fix_at in neighbours:
        if fix_at is not None:
            _speed_check(fix_point, fix_at, point, at)


def _position_checks(point: Point, at: dt.datetime, now: dt.datetime) -> None:
    _in_area(point, "position")
    if at > now + dt.timedelta(seconds=60):
        raise DomainError(gettext("This position is dated in the future."), field="at")
    if at < now - dt.timedelta(hours=24):
        raise DomainError(gettext("This position is more than a day old."), field="at")


def _position_write(unit: Unit, point: Point, at: dt.datetime, accuracy_m: float | None) -> UnitPosition:
    """Store a fix newer than the unit's latest, move the unit and tell the screens."""
    fix = UnitPosition.objects.create(unit=unit, at=at, point=point, accuracy_m=accuracy_m)
    unit.position, unit.position_at = point, at
    unit.save(update_fields=["position", "position_at"])
    publish(UnitPositionReported(unit_id=unit.pk, callsign=unit.callsign,
                                 position=PointData(coordinates=(round(point.x, 7), round(point.y, 7))),
                                 at=local_iso(at)),
            audience=unit_audience(unit))
    return fix


@transaction.atomic
def unit_position_report(*, unit: Unit, point: Point, at: dt.datetime | None = None,
                         accuracy_m: float | None = None, now: dt.datetime | None = None) -> UnitPosition:
    """Record a position the unit's tablet reports, at ``at`` (a queued report comes late).

    Refused: outside the service area, in the future, more than a day old, or implying a
    speed above ``HUB_UNIT_MAX_SPEED_KMH`` from the neighbouring fixes. The same fix twice is
    kept once. Only a fix newer than the last one moves the unit on the map.
    """
    now = now or timezone.now()
    at = at or now
    _position_checks(point, at, now)
    unit = Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency").get(pk=unit.pk)
    if unit.retired:
        raise _retired_refusal(unit, "unit")
    if unit.position_at is None or at > unit.position_at:
        # The usual case, a fix newer than the latest: no fix at that time yet, no query needed.
        _check_speed(unit, point, at)
        return _position_write(unit, point, at, accuracy_m)
    same = unit.positions.filter(at=at).first()
    if same is not None and same.point.equals_exact(point, 1e-7):
        return same
    _check_speed(unit, point, at)
    return UnitPosition.objects.create(unit=unit, at=at, point=point, accuracy_m=accuracy_m)


# --- Positions over the tablet's socket (realtime.inbound, incidents.inbound): latest wins.


@dataclass(eq=False)
class PositionReport:
    """A position a tablet sent on its socket, waiting to be written; ``reply`` is the frame
    that answers it (ack or error), set once it is written, dropped, refused or superseded."""

    user_id: int
    key: str
    request_hash: str
    point: Point
    at: dt.datetime
    accuracy_m: float | None
    reply: dict | None = None

    def ack(self, result: str, unit_id: int | None = None) -> dict:
        return {"type": "ack", "id": self.key, "unit": unit_id, "at": local_iso(self.at), "result": result}

    def error(self, code: str, detail: Any) -> dict:
        return {"type": "error", "id": self.key, "error": code, "detail": detail}


@transaction.atomic
def unit_position_live(report: PositionReport, *, now: dt.datetime | None = None) -> dict:
    """Write a position a field unit's tablet sent on its socket: the unit its member drives,
    the same checks as :func:`unit_position_report`, its ``Idempotency-Key`` (the message's
    ``id``) kept with the answer, so the same message twice is one position and one answer.
    A fix not newer than the unit's latest is dropped (acknowledged, not refused, not stored):
    a live position that arrives late has been overtaken. Returns the ack frame.

    What it costs is what the write needs: one statement finds and locks the unit (through its
    driver, the member's checks in it) and answers whether the point is in the service area
    and whether the key was seen; then the fix, the unit moved, the outbox (two statements),
    the key's answer. The same key at once from two processes: the second insert of the key
    fails and the flush asks again, and answers the first one's answer."""
    now = now or timezone.now()
    if report.at > now + dt.timedelta(seconds=60):
        raise DomainError(gettext("This position is dated in the future."), field="at")
    if report.at < now - dt.timedelta(hours=24):
        raise DomainError(gettext("This position is more than a day old."), field="at")
    seen = IdempotencyRecord.objects.filter(user_id=report.user_id, key=report.key)
    unit = (Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency")
            .filter(member__user_id=report.user_id, member__user__is_active=True,
                    member__role=Role.FIELD_UNIT, retired_at__isnull=True)
            .annotate(in_area=Exists(Commune.objects.filter(boundary__covers=report.point)),
                      seen_hash=Subquery(seen.values("request_hash")[:1]),
                      seen_response=Subquery(seen.values("response")[:1]))
            .first())
    if unit is None:
        raise NotAllowed(gettext("Only a field unit driving a unit in service reports its position."))
    if unit.seen_hash is not None:
        if unit.seen_hash != report.request_hash:
            raise IdempotencyKeyReused(gettext("This request was already sent with another content."))
        answer = unit.seen_response
        return dict(answer if isinstance(answer, dict) else json.loads(answer), replayed=True)
    if not unit.in_area:
        raise OutsideServiceArea(gettext("This location is outside the service area."), field="position")
    if unit.position_at is not None and report.at <= unit.position_at:
        reply = report.ack("dropped", unit.pk)
    else:
        _check_speed(unit, report.point, report.at)
        _position_write(unit, report.point, report.at, report.accuracy_m)
        reply = report.ack("stored", unit.pk)
    IdempotencyRecord.objects.create(user_id=report.user_id, key=report.key, request_hash=report.request_hash,
                                     status_code=200, response=reply)
    return reply


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422


class PositionCoalescer:
    """Latest wins, per tablet (a field-unit member drives one unit): a position offered while
    an older one of the same tablet still waits replaces it (the older one is answered
    "superseded", never written); one offered older than the one waiting is superseded at
    once. :meth:`flush` writes what waits. Across processes the unit's row lock orders the
    writes, and a fix older than the unit's latest is dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, PositionReport] = {}
        self._writing: dict[int, threading.Lock] = {}

    def offer(self, report: PositionReport) -> None:
        with self._lock:
            waiting = self._waiting.get(report.user_id)
            if waiting is not None and report.at < waiting.at:
                report.reply = report.ack("superseded")
                return
            if waiting is not None:
                waiting.reply = waiting.ack("superseded")
            self._waiting[report.user_id] = report
            self._writing.setdefault(report.user_id, threading.Lock())

    def flush(self, user_id: int) -> None:
        """Write what waits for this tablet, if anything (synchronous: the database thread).
        Once it returns, every report offered before the call has its reply."""
        with self._lock:
            writing = self._writing.setdefault(user_id, threading.Lock())
        with writing:
            with self._lock:
                report = self._waiting.pop(user_id, None)
            if report is None:
                return  # written, or superseded, by a flush before this one
            try:
                try:
                    report.reply = unit_position_live(report)
                except IntegrityError:  # the same key, written meanwhile by another process
                    report.reply = unit_position_live(report)
            except DomainError as exc:
                report.reply = report.error(exc.code, exc.as_detail())
            except Exception:
                log.exception("position of user %s not written", user_id)
                report.reply = report.error("unavailable", gettext(
                    "The hub could not record this position; send it again."))


POSITIONS = PositionCoalescer()


@transaction.atomic
def unit_engage(*, unit: Unit, incident: Incident, author: User) -> Unit:
    """Engage the unit on the incident (journalled): the incident is shared with the unit's
    agency if it was not, an open incident becomes engaged, the unit goes en route."""
    unit = Unit.objects.select_for_update(of=("self",), no_key=True).select_related("agency").get(pk=unit.pk)
    if unit.retired:
        raise _retired_refusal(unit, "unit")
    incident = _locked(incident, None)  # the caller's copy may be stale
    if incident.status in {IncidentStatus.CLOSED, IncidentStatus.CANCELLED}:
        raise Conflict(gettext("A closed incident cannot engage a unit."), field="incident")
    if unit.status == UnitStatus.UNAVAILABLE:
        raise Conflict(gettext("%(callsign)s is unavailable.") % {"callsign": unit.callsign}, field="unit")
    if unit.incident_id == incident.pk:
        return unit
    if not incident.shared_with.filter(pk=unit.agency_id).exists():
        incident = incident_share(incident=incident, agency_code=unit.agency.code, author=author)
    net_for_incident(incident)
    if incident.status == IncidentStatus.OPEN:
        incident = incident_transition(incident=incident, status=IncidentStatus.ENGAGED, author=author)
    unit.incident = incident
    unit.status = UnitStatus.EN_ROUTE
    unit.updated_at = timezone.now()
    unit.save()
    publish(UnitEngaged(unit=unit_data(unit), incident_id=incident.pk, reference=incident.reference),
            audience=incident_audience(incident) | unit_audience(unit))
    _journal(incident=incident, author=author, kind=JournalKind.UNIT,
             text=f"Unité {unit.callsign} engagée ({unit.agency.name})")
    return unit


# --- Croix-Rouge alerts (signalements de personnes en détresse) --------------------------


def _alert_reference(year: int) -> str:
    prefix = f"CRF-{year}-"
    last = (Alert.objects.filter(reference__startswith=prefix).order_by("-reference")
            .values_list("reference", flat=True).first())
    return f"{prefix}{(int(last.rsplit('-', 1)[1]) + 1 if last else 1):06d}"


def _alert_announce(alert: Alert) -> None:
    alert.version += 1
    alert.save()
    publish(AlertUpdated(alert=alert_data(alert)), audience=alert_audience())


@transaction.atomic
def alert_raise(*, author: User, location: Point, description: str, people: int = 1,
                conditions: list[str] | None = None, address: str = "",
                now: dt.datetime | None = None) -> Alert:
    """Signal a person in distress to the Croix-Rouge (its desk and its units, live).

    Nothing about cameras is carried: the operator describes what is seen."""
    description = _text(description, "description")
    if not 1 <= people <= 100:
        raise DomainError(gettext("From 1 to 100 people."), field="people")
    conditions = list(dict.fromkeys(conditions or []))
    unknown = set(conditions) - set(AlertCondition.values)
    if unknown:
        raise DomainError(gettext("Unknown conditions: %(conditions)s.")
                          % {"conditions": ", ".join(sorted(unknown))}, field="conditions")
    commune = commune_at(location)
    if commune is None:
        raise OutsideServiceArea(gettext("This location is outside the service area."), field="location")
    if not Agency.objects.filter(kind=AgencyKind.CRF).exists():
        raise Conflict(gettext("No Croix-Rouge agency is registered to receive the alert."))
    outbox_lock()  # serialises the reference numbers too
    now = now or timezone.now()
    alert = Alert.objects.create(
        reference=_alert_reference(timezone.localtime(now).year), location=location,
        address=address.strip()[:300], commune=commune, description=description, people=people,
        conditions=conditions, raised_by=author, raised_at=now, last_sent_at=now)
    publish(AlertRaised(alert=alert_data(alert), resend=0), audience=alert_audience())
    return alert


def _alert_locked(alert: Alert) -> Alert:
    return (Alert.objects.select_for_update(of=("self",), no_key=True).select_related("commune", "unit")
            .get(pk=alert.pk))


@transaction.atomic
def alert_acknowledge(*, alert: Alert, member: Member, now: dt.datetime | None = None) -> Alert:
    """The Croix-Rouge has seen the alert (its escalation stops). Twice: unchanged."""
    if not is_crf_member(member):
        raise NotAllowed(gettext("Only the Croix-Rouge acknowledges its alerts."))
    alert = _alert_locked(alert)
    if alert.status != AlertStatus.RAISED:
        if alert.status == AlertStatus.CLOSED:
            raise Conflict(gettext("This alert is closed."), field="status")
        return alert
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_at, alert.acknowledged_by = now or timezone.now(), member.user
    _alert_announce(alert)
    return alert


@transaction.atomic
def alert_take_charge(*, alert: Alert, unit: Unit, member: Member, now: dt.datetime | None = None) -> Alert:
    """A Croix-Rouge unit goes to the person (it goes en route)."""
    if not is_crf_member(member):
        raise NotAllowed(gettext("Only the Croix-Rouge takes charge of its alerts."))
    if unit.agency.kind != AgencyKind.CRF or unit.agency_id != member.agency_id:
        raise DomainError(gettext("Choose a unit of your Croix-Rouge agency."), field="unit")
    if unit.retired:
        raise _retired_refusal(unit, "unit")
    own = unit_of(member)
    if member.role == Role.FIELD_UNIT and own != unit:
        raise NotAllowed(gettext("A field unit takes charge for itself."))
    alert = _alert_locked(alert)
    if alert.status == AlertStatus.TAKEN_CHARGE and alert.unit_id == unit.pk:
        return alert
    if alert.status not in {AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED}:
        raise Conflict(gettext("This alert is already “%(status)s”.")
                       % {"status": AlertStatus(alert.status).label.lower()}, field="status")
    now = now or timezone.now()
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = now, member.user
    alert.status, alert.unit, alert.taken_charge_at = AlertStatus.TAKEN_CHARGE, unit, now
    _alert_announce(alert)
    if unit.status != UnitStatus.EN_ROUTE:
        unit_status_set(unit=unit, status=UnitStatus.EN_ROUTE, author=member.user)
    return alert


@transaction.atomic
def alert_close(*, alert: Alert, member: Member, outcome: str, note: str = "",
                now: dt.datetime | None = None) -> Alert:
    """Close the alert with what came of it (the centre may close one raised by mistake)."""
    if not (is_crf_member(member) or member.is_centre_staff):
        raise NotAllowed(gettext("Only the Croix-Rouge or the centre closes an alert."))
    if outcome not in AlertOutcome.values:
        raise DomainError(gettext("Unknown outcome: %(outcome)s.") % {"outcome": outcome}, field="outcome")
    alert = _alert_locked(alert)
    if alert.status == AlertStatus.CLOSED:
        if alert.outcome == outcome:
            return alert
        raise Conflict(gettext("This alert is already closed."), field="status")
    alert.status, alert.closed_at = AlertStatus.CLOSED, now or timezone.now()
    alert.outcome, alert.outcome_note = outcome, (note or "").strip()[:MAX_TEXT]
    _alert_announce(alert)
    return alert


@transaction.atomic
def _alert_follow_up(alert_id: int, now: dt.datetime) -> str | None:
    alert = (Alert.objects.select_for_update(skip_locked=True, of=("self",))
             .select_related("commune", "unit")
             .filter(pk=alert_id, status=AlertStatus.RAISED, escalated_at__isnull=True).first())
    delay = dt.timedelta(seconds=settings.HUB_ALERT_ACK_SECONDS)
    if alert is None or now - alert.last_sent_at < delay:
        return None
    if alert.resends < settings.HUB_ALERT_RESENDS:
        alert.resends += 1
        alert.last_sent_at = now
        alert.save(update_fields=["resends", "last_sent_at"])
        publish(AlertRaised(alert=alert_data(alert), resend=alert.resends), audience=alert_audience())
        return "resent"
    alert.escalated_at = now
    _alert_announce(alert)
    return "escalated"


def alert_follow_up(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Re-send every alert not acknowledged within ``HUB_ALERT_ACK_SECONDS``,
    ``HUB_ALERT_RESENDS`` times, then escalate it to the supervisors (shown on the console)."""
    now = now or timezone.now()
    due = (Alert.objects.filter(status=AlertStatus.RAISED, escalated_at__isnull=True,
                                last_sent_at__lte=now - dt.timedelta(seconds=settings.HUB_ALERT_ACK_SECONDS))
           .order_by("id").values_list("id", flat=True))
    counts = {"resent": 0, "escalated": 0}
    for alert_id in list(due):
        outcome = _alert_follow_up(alert_id, now)
        if outcome:
            counts[outcome] += 1
    return counts
