"""Which past events of the incidents app a member may still see: the replay rules of the event
stream (``realtime.visibility``), built on the selectors the REST API uses, so a replay shows
exactly what REST shows now."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from incidents.models import Unit
from incidents.selectors.alerts import alerts_visible_to
from incidents.selectors.incidents import incidents_visible_to
from incidents.selectors.journal import journal_entries_visible_to
from incidents.selectors.radio import nets_visible_to
from incidents.selectors.units import units_visible_to
from partners.choices import Role
from partners.models import Member
from realtime.visibility import register_replay_rule


def _visible(queryset: QuerySet, ids: Iterable[int | None]) -> set[int]:
    wanted = {pk for pk in ids if pk is not None}
    return set(queryset.filter(pk__in=wanted).values_list("pk", flat=True)) if wanted else set()


def _incident_id(frame: dict) -> int | None:
    data = frame["data"]
    return data["incident"]["id"] if "incident" in data else data.get("incident_id")


def incident_events(member: Member | None, frames: list[dict]) -> list[int]:
    """``incident.created``, ``.updated``, ``.shared``: the incident is visible now."""
    visible = _visible(incidents_visible_to(member), map(_incident_id, frames))
    return [f["id"] for f in frames if _incident_id(f) in visible]


def incident_unshared(member: Member | None, frames: list[dict]) -> list[int]:
    """The incident is visible now, or the unsharing concerns the member's own agency: its
    screens must drop the incident (the frame carries only its id and reference)."""
    visible = _visible(incidents_visible_to(member), map(_incident_id, frames))
    partner = member is not None and member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}
    own = member.agency.code if partner and member is not None else None
    return [f["id"] for f in frames if _incident_id(f) in visible or f["data"]["agency"] == own]


def journal_lines(member: Member | None, frames: list[dict]) -> list[int]:
    """A line the member may read now (camera lines stay hidden from the Croix-Rouge)."""
    ids = [f["data"]["entry"]["id"] for f in frames]
    visible = _visible(journal_entries_visible_to(member), ids)
    return [f["id"] for f, entry_id in zip(frames, ids, strict=True) if entry_id in visible]


def _net(frame: dict) -> int:
    data = frame["data"]
    return data["message"]["net"] if "message" in data else data["net"]


def radio_traffic(member: Member | None, frames: list[dict]) -> list[int]:
    """A message (or its acknowledgement, its escalation) on a net the member is on now."""
    visible = _visible(nets_visible_to(member), map(_net, frames))
    return [f["id"] for f in frames if _net(f) in visible]


def _unit_id(frame: dict) -> int:
    data = frame["data"]
    return data["unit"]["id"] if "unit" in data else data["unit_id"]


def unit_events(member: Member | None, frames: list[dict]) -> list[int]:
    """``unit.position``, ``unit.status``: a unit the member sees now."""
    visible = _visible(units_visible_to(member), map(_unit_id, frames))
    return [f["id"] for f in frames if _unit_id(f) in visible]


def unit_updated(member: Member | None, frames: list[dict]) -> list[int]:
    """``unit.updated``: a unit the member sees now, or would see but for its retirement, or one
    that moved from the member's agency to another (the event that retired it or took it away must
    still reach the screens that list it, as it did live)."""
    ids = list(map(_unit_id, frames))
    visible = _visible(units_visible_to(member), ids)
    visible |= _visible(units_visible_to(member, retired=True), ids)
    moved_away: set[int] = set()
    if member is not None and member.role in {Role.PARTNER_AGENT, Role.FIELD_UNIT}:
        visible |= _visible(Unit.objects.filter(agency=member.agency, retired_at__isnull=False), ids)
        # Among the frames the member's groups received, a move to another agency was addressed
        # to it as the unit's former agency.
        moved_away = {f["id"] for f in frames if "agency" in f["data"]["changes"]
                      and f["data"]["unit"]["agency"] != member.agency.code}
    return [f["id"] for f in frames if _unit_id(f) in visible or f["id"] in moved_away]


def unit_engaged(member: Member | None, frames: list[dict]) -> list[int]:
    """Heard by the incident's audience and the unit's agency: either, now."""
    units = _visible(units_visible_to(member), map(_unit_id, frames))
    incidents = _visible(incidents_visible_to(member), map(_incident_id, frames))
    return [f["id"] for f in frames if _unit_id(f) in units or _incident_id(f) in incidents]


def alert_events(member: Member | None, frames: list[dict]) -> list[int]:
    visible = _visible(alerts_visible_to(member), (f["data"]["alert"]["id"] for f in frames))
    return [f["id"] for f in frames if f["data"]["alert"]["id"] in visible]


def register() -> None:
    register_replay_rule(["incident.created", "incident.updated", "incident.shared"], incident_events)
    register_replay_rule(["incident.unshared"], incident_unshared)
    register_replay_rule(["journal.appended"], journal_lines)
    register_replay_rule(["radio.message", "radio.acknowledged", "radio.escalated"], radio_traffic)
    register_replay_rule(["unit.position", "unit.status"], unit_events)
    register_replay_rule(["unit.updated"], unit_updated)
    register_replay_rule(["unit.engaged"], unit_engaged)
    register_replay_rule(["alert.raised", "alert.updated"], alert_events)
