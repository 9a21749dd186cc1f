"""Event schemas of the incidents app (wire format in docs/realtime.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from realtime.events import EventSchema


class PointData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str = "Point"
    coordinates: tuple[float, float]


class IncidentData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    reference: str
    nature: str
    nature_label: str
    priority: int
    status: str
    location: PointData
    address: str
    commune: str
    commune_name: str
    description: str
    created_at: str
    version: int
    shared_with: list[str]


def incident_data(incident) -> IncidentData:
    return IncidentData(
        id=incident.pk, reference=incident.reference, nature=incident.nature.code,
        nature_label=incident.nature.label, priority=incident.priority, status=incident.status,
        location=PointData(coordinates=(round(incident.location.x, 7), round(incident.location.y, 7))),
        address=incident.address, commune=incident.commune.insee_code,
        commune_name=incident.commune.name, description=incident.description,
        created_at=incident.created_at.isoformat(), version=incident.version,
        shared_with=sorted(incident.shared_with.values_list("code", flat=True)))


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


class JournalAppended(EventSchema):
    type = "journal.appended"
    incident_id: int
    entry_id: int
    at: str
    author: str
    kind: str
    text: str
