"""The outbox: publish in the transaction of the change, relay in id order after commit, prune.

Real PostgreSQL and real Redis: what the relay sends is read back from the
channel layer the consumers listen on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY

from incidents.events import IncidentUnshared
from incidents.models import Incident
from realtime import services, tasks, transport
from realtime.audiences import Audience
from realtime.models import Event, GroupCursor, RelayState
from tests.realtime import helpers


def group() -> str:
    """A group name of its own, so that nothing else published reaches the test's listener."""
    return f"test.{uuid.uuid4().hex}"


def event(n: int = 1) -> IncidentUnshared:
    return IncidentUnshared(incident_id=n, reference=f"CSU-2026-{n:06d}", agency="pn-test")


def listen(*groups: str) -> str:
    """A channel of the real channel layer that belongs to ``groups``."""
    layer = get_channel_layer()

    async def go() -> str:
        channel = await layer.new_channel()
        for name in groups:
            await layer.group_add(name, channel)
        return channel

    return transport.run(go())


# A receive still waiting when ``received`` stopped listening, per channel: cancelling it would
# tell the pubsub layer that the consumer left, and the channel would leave its groups.
_waiting: dict[str, asyncio.Future] = {}


@pytest.fixture(autouse=True)
def _stop_waiting():
    """The test's channels are done with: their receives end with it (with the core layer, a
    receive left waiting would read from the process's shared list, other tests' messages)."""
    yield

    async def stop() -> None:
        for receiving in _waiting.values():
            receiving.cancel()
        await asyncio.gather(*_waiting.values(), return_exceptions=True)
        _waiting.clear()

    transport.run(stop())


def received(channel: str, *, wait: float = 0.3) -> list[dict]:
    """Every message waiting on ``channel`` (stops after ``wait`` s without one)."""
    layer = get_channel_layer()

    async def go() -> list[dict]:
        messages = []
        while True:
            receiving = _waiting.pop(channel, None) or asyncio.ensure_future(layer.receive(channel))
            done, _ = await asyncio.wait({receiving}, timeout=wait)
            if not done:
                _waiting[channel] = receiving
                return messages
            messages.append(receiving.result())

    return transport.run(go())


def relay_state() -> RelayState:
    return RelayState.objects.get_or_create(pk=1)[0]


# --- publish


@pytest.mark.django_db
def test_publish_writes_the_row_now_and_sends_only_once_committed(django_capture_on_commit_callbacks):
    name = group()
    channel = listen(name)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            row = services.publish(event(7), audience=Audience([name]))
            # The row is part of the caller's transaction: visible to it, before any commit.
            stored = Event.objects.get(pk=row.pk)
    assert stored.type == "incident.unshared"
    assert stored.data == {"incident_id": 7, "reference": "CSU-2026-000007", "agency": "pn-test"}
    assert stored.audience == [name]
    assert received(channel) == []  # not committed yet: nothing on the wire

    for callback in callbacks:  # the commit
        callback()
    [message] = received(channel)
    assert message["event"] == {"id": row.pk, "type": "incident.unshared", "at": row.at.isoformat(),
                                "data": stored.data}


@pytest.mark.django_db
def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing(django_capture_on_commit_callbacks):
    name = group()
    channel = listen(name)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.publish(event(), audience=Audience([name]))
            raise RuntimeError("the change failed after it published")
    assert callbacks == []  # no relay was scheduled by the rolled-back block
    assert not Event.objects.exists()
    assert services.relay() == 0  # and a relay finds nothing to send
    assert received(channel) == []


@pytest.mark.django_db(transaction=True)
async def test_a_rolled_back_incident_reaches_no_client(connect):
    """A write that fails after it published sends nothing; the next committed one arrives."""
    operator = await database_sync_to_async(helpers.people)()
    ok, client = await connect(operator["operator"].user)
    assert ok

    def failed_write() -> None:
        with transaction.atomic():
            helpers.open_incident(operator["operator"], description="Jamais enregistré")
            raise RuntimeError("the request failed after the incident was written")

    with pytest.raises(RuntimeError):
        await database_sync_to_async(failed_write)()
    assert not await database_sync_to_async(Incident.objects.exists)()

    incident = await database_sync_to_async(helpers.open_incident)(operator["operator"])
    frame = await client.frame()
    # The first frame is the committed incident: nothing of the rolled-back one came before it.
    assert frame["type"] == "incident.created"
    assert frame["data"]["incident"]["reference"] == incident.reference
    assert frame["data"]["incident"]["description"] == "Rixe devant la gare"


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        services.publish(event(), audience=Audience([group()]))
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_publish_needs_an_audience():
    with pytest.raises(ValueError), transaction.atomic():
        services.publish(event(), audience=Audience([]))
    assert not Event.objects.exists()


# --- relay


def publish_committed(*pairs: tuple[int, str]) -> list[Event]:
    """Publish ``(n, group)`` events in one transaction of the test (the relay runs later)."""
    with transaction.atomic():
        return [services.publish(event(n), audience=Audience([g])) for n, g in pairs]


@pytest.mark.django_db
def test_relay_sends_in_id_order_and_advances_published_through():
    a, b = group(), group()
    channel = listen(a, b)
    rows = publish_committed((1, a), (2, b), (3, a), (4, a), (5, b))

    assert services.relay() == 5
    messages = received(channel)
    assert [m["event"]["id"] for m in messages] == [r.id for r in rows]
    assert [m["event"]["data"]["incident_id"] for m in messages] == [1, 2, 3, 4, 5]
    # Each message names the previous event of its group, so that a consumer can tell a gap.
    assert [(m["group"], m["prev"]) for m in messages] == [
        (a, 0), (b, 0), (a, rows[0].id), (a, rows[2].id), (b, rows[1].id)]
    assert relay_state().published_through == rows[-1].id
    assert dict(GroupCursor.objects.filter(group__in=[a, b]).values_list("group", "last_id")) == {
        a: rows[3].id, b: rows[4].id}


@pytest.mark.django_db
def test_an_event_for_several_groups_reaches_each_group():
    a, b = group(), group()
    only_a, only_b = listen(a), listen(b)
    with transaction.atomic():
        row = services.publish(event(), audience=Audience([a, b]))
    services.relay()
    assert [m["event"]["id"] for m in received(only_a)] == [row.id]
    assert [m["event"]["id"] for m in received(only_b)] == [row.id]


@pytest.mark.django_db
def test_relay_is_idempotent():
    name = group()
    channel = listen(name)
    publish_committed((1, name), (2, name))
    assert services.relay() == 2
    assert len(received(channel)) == 2

    assert services.relay() == 0
    assert received(channel) == []

    [third] = publish_committed((3, name))
    assert services.relay() == 1
    assert [m["event"]["id"] for m in received(channel)] == [third.id]


@pytest.mark.django_db
def test_relay_in_small_batches_sends_everything_in_order():
    name = group()
    channel = listen(name)
    rows = publish_committed(*[(n, name) for n in range(1, 8)])
    assert services.relay(batch=3) == 7
    assert [m["event"]["id"] for m in received(channel)] == [r.id for r in rows]


@pytest.mark.django_db
def test_a_failed_relay_is_logged_and_the_next_relay_sends_the_event(monkeypatch, caplog):
    name = group()
    channel = listen(name)

    def redis_down(messages):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(services, "group_send_many", redis_down)
    [row] = publish_committed((1, name))
    with caplog.at_level(logging.ERROR, logger="realtime.services"):
        services.relay_safely()  # what runs after commit: it must not raise into the request
    assert "relay failed" in caplog.text
    assert relay_state().published_through < row.id

    monkeypatch.undo()
    assert services.relay() == 1
    assert [m["event"]["id"] for m in received(channel)] == [row.id]
    assert relay_state().published_through == row.id


@pytest.mark.django_db
def test_a_batch_goes_in_slices_each_recorded_before_the_next(monkeypatch):
    name = group()
    channel = listen(name)
    rows = publish_committed(*[(n, name) for n in range(1, 8)])
    real_send = services.group_send_many
    seen_at_each_send: list[tuple[int, int]] = []

    def send(messages):
        # Where the relay stood when this slice went: the slices before it are recorded.
        seen_at_each_send.append((len(messages), relay_state().published_through))
        real_send(messages)

    monkeypatch.setattr(services, "group_send_many", send)
    assert services.relay(slice_size=3) == 7
    before = rows[0].id - 1
    assert [n for n, _ in seen_at_each_send] == [3, 3, 1]
    assert [at for _, at in seen_at_each_send][1:] == [rows[2].id, rows[5].id]
    assert seen_at_each_send[0][1] <= before
    assert [m["event"]["id"] for m in received(channel)] == [r.id for r in rows]
    assert relay_state().published_through == rows[-1].id


@pytest.mark.django_db
def test_a_failing_slice_is_sent_again_alone_and_nothing_before_it_twice(monkeypatch):
    a, b = group(), group()
    channel = listen(a, b)
    rows = publish_committed(*[(n, a if n % 2 else b) for n in range(1, 8)])
    real_send = services.group_send_many
    calls = 0

    def second_slice_fails_after_it_went(messages):
        # The worst case: Redis took the slice, then the answer was lost.
        nonlocal calls
        calls += 1
        real_send(messages)
        if calls == 2:
            raise ConnectionError("Redis went away")

    monkeypatch.setattr(services, "group_send_many", second_slice_fails_after_it_went)
    with pytest.raises(ConnectionError):
        services.relay(slice_size=3)
    assert relay_state().published_through == rows[2].id  # the first slice is recorded
    first_pass = [m["event"]["id"] for m in received(channel)]
    assert first_pass == [r.id for r in rows[:6]]

    monkeypatch.undo()
    assert services.relay(slice_size=3) == 4
    second_pass = received(channel)
    # Only the failed slice again (its messages name the same previous event of their group),
    # then the rest; nothing of the first slice.
    assert [m["event"]["id"] for m in second_pass] == [r.id for r in rows[3:]]
    assert [(m["group"], m["prev"]) for m in second_pass] == [
        (b, rows[1].id), (a, rows[2].id), (b, rows[3].id), (a, rows[4].id)]
    assert relay_state().published_through == rows[-1].id
    assert dict(GroupCursor.objects.filter(group__in=[a, b]).values_list("group", "last_id")) == {
        a: rows[6].id, b: rows[5].id}


@pytest.mark.django_db
def test_the_relay_reports_its_passes_and_sends_to_metrics():
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    passes, sends = sample("hub_relay_pass_seconds_count"), sample("hub_relay_send_seconds_count")
    waits = sample("hub_relay_lock_wait_seconds_count")
    name = group()
    listen(name)
    publish_committed(*[(n, name) for n in range(1, 6)])
    assert services.relay(slice_size=2) == 5
    assert sample("hub_relay_pass_seconds_count") == passes + 1
    assert sample("hub_relay_send_seconds_count") == sends + 3
    assert services.relay() == 0  # an empty pass is not counted as a pass...
    assert sample("hub_relay_pass_seconds_count") == passes + 1
    assert sample("hub_relay_lock_wait_seconds_count") == waits + 2  # ...but it asked for the lock


@pytest.mark.django_db(transaction=True)
def test_writers_that_commit_during_a_relay_pass_do_not_wait_and_their_events_are_sent(
        monkeypatch, settings):
    """With HUB_RELAY_INLINE, a request that finds the relay lock taken leaves its events to the
    holder instead of waiting for it; the holder, before it lets go, looks again and sends them."""
    settings.HUB_RELAY_INLINE = False
    name = group()
    channel = listen(name)
    [first] = publish_committed((1, name))
    settings.HUB_RELAY_INLINE = True
    real_send = services.group_send_many
    sending, release = threading.Event(), threading.Event()
    sends: list[list[int]] = []

    def send(messages):
        sends.append([m["event"]["id"] for _, m in messages])
        if len(sends) == 1:  # the holder's first slice: held until the writers have committed
            sending.set()
            assert release.wait(30), "the test never released the relay"
        real_send(messages)

    monkeypatch.setattr(services, "group_send_many", send)
    left = REGISTRY.get_sample_value("hub_relay_left_to_holder_total") or 0.0

    def in_thread(work) -> threading.Thread:
        def run() -> None:
            try:
                work()
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    written: list[Event] = []
    holder = in_thread(services.relay)
    assert sending.wait(30), "the relay pass did not start"
    writers = [in_thread(lambda n=n: written.extend(publish_committed((n, name)))) for n in (2, 3)]
    for writer in writers:
        writer.join(30)
    # Both writers committed and came back while the holder still holds the lock.
    assert not any(w.is_alive() for w in writers) and holder.is_alive()
    assert len(written) == 2
    assert REGISTRY.get_sample_value("hub_relay_left_to_holder_total") == left + 2
    assert sends == [[first.id]]  # nothing sent for them yet

    release.set()
    holder.join(30)
    assert not holder.is_alive()
    ids = sorted(row.id for row in written)
    assert [m["event"]["id"] for m in received(channel)] == [first.id, *ids]
    assert sends == [[first.id], ids]  # the holder's second look sent both, once
    assert relay_state().published_through == ids[-1]


# --- retention


def age(rows: list[Event], days: float) -> None:
    Event.objects.filter(pk__in=[r.pk for r in rows]).update(at=timezone.now() - dt.timedelta(days=days))


@pytest.mark.django_db
def test_outbox_prune_deletes_only_relayed_events_older_than_the_window():
    name = group()
    old = publish_committed((1, name), (2, name))
    services.relay()
    # Then Redis stayed down: these were committed but never relayed.
    old_unrelayed = publish_committed((3, name))
    recent = publish_committed((4, name))
    age(old, days=8)
    age(old_unrelayed, days=7.5)

    assert services.outbox_prune(keep_days=7) == 2
    assert sorted(Event.objects.values_list("id", flat=True)) == [old_unrelayed[0].id, recent[0].id]
    assert relay_state().purged_through == old[-1].id
    assert services.outbox_prune(keep_days=7) == 0  # nothing more is old and relayed

    assert services.relay() == 2
    assert services.outbox_prune(keep_days=7) == 1  # relayed at last, it may go; the recent one stays
    assert list(Event.objects.values_list("id", flat=True)) == [recent[0].id]
    assert relay_state().purged_through == old_unrelayed[0].id


@pytest.mark.django_db
def test_outbox_prune_keeps_everything_inside_the_window():
    name = group()
    rows = publish_committed((1, name), (2, name))
    services.relay()
    age(rows, days=6)
    assert services.outbox_prune(keep_days=7) == 0
    assert Event.objects.count() == 2
    assert relay_state().purged_through == 0


@pytest.mark.django_db
def test_the_periodic_tasks_call_the_services(settings):
    name = group()
    channel = listen(name)
    rows = publish_committed((1, name), (2, name))

    assert tasks.relay() == 2  # the beat's relay sends what an after-commit relay left behind
    assert [m["event"]["id"] for m in received(channel)] == [r.id for r in rows]

    settings.HUB_OUTBOX_RETENTION_DAYS = 3
    age(rows[:1], days=4)
    assert tasks.prune_outbox() == 1
    assert list(Event.objects.values_list("id", flat=True)) == [rows[1].id]
    assert relay_state().purged_through == rows[0].id
