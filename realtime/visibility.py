"""What a member may still see of past events: the rule a replay applies.

An event's audience is fixed when it is published, from the rights of that moment. A
replay (``?last_event_id=N``) sends it later, after an incident may have been unshared,
a member moved, a grant made elsewhere: sending what the groups once received would show
what REST now answers 404 for. So a replay keeps, among the events its groups received,
those the member may see **now**, decided by the selectors the REST API uses.

``realtime`` knows no app above it (docs/architecture.md): each app registers a rule for each of
its event types (in its ``AppConfig.ready``). A type without a rule is not replayed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from partners.models import Member

log = logging.getLogger(__name__)

# ``rule(member, frames)`` → the ids of those frames (all of one type) the member may see now.
ReplayRule = Callable[[Member | None, list[dict]], Iterable[int]]
_rules: dict[str, ReplayRule] = {}


def register_replay_rule(event_types: Iterable[str], rule: ReplayRule) -> None:
    for event_type in event_types:
        _rules[event_type] = rule


def replay_rule(event_type: str) -> ReplayRule | None:
    return _rules.get(event_type)


def centre_only(member: Member | None, frames: list[dict]) -> list[int]:
    """For events whose audience is the centre alone: the centre's staff, now."""
    return [f["id"] for f in frames] if member is not None and member.is_centre_staff else []


def visible_now(member: Member | None, frames: list[dict]) -> list[dict]:
    """``frames`` (in order) without those ``member`` may no longer see."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for frame in frames:
        by_type[frame["type"]].append(frame)
    allowed: set[int] = set()
    for event_type, of_type in by_type.items():
        rule = _rules.get(event_type)
        if rule is None:  # deny by default
            log.warning("no replay rule for %s events: not replayed", event_type)
            continue
        allowed.update(rule(member, of_type))
    return [f for f in frames if f["id"] in allowed]
