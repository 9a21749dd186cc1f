"""Publishing: the outbox row now, the channel layer after commit.

Ordering. Every transaction that publishes takes one PostgreSQL advisory lock
(``OUTBOX_LOCK``) before it takes an event id and keeps it until it ends, so ids
are committed in increasing order: when a client has seen event N, every event
below N that it may see is already committed. That is what makes "resume from
the last id" exact.

Relay. The ``manage.py relay`` process (woken by the NOTIFY each publishing
transaction sends at commit) or, with ``HUB_RELAY_INLINE``, the request itself after
commit: :func:`relay` sends every committed event not yet sent, in
id order, under a second (session) lock so that a single relayer runs at a
time, whichever process committed, in slices of ``RELAY_SLICE`` events whose progress
is committed one by one. An event whose relay failed (Redis down, a
crash between commit and send) is sent by the next relay, or by the periodic
``realtime.relay`` task; consumers drop what they already sent. The outbox is
the source of truth; the channel layer only carries.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime.audiences import Audience
from realtime.events import EventSchema
from realtime.metrics import (
    RELAY_LEFT,
    RELAY_LOCK_WAIT,
    RELAY_PASS,
    RELAY_SEND,
    RELAY_SLICE_MESSAGES,
    RELAYED,
)
from realtime.models import Event, GroupCursor, RelayState
from realtime.transport import group_send_many

log = logging.getLogger(__name__)

OUTBOX_LOCK = 7_240_001
RELAY_LOCK = 7_240_002
# Held for its whole life by the active `manage.py relay` process; standbys wait on it.
RELAY_LEADER_LOCK = 7_240_003
RELAY_BATCH = 500
# Events per send to the channel layer: one round trip to Redis and one time-out each; what a
# failure makes the next relay send again.
RELAY_SLICE = 100
# Every publishing transaction notifies this channel; PostgreSQL delivers it at commit.
NOTIFY_CHANNEL = "hub_outbox"


def outbox_lock() -> None:
    """Take the outbox lock for the rest of the transaction (idempotent).

    A service that must serialise something else with event ids (a reference
    counter) takes it early; :func:`publish` takes it anyway.
    """
    with connection.cursor() as cursor:
        # The NOTIFY rides on the same statement: it wakes the relay process at commit
        # (and is dropped with a rollback).
        cursor.execute("SELECT pg_advisory_xact_lock(%s), pg_notify(%s, '')",
                       [OUTBOX_LOCK, NOTIFY_CHANNEL])


def publish(event: EventSchema, *, audience: Audience) -> Event:
    """Write ``event`` to the outbox for ``audience``; it is sent once the transaction commits.

    Must be called inside the transaction of the change it reports: a rolled-back
    transaction leaves no row and sends nothing.
    """
    [row] = publish_many([(event, audience)])
    return row


def publish_many(events: Sequence[tuple[EventSchema, Audience]]) -> list[Event]:
    """:func:`publish` for several events of one transaction (a batch of positions), in the
    order given: one outbox lock, one INSERT."""
    if not connection.in_atomic_block:
        raise RuntimeError("publish() must run inside the transaction of its change")
    if not all(audience for _, audience in events):
        raise ValueError("an event needs an audience")
    if not events:
        return []
    outbox_lock()
    rows = Event.objects.bulk_create([
        Event(type=event.type, data=event.model_dump(mode="json"), audience=list(audience))
        for event, audience in events])
    # One relay after commit is enough however many events the transaction publishes. With
    # a relay process (HUB_RELAY_INLINE off) the request leaves it to that process.
    if settings.HUB_RELAY_INLINE and not any(
            entry[1] is relay_safely for entry in connection.run_on_commit):
        transaction.on_commit(relay_safely)
    return rows


def relay_safely() -> None:
    """The relay a request runs after its commit (``HUB_RELAY_INLINE``). It never waits for the
    relay lock: when another thread or process holds it, this request's events are left to that
    holder, which looks again for newer events once it has released the lock (:func:`relay`)."""
    try:
        relay(wait=False)
    except Exception:  # the periodic task will send it; the write itself succeeded
        log.exception("realtime relay failed; the periodic relay will retry")


def relay(*, batch: int = RELAY_BATCH, slice_size: int = RELAY_SLICE, wait: bool = True) -> int:
    """Send every committed, unsent event to its groups, in id order. Returns how many.

    The outbox is read ``batch`` events at a time and sent ``slice_size`` events at a time: each
    slice is one call of :func:`group_send_many` (one round trip to Redis with the pubsub layer,
    with its own time-out), and ``published_through`` and the group cursors are committed for it
    before the next slice goes. A slice that fails stops the pass: the next one sends that slice
    again (consumers drop what they already sent) and never one before it.

    ``wait`` False: when the relay lock is held by another relayer, return at once (0) and leave
    the events to it. That is safe because every relayer, once it has released the lock, looks
    again for committed events it has not sent and, if there are some, takes the lock again (or
    leaves them, in turn, to whoever holds it now): an event committed before a relayer found
    the lock taken was committed before the holder released it, so the holder's look sees it.
    """
    sent = 0
    first = True
    with connection.cursor() as cursor:
        while True:
            asked = time.perf_counter()
            if wait and first:
                cursor.execute("SELECT pg_advisory_lock(%s)", [RELAY_LOCK])
            else:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_LOCK])
                (taken,) = cursor.fetchone()
                if not taken:
                    if first:
                        RELAY_LOCK_WAIT.observe(time.perf_counter() - asked)
                        RELAY_LEFT.inc()
                    return sent
            started = time.perf_counter()
            if first:
                RELAY_LOCK_WAIT.observe(started - asked)
            first = False
            try:
                passed = _relay_pass(batch, slice_size)
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK])
            if passed:
                RELAY_PASS.observe(time.perf_counter() - started)
            sent += passed
            # Released: a request that committed while this pass ran may have found the lock
            # taken and left its events to this pass. Look again.
            through = RelayState.objects.filter(pk=1).values("published_through")[:1]
            if not Event.objects.filter(id__gt=Coalesce(Subquery(through), 0)).exists():
                return sent


def _relay_pass(batch: int, slice_size: int) -> int:
    """One pass under the relay lock: send everything committed and unsent. Returns how many."""
    sent = 0
    while True:
        # Under RELAY_LOCK this process is the only relayer: what it reads stays true
        # until it writes it.
        state, _ = RelayState.objects.get_or_create(pk=1)
        events = list(Event.objects.filter(id__gt=state.published_through)
                      .order_by("id")[:batch])
        if not events:
            return sent
        groups = {g for e in events for g in e.audience}
        previous = dict(GroupCursor.objects.filter(group__in=groups)
                        .values_list("group", "last_id"))
        for start in range(0, len(events), slice_size):
            part = events[start:start + slice_size]
            _send_slice(part, previous)
            sent += len(part)
        if len(events) < batch:
            return sent  # nothing more was waiting: no empty round


def _send_slice(events: list[Event], previous: dict[str, int]) -> None:
    """Send ``events`` (in id order) and record them sent. ``previous``: the last event id sent
    to each group, updated here."""
    messages = []
    touched: set[str] = set()
    for event in events:
        frame = event.as_message()
        text = json.dumps(frame, separators=(",", ":"))
        for group in event.audience:
            messages.append((group, {"type": "hub.event", "event": frame, "text": text,
                                     "group": group, "prev": previous.get(group, 0)}))
            previous[group] = event.id
            touched.add(group)
    started = time.perf_counter()
    group_send_many(messages)
    RELAY_SEND.observe(time.perf_counter() - started)
    RELAY_SLICE_MESSAGES.observe(len(messages))
    with transaction.atomic():
        GroupCursor.objects.bulk_create(
            [GroupCursor(group=g, last_id=previous[g]) for g in touched],
            update_conflicts=True, unique_fields=["group"], update_fields=["last_id"])
        RelayState.objects.filter(pk=1).update(published_through=events[-1].id)
    RELAYED.inc(len(events))


def outbox_prune(*, keep_days: int | None = None, now: dt.datetime | None = None) -> int:
    """Delete events older than the retention window; clients resuming from before get a resync.

    Never deletes an event not yet relayed.
    """
    keep_days = keep_days if keep_days is not None else settings.HUB_OUTBOX_RETENTION_DAYS
    cutoff = (now or timezone.now()) - dt.timedelta(days=keep_days)
    with transaction.atomic():
        state, _ = RelayState.objects.select_for_update().get_or_create(pk=1)
        old = Event.objects.filter(at__lt=cutoff, id__lte=state.published_through)
        last = old.order_by("-id").values_list("id", flat=True).first()
        if last is None:
            return 0
        deleted, _ = Event.objects.filter(id__lte=last).delete()
        state.purged_through = max(state.purged_through, last)
        state.save(update_fields=["purged_through"])
    return deleted
