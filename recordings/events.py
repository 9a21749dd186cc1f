"""Event schemas of the recordings app."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from realtime.events import EventSchema


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
