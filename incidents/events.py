"""Event schemas of the incidents app (wire format in docs/realtime.md)."""

from __future__ import annotations

from typing import overload

from django.contrib.gis.geos import Point
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from realtime.events import EventSchema, local_iso


class PointData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = "Point"
    coordinates: tuple[float, float]


# What the OpenAPI schema says of a local time: an ISO 8601 date-time with its offset.
_LOCAL_TIME: JsonDict = {"format": "date-time"}


class IncidentData(BaseModel):
    """An incident: what its events carry and what the REST API answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    reference: str
    nature: str = Field(description="Nature code (`/api/natures/`).")
    nature_label: str
    priority: int = Field(description="1 (urgent), 2 (high) or 3 (normal).")
    status: str = Field(description="open, engaged, closed or cancelled.")
    location: PointData
    address: str
    commune: str = Field(description="INSEE code of the commune.")
    commune_name: str
    description: str
    created_at: str = Field(json_schema_extra=_LOCAL_TIME, description="Local time, with its offset.")
    version: int = Field(description="Sent back with a change: a stale one is refused (409).")
    shared_with: list[str] = Field(description="Codes of the partner agencies it is shared with.")


@overload
def _point(point: Point) -> PointData: ...
@overload
def _point(point: Point | None) -> PointData | None: ...
def _point(point: Point | None) -> PointData | None:
    return None if point is None else PointData(coordinates=(round(point.x, 7), round(point.y, 7)))


def incident_data(incident) -> IncidentData:
    """The one shape of an incident: its events carry it and the REST API answers it."""
    return IncidentData(
        id=incident.pk, reference=incident.reference, nature=incident.nature.code,
        nature_label=incident.nature.label, priority=incident.priority, status=incident.status,
        location=_point(incident.location), address=incident.address,
        commune=incident.commune.insee_code, commune_name=incident.commune.name,
        description=incident.description, created_at=local_iso(incident.created_at),
        version=incident.version,
        # Through .all(): a list prefetches ``shared_with`` once for every incident.
        shared_with=sorted(agency.code for agency in incident.shared_with.all()))


class IncidentCreated(EventSchema):
    type = "incident.created"
    incident: IncidentData


class IncidentUpdated(EventSchema):
    type = "incident.updated"
    incident: IncidentData


class IncidentShared(EventSchema):
    """To the agency that gains the incident, the incident itself; to the others, who shares."""

    type = "incident.shared"
    incident: IncidentData
    agency: str


class IncidentUnshared(EventSchema):
    """Tells the agency's members to drop the incident from their screens."""

    type = "incident.unshared"
    incident_id: int
    reference: str
    agency: str


class JournalEntryData(BaseModel):
    """A line of the main courante; ``corrects``: the line it corrects, if it is a correction."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    at: str = Field(json_schema_extra=_LOCAL_TIME, description="Local time, with its offset.")
    author: str
    kind: str = Field(description="opened, status, note, camera, shared, unshared, radio, unit or closed.")
    text: str
    corrects: int | None


def journal_entry_data(entry) -> JournalEntryData:
    return JournalEntryData(id=entry.pk, at=local_iso(entry.at), author=entry.author.get_username(),
                            kind=entry.kind, text=entry.text, corrects=entry.corrects_id)


class JournalAppended(EventSchema):
    type = "journal.appended"
    incident_id: int
    entry: JournalEntryData


# --- Radio traffic, field units, Croix-Rouge alerts -------------------------------------


class RadioMessageData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    net: int
    net_name: str
    to_unit: int | None
    to_callsign: str | None
    from_callsign: str
    priority: str
    text: str
    location: PointData | None
    ack_required: bool
    sent_at: str
    incident_id: int | None
    recipients: list[str]
    pending: list[str]
    escalated_at: str | None


def radio_message_data(message) -> RadioMessageData:
    receipts = list(message.receipts.all())
    return RadioMessageData(
        id=message.pk, net=message.net_id, net_name=message.net.name, to_unit=message.to_unit_id,
        to_callsign=message.to_unit.callsign if message.to_unit_id else None,
        from_callsign=message.from_callsign, priority=message.priority, text=message.text,
        location=_point(message.location), ack_required=message.ack_required,
        sent_at=local_iso(message.sent_at), incident_id=message.net.incident_id,
        recipients=sorted(r.callsign for r in receipts),
        pending=sorted(r.callsign for r in receipts if r.acknowledged_at is None),
        escalated_at=local_iso(message.escalated_at))


class RadioMessageSent(EventSchema):
    """A message on a net; ``resend`` counts the re-sends of an unacknowledged one (0 the first time)."""

    type = "radio.message"
    message: RadioMessageData
    resend: int


class RadioAcknowledged(EventSchema):
    type = "radio.acknowledged"
    message_id: int
    net: int
    callsign: str
    by: str
    at: str
    pending: list[str]


class RadioEscalated(EventSchema):
    """An urgent or flash message still unacknowledged after its re-sends: to the supervisors."""

    type = "radio.escalated"
    message: RadioMessageData


class UnitData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    callsign: str
    agency: str
    status: str
    position: PointData | None
    position_at: str | None
    incident_id: int | None
    member: str | None
    retired_at: str | None


def unit_data(unit) -> UnitData:
    return UnitData(id=unit.pk, callsign=unit.callsign, agency=unit.agency.code, status=unit.status,
                    position=_point(unit.position),
                    position_at=local_iso(unit.position_at),
                    incident_id=unit.incident_id,
                    member=unit.member.user.get_username() if unit.member_id else None,
                    retired_at=local_iso(unit.retired_at))


# What a ``unit.updated`` says changed, in the order a screen should apply it.
UNIT_CHANGES = ("created", "callsign", "agency", "member", "retired", "reinstated")


class UnitUpdated(EventSchema):
    """A unit created, renamed, moved to another agency, handed to another member (its tablet),
    retired or reinstated; ``changes`` lists which (``UNIT_CHANGES``)."""

    type = "unit.updated"
    unit: UnitData
    changes: list[str]


class UnitPositionReported(EventSchema):
    type = "unit.position"
    unit_id: int
    callsign: str
    position: PointData
    at: str


class UnitStatusChanged(EventSchema):
    type = "unit.status"
    unit: UnitData


class UnitEngaged(EventSchema):
    type = "unit.engaged"
    unit: UnitData
    incident_id: int
    reference: str


class AlertData(BaseModel):
    """What the Croix-Rouge gets of an alert: place, description, status. Never camera data."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    reference: str
    status: str
    location: PointData
    address: str
    commune: str
    commune_name: str
    description: str
    people: int
    conditions: list[str]
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    taken_charge_at: str | None
    unit: str | None
    closed_at: str | None
    outcome: str
    outcome_note: str
    escalated_at: str | None
    resends: int
    version: int


def alert_data(alert) -> AlertData:
    return AlertData(
        id=alert.pk, reference=alert.reference, status=alert.status, location=_point(alert.location),
        address=alert.address, commune=alert.commune.insee_code, commune_name=alert.commune.name,
        description=alert.description, people=alert.people, conditions=list(alert.conditions),
        raised_at=local_iso(alert.raised_at), acknowledged_at=local_iso(alert.acknowledged_at),
        acknowledged_by=alert.acknowledged_by.get_username() if alert.acknowledged_by_id else None,
        taken_charge_at=local_iso(alert.taken_charge_at),
        unit=alert.unit.callsign if alert.unit_id else None, closed_at=local_iso(alert.closed_at),
        outcome=alert.outcome, outcome_note=alert.outcome_note,
        escalated_at=local_iso(alert.escalated_at), resends=alert.resends, version=alert.version)


class AlertRaised(EventSchema):
    """A new alert, or (``resend`` > 0) one nobody acknowledged yet, sent again."""

    type = "alert.raised"
    alert: AlertData
    resend: int


class AlertUpdated(EventSchema):
    type = "alert.updated"
    alert: AlertData
