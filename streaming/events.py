"""Event schemas of the streaming app."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from realtime.events import EventSchema


class GrantData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    camera_id: int
    camera_code: str
    camera_name: str
    agency: str
    incident_id: int
    incident_reference: str
    expires_at: str
    revoked_at: str | None


def grant_data(grant) -> GrantData:
    return GrantData(id=grant.pk, camera_id=grant.camera_id, camera_code=grant.camera.code,
                     camera_name=grant.camera.name, agency=grant.agency.code,
                     incident_id=grant.incident_id, incident_reference=grant.incident.reference,
                     expires_at=grant.expires_at.isoformat(),
                     revoked_at=grant.revoked_at.isoformat() if grant.revoked_at else None)


class GrantCreated(EventSchema):
    """A camera is shared with an agency (or the grant was extended)."""

    type = "grant.created"
    grant: GrantData


class GrantRevoked(EventSchema):
    type = "grant.revoked"
    grant: GrantData


class CameraStatusData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    code: str
    name: str
    status: str
    detail: str


def camera_status_data(camera, detail: str = "") -> CameraStatusData:
    return CameraStatusData(id=camera.pk, code=camera.code, name=camera.name, status=camera.status,
                            detail=detail[:300])


class CameraStatusChanged(EventSchema):
    """A camera's video source went down or came back (seen by its pipeline). The centre only:
    partners get no camera identifiers outside their grants."""

    type = "camera.status"
    camera: CameraStatusData


class RequisitionProgressData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    procedure_number: str
    status: str
    progress: int
    error: str


def requisition_progress_data(requisition) -> RequisitionProgressData:
    return RequisitionProgressData(id=requisition.pk, procedure_number=requisition.procedure_number,
                                   status=requisition.status, progress=requisition.progress,
                                   error=requisition.error)


class RequisitionProgress(EventSchema):
    """A requisition's extraction advanced (status, percent). The centre only: judicial business."""

    type = "requisition.progress"
    requisition: RequisitionProgressData
