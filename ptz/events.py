"""Event schemas of the PTZ app (audience: the centre's staff)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from realtime.events import EventSchema


class HolderData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    user_id: int
    username: str
    name: str


class PtzLeaseChanged(EventSchema):
    """Who drives a PTZ camera changed: ``reason`` is ``taken``, ``released``, ``taken_over``
    (``previous`` is told live that someone else has it) or ``idle`` (lapsed)."""

    type = "ptz.lease"
    camera_id: int
    camera_code: str
    holder: HolderData | None
    previous: HolderData | None
    incident_id: int | None
    reason: str
    at: str


class PtzPositionChanged(EventSchema):
    """Where a PTZ camera is, as read back from it: position (generic spaces), the preset it is
    in (its masks apply), whether it moves, whether it answered (``detail`` says why not)."""

    type = "ptz.position"
    camera_id: int
    pan: float | None
    tilt: float | None
    zoom: float | None
    preset: int | None
    moving: bool
    reachable: bool
    detail: str
    # When it was read back, as ``GET /api/ptz/cameras/<id>/`` gives it in ``position``.
    updated_at: str | None
