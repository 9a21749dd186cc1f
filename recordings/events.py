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


class StorageUnavailable(EventSchema):
    """The alarm: the recordings' object store is down, full or answering errors (``detail``: what
    failed); segments wait on the recorder's disk (``pending``: how many on the machine that saw
    it, ``host``). Once per outage. The centre only."""

    type = "storage.unavailable"
    since: str
    detail: str
    host: str
    pending: int


class StorageAvailable(EventSchema):
    """The end of the alarm: an upload succeeded again (the outage began at ``since``); ``uploaded``
    buffered segments sent by that pass, ``pending`` still waiting on ``host``'s disk."""

    type = "storage.available"
    since: str
    host: str
    uploaded: int
    pending: int
