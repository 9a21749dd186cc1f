"""Which past events of the streaming app a member may still see: the replay rules of the event
stream (``realtime.visibility``), built on the selectors the REST API uses."""

from __future__ import annotations

from partners.models import Member
from realtime.visibility import centre_only, register_replay_rule
from streaming.selectors import grants_visible_to


def grant_events(member: Member | None, frames: list[dict]) -> list[int]:
    """``grant.created``, ``grant.revoked``, ``grant.ended``: a grant the member may read over REST now."""
    wanted = {f["data"]["grant"]["id"] for f in frames}
    visible = set(grants_visible_to(member).filter(pk__in=wanted).values_list("pk", flat=True))
    return [f["id"] for f in frames if f["data"]["grant"]["id"] in visible]


def grant_viewers(member: Member | None, frames: list[dict]) -> list[int]:
    """``grant.viewers``: who watches a grant the member may read over REST now."""
    wanted = {f["data"]["grant_id"] for f in frames}
    visible = set(grants_visible_to(member).filter(pk__in=wanted).values_list("pk", flat=True))
    return [f["id"] for f in frames if f["data"]["grant_id"] in visible]


def register() -> None:
    register_replay_rule(["grant.created", "grant.revoked", "grant.ended"], grant_events)
    register_replay_rule(["grant.viewers"], grant_viewers)
    # The centre's business alone: camera states, the video walls.
    register_replay_rule(["camera.status", "wall.updated"], centre_only)
    # The recorder nodes and the cameras left unrecorded: the centre's operations alone.
    register_replay_rule(["node.joined", "node.left", "node.lost", "camera.unrecorded", "camera.recorded"],
                         centre_only)
