"""``verify_action``: what REST gave a screen, with the events its socket then receives applied, equals
what REST answers after the action (Zulip's ``verify_action``, for the hub's ``/ws/events/``).

Three parts, kept apart so that each can be read alone:

- ``rest_state(member, scene)``: what a screen of this member loads over REST, as collections of
  objects by key (incidents, their journals, units, radio messages, alerts, grants, walls, the
  PTZ state of the scene's cameras, their status, requisitions). A collection the member may not
  read (403) is absent, on both sides.
- ``RULES``: per event type, what a screen does with it: which collection, which key, upsert,
  patch or drop. This is what the pages' stores do (``static/js``), declared, not programmed.
- ``reduce(state, frames, viewer)``: the rules applied in order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from partners.models import Member
from tests.factories import TokenClient

# A journal the member gains with an incident shared with its agency: no event carries its earlier
# lines (they were published before the member was in the audience); the page reads it over REST
# when it opens the incident. ``compare`` takes REST's value for it.
READ_ON_OPEN = "<read over REST when the incident is opened>"


@dataclass(frozen=True)
class Viewer:
    """What a reducer needs to know of the screen's member."""

    agency: str
    centre: bool


def viewer_of(member: Member) -> Viewer:
    return Viewer(agency=member.agency.code, centre=member.is_centre_staff)


def _get(data: dict, path: str) -> Any:
    for part in path.split("."):
        data = data[part]
    return data


# --- The rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    """Put the object at ``path`` of the event's data into ``collection`` under its ``key``
    (replacing what was held), renamed and completed as ``shape`` says; dropped instead when
    ``drop(object, viewer)`` holds. ``keep``: fields no event of this type carries, kept from
    what was held (``default`` for a new object)."""

    collection: str
    path: str
    key: str = "id"
    shape: Callable[[dict], dict] | None = None
    drop: Callable[[dict, Viewer], bool] | None = None
    keep: dict[str, Any] = field(default_factory=dict)
    journal: str | None = None  # an incident: open its journal ("empty" or READ_ON_OPEN)

    def apply(self, state: dict, data: dict, viewer: Viewer) -> None:
        if self.collection not in state:
            return
        obj = copy.deepcopy(_get(data, self.path))
        if self.shape is not None:
            obj = self.shape(obj)
        key = obj[self.key]
        held = state[self.collection].get(key)
        if self.drop is not None and self.drop(obj, viewer):
            state[self.collection].pop(key, None)
            return
        for name, default in self.keep.items():
            obj[name] = copy.deepcopy(held[name]) if held is not None else default
        state[self.collection][key] = obj
        if self.journal is not None and key not in state["journal"]:
            state["journal"][key] = [] if self.journal == "empty" else READ_ON_OPEN


@dataclass(frozen=True)
class Patch:
    """Change the fields ``fields`` names (``{field: path in the event's data, or a function of
    it}``) of the object of ``collection`` whose key is at ``key`` in the event's data. An object
    the screen does not hold is not made up."""

    collection: str
    key: str
    fields: dict[str, str | Callable[[dict, dict], Any]]

    def apply(self, state: dict, data: dict, viewer: Viewer) -> None:
        held = state.get(self.collection, {}).get(_get(data, self.key))
        if held is None:
            return
        for name, source in self.fields.items():
            held[name] = copy.deepcopy(_get(data, source) if isinstance(source, str) else source(data, held))


@dataclass(frozen=True)
class Drop:
    """Remove the object whose key is at ``key`` from ``collections`` when ``when(data, viewer)``."""

    collections: tuple[str, ...]
    key: str
    when: Callable[[dict, Viewer], bool]

    def apply(self, state: dict, data: dict, viewer: Viewer) -> None:
        if self.when(data, viewer):
            for name in self.collections:
                state.get(name, {}).pop(_get(data, self.key), None)


@dataclass(frozen=True)
class Append:
    """Add the object at ``path`` to the list of ``collection`` under the key at ``key``, unless it
    is there already (a live event the REST snapshot already showed)."""

    collection: str
    key: str
    path: str

    def apply(self, state: dict, data: dict, viewer: Viewer) -> None:
        lines = state.get(self.collection, {}).get(_get(data, self.key))
        if not isinstance(lines, list):
            return  # an incident the screen does not hold, or whose journal it reads on opening
        entry = _get(data, self.path)
        if all(line["id"] != entry["id"] for line in lines):
            lines.append(copy.deepcopy(entry))


def _own_agency(data: dict, viewer: Viewer) -> bool:
    return data["agency"] == viewer.agency and not viewer.centre


def _not_listed_unit(unit: dict, viewer: Viewer) -> bool:
    """``GET /api/units/`` lists the units in service; a partner's, those of its agency."""
    return unit["retired_at"] is not None or (not viewer.centre and unit["agency"] != viewer.agency)


def _grant(event_grant: dict) -> dict:
    """A grant's event names the camera and the incident ``camera_id`` and ``incident_id`` where
    ``GET /api/streaming/grants/`` says ``camera`` and ``incident`` (docs/realtime.md), and says
    whether it lets images through by ``ended_at``; ``static/js/grants-panel.js`` reads it so."""
    grant = {("camera" if k == "camera_id" else "incident" if k == "incident_id" else k): v
             for k, v in event_grant.items()}
    grant["active"] = grant["ended_at"] is None
    return grant


_GRANT = Upsert("grants", "grant", shape=_grant, keep={"viewers": []})
# The PTZ state (``GET /api/ptz/cameras/<id>/``) names the incident ``incident`` and the camera ``camera``.
_PTZ_POSITION = ("pan", "tilt", "zoom", "preset", "moving", "reachable", "updated_at")

RULES: dict[str, list] = {
    "incident.created": [Upsert("incidents", "incident", journal="empty")],
    "incident.updated": [Upsert("incidents", "incident")],
    "incident.shared": [Upsert("incidents", "incident", journal=READ_ON_OPEN)],
    # To the agency that loses it: drop it. To the others: it is no longer shared with that agency
    # (its new version follows in an ``incident.updated``).
    "incident.unshared": [
        Drop(("incidents", "journal"), "incident_id", _own_agency),
        Patch("incidents", "incident_id", {"shared_with": lambda d, held: [
            code for code in held["shared_with"] if code != d["agency"]]})],
    "journal.appended": [Append("journal", "incident_id", "entry")],
    "radio.message": [Upsert("radio", "message")],
    "radio.escalated": [Upsert("radio", "message")],
    "radio.acknowledged": [Patch("radio", "message_id", {"pending": "pending"})],
    "unit.updated": [Upsert("units", "unit", drop=_not_listed_unit)],
    "unit.status": [Upsert("units", "unit", drop=_not_listed_unit)],
    "unit.engaged": [Upsert("units", "unit", drop=_not_listed_unit)],
    "unit.position": [Patch("units", "unit_id", {"position": "position", "position_at": "at"})],
    "alert.raised": [Upsert("alerts", "alert")],
    "alert.updated": [Upsert("alerts", "alert")],
    "grant.created": [_GRANT],
    "grant.revoked": [_GRANT],
    "grant.ended": [_GRANT],
    "grant.viewers": [Patch("grants", "grant_id", {"viewers": "viewers"})],
    "wall.updated": [Upsert("walls", "wall", key="name")],
    # ``detail`` (camera.status, ptz.position) says why, for the moment: a message, not state REST keeps.
    "camera.status": [Patch("cameras", "camera.id", {"status": "camera.status", "code": "camera.code",
                                                      "name": "camera.name"})],
    "ptz.lease": [Patch("ptz", "camera_id", {"holder": "holder", "incident": "incident_id"})],
    "ptz.position": [Patch("ptz", "camera_id", {"position": lambda d, held: {
        name: d[name] for name in _PTZ_POSITION}})],
    "requisition.progress": [Patch("requisitions", "requisition.id", {
        name: f"requisition.{name}" for name in ("procedure_number", "status", "progress", "error")})],
}

# Event types whose REST read is not a state the events rebuild. An entry here needs its reason.
_NODES = ("GET /api/streaming/nodes/ answers live figures that change at every lease renewal "
          "(last seen, lease ages, shares), which publish nothing by design (one renewal every 3 s "
          "per node): no sum of events equals it, so the nodes' screen reads it again on each of "
          "these events. Their audience (the centre only) is checked in tests/realtime/test_events.py "
          "and tests/streaming/test_nodes.py.")
_STORAGE = ("GET /api/alarms/ gives the open outage with the segments waiting now in every "
            "recorder's buffer, a count the recorders write at each failed upload and publish no event "
            "for (the event tells the count when the outage began): no sum of events equals it, so the "
            "console reads it again when its stream was interrupted (tests/e2e/test_tech_alarms.py). "
            "Its audience (the centre only) is checked in tests/realtime/test_events.py, once per "
            "outage against SeaweedFS in tests/recordings/test_storage_s3.py.")
NO_REST_COUNTERPART: dict[str, str] = {
    "node.joined": _NODES, "node.left": _NODES, "node.lost": _NODES,
    "camera.unrecorded": _NODES, "camera.recorded": _NODES,
    "storage.unavailable": _STORAGE, "storage.available": _STORAGE,
}


def reduce(state: dict, frames: list[dict], viewer: Viewer) -> dict:
    """``state`` (from ``rest_state``) with ``frames`` (events, in order) applied; a new dict."""
    state = copy.deepcopy(state)
    for frame in frames:
        for rule in RULES[frame["type"]]:
            rule.apply(state, frame["data"], viewer)
    return state


# --- What a screen reads over REST -------------------------------------------------------------


@dataclass
class Scene:
    """The objects whose REST reads are not lists: PTZ cameras, cameras with a status, walls."""

    ptz_cameras: list[int] = field(default_factory=list)
    cameras: list[int] = field(default_factory=list)


def _keyed(items: list[dict], key: str = "id") -> dict:
    return {item[key]: item for item in items}


def _read(api: TokenClient, path: str) -> Any:
    """The answer's JSON; ``None`` when the member may not read it (403, never a 500)."""
    answer = api.get(path)
    if answer.status_code == 403:
        return None
    assert answer.status_code == 200, (path, answer.status_code, answer.content[:300])
    return answer.json()


def rest_state(member: Member, scene: Scene) -> dict:
    """What this member's screens load over REST."""
    api = TokenClient().as_member(member)
    state: dict[str, dict] = {}
    incidents = _read(api, "/api/incidents/?limit=500")
    state["incidents"] = _keyed(incidents)
    state["journal"] = {pk: _read(api, f"/api/incidents/{pk}/")["journal"] for pk in state["incidents"]}
    state["units"] = _keyed(_read(api, "/api/units/"))
    state["radio"] = _keyed(_read(api, "/api/radio/messages/"))
    for name, path, key in (("alerts", "/api/alerts/", "id"), ("grants", "/api/streaming/grants/", "id"),
                            ("walls", "/api/streaming/walls/", "name"),
                            ("requisitions", "/api/streaming/requisitions/", "id")):
        answer = _read(api, path)
        if answer is not None:
            state[name] = _keyed(answer, key)
    ptz = [_read(api, f"/api/ptz/cameras/{pk}/") for pk in scene.ptz_cameras]
    if ptz and ptz[0] is not None:
        state["ptz"] = _keyed(ptz, "camera")
    cameras = [_read(api, f"/api/cameras/{pk}/") for pk in scene.cameras]
    if cameras and cameras[0] is not None:
        # What a camera's status event says of it: the rest of a camera (geometry, masks...) is
        # the admin's business and changes by no event.
        state["cameras"] = {c["id"]: {k: c[k] for k in ("id", "code", "name", "status")} for c in cameras}
    return state


def compare(reduced: dict, after: dict) -> dict:
    """``reduced`` with the journals a page reads on opening filled from ``after``."""
    reduced = copy.deepcopy(reduced)
    for pk, lines in reduced.get("journal", {}).items():
        if lines == READ_ON_OPEN and pk in after.get("journal", {}):
            reduced["journal"][pk] = after["journal"][pk]
    return reduced


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Where two states differ, as ``path: left != right`` lines (for the failure message)."""
    if isinstance(left, dict) and isinstance(right, dict):
        lines = []
        for key in sorted(set(left) | set(right), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in left:
                lines.append(f"{where}: missing from the reduced state")
            elif key not in right:
                lines.append(f"{where}: not in REST after")
            else:
                lines += differences(left[key], right[key], where)
        return lines
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]
