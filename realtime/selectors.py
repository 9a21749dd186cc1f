"""Reads of the outbox, for replays."""

from __future__ import annotations

from django.db.models import Max

from partners.models import Member
from realtime.models import Event, GroupCursor, RelayState
from realtime.visibility import visible_now


def events_after(last_id: int, groups: list[str], *, limit: int = 1000,
                 through: int | None = None) -> list[dict]:
    """Frames of the events after ``last_id`` that these groups may see, in id order.

    Only relayed events are replayed: an event committed but not yet relayed is
    on its way live, and sending it now would send it before an earlier one.
    ``through`` is the id of an event the relay already sent: every id up to it
    is committed (ids commit in order), even while the relay's own transaction,
    which records ``published_through``, is still open.
    """
    if through is None:
        through = (RelayState.objects.filter(pk=1).values_list("published_through", flat=True)
                   .first() or 0)
    rows = (Event.objects.filter(id__gt=last_id, id__lte=through, audience__overlap=groups)
            .order_by("id")[:limit])
    return [e.as_message() for e in rows]


def replay_page(after: int, groups: list[str], member: Member | None, *, through: int | None,
                limit: int = 1000) -> tuple[list[dict], int, bool]:
    """One page of a replay: ``(frames, last id read, more to read)``.

    The frames are those of the events after ``after`` that ``groups`` received and that
    ``member`` may still see now (:func:`realtime.visibility.visible_now`): a replay never
    shows what REST would refuse today.
    """
    rows = events_after(after, groups, limit=limit, through=through)
    if not rows:
        return [], after, False
    return visible_now(member, rows), rows[-1]["id"], len(rows) == limit


def relay_position() -> tuple[int, int]:
    """``(published_through, purged_through)``."""
    state = RelayState.objects.filter(pk=1).values_list("published_through", "purged_through").first()
    return state or (0, 0)


def group_positions(groups: list[str]) -> dict[str, int]:
    """The last relayed id of each group (0 when none was ever relayed)."""
    known = dict(GroupCursor.objects.filter(group__in=groups).values_list("group", "last_id"))
    return {g: known.get(g, 0) for g in groups}


def latest_event_id() -> int:
    return Event.objects.aggregate(m=Max("id"))["m"] or 0


def resync_point(groups: list[str]) -> tuple[dict[str, int], int]:
    """``(group positions, newest committed event id)``, read in that order, for a socket that
    may have missed live messages: every event up to the newest id is committed (ids commit
    in order), so refilling up to it leaves nothing behind, and a relay that commits between
    the two reads shows as a gap, refilled, rather than as events already known."""
    return group_positions(groups), latest_event_id()
