"""Event schemas of the streaming app."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from realtime.events import EventSchema, local_iso


class GrantData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    camera_id: int
    camera_code: str
    camera_name: str
    agency: str
    agency_name: str
    incident_id: int
    incident_reference: str
    reason: str
    granted_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    revoke_reason: str
    # Set once the grant lets no images through: revoked, expired, incident_closed, unshared.
    ended_at: str | None
    end_reason: str | None


def grant_data(grant) -> GrantData:
    from streaming.selectors import grant_end

    end = grant_end(grant)
    return GrantData(id=grant.pk, camera_id=grant.camera_id, camera_code=grant.camera.code,
                     camera_name=grant.camera.name, agency=grant.agency.code,
                     agency_name=grant.agency.name,
                     incident_id=grant.incident_id, incident_reference=grant.incident.reference,
                     reason=grant.reason, granted_by=grant.granted_by.get_username(),
                     created_at=local_iso(grant.created_at), expires_at=local_iso(grant.expires_at),
                     revoked_at=local_iso(grant.revoked_at),
                     revoke_reason=grant.revoke_reason,
                     ended_at=local_iso(end[1]) if end else None, end_reason=str(end[0]) if end else None)


class GrantCreated(EventSchema):
    """A camera is shared with an agency (or the grant was extended: same id, later ``expires_at``)."""

    type = "grant.created"
    grant: GrantData


class GrantRevoked(EventSchema):
    """The centre ended a grant (``revoke_reason`` says why); its viewers are cut within a second."""

    type = "grant.revoked"
    grant: GrantData


class GrantEnded(EventSchema):
    """A grant ended by itself: expired, its incident closed, or no longer shared with the agency
    (``end_reason``). Its viewers were cut when it ended; this tells the screens why."""

    type = "grant.ended"
    grant: GrantData


class ViewerData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str
    name: str
    since: str


class GrantViewers(EventSchema):
    """Who watches a grant now, after someone started or stopped watching it (the whole list)."""

    type = "grant.viewers"
    grant_id: int
    camera_id: int
    agency: str
    incident_id: int
    viewers: list[ViewerData]


class WallTileData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    position: int
    camera_id: int
    camera_code: str
    camera_name: str
    set_by: str
    set_at: str


class WallData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    label: str
    columns: int
    rows: int
    tiles: list[WallTileData]
    updated_at: str | None


class WallUpdated(EventSchema):
    """A tile of a video wall shows another camera, or nothing (the whole layout). The centre only."""

    type = "wall.updated"
    wall: WallData


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


class NodeData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    role: str
    weight: int
    host: str
    pid: int | None
    started_at: str
    last_seen: str
    cameras: list[str]  # codes of the cameras it holds (held when it was lost, for node.lost)


def node_data(node, cameras: list[str]) -> NodeData:
    return NodeData(name=node.name, role=node.role, weight=node.weight, host=node.host, pid=node.pid,
                    started_at=local_iso(node.started_at), last_seen=local_iso(node.last_seen),
                    cameras=sorted(cameras))


class NodeJoined(EventSchema):
    """A recorder node started (``manage.py record --node NAME``) and will take its share of the
    cameras. The centre only."""

    type = "node.joined"
    node: NodeData


class NodeLeft(EventSchema):
    """A node stopped cleanly and gave its cameras back (the others take them at once)."""

    type = "node.left"
    node: NodeData


class NodeLost(EventSchema):
    """A node stopped renewing its leases for longer than ``HUB_NODE_LEASE_SECONDS`` (killed,
    frozen, cut from the database): the other nodes take the cameras it held (``node.cameras``)."""

    type = "node.lost"
    node: NodeData


class CameraRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int
    code: str
    name: str


class CameraUnrecorded(EventSchema):
    """The alarm: a camera with a recording plan that no live recorder node has held for
    ``HUB_NODE_ALARM_SECONDS`` (since ``since``). ``node``: the last node that held it, if any."""

    type = "camera.unrecorded"
    camera: CameraRef
    role: str
    since: str
    node: str | None


class CameraRecorded(EventSchema):
    """The end of the alarm: a camera announced unrecorded is held by a live node again."""

    type = "camera.recorded"
    camera: CameraRef
    role: str
    node: str
