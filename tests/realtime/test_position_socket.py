"""A field unit's tablet sends its position on its socket (``{"type": "unit.position"}``,
incidents.inbound): acknowledged on the socket, the same checks and idempotency as
``POST /api/units/<id>/position/``, refused in French, coalesced latest-wins."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from channels.db import database_sync_to_async as db
from channels.testing import HttpCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.asgi import application
from incidents import inbound
from incidents.models import Unit, UnitPosition
from incidents.selectors.units import unit_audience
from incidents.services.units import PositionCoalescer, PositionReport, unit_positions_live
from partners.choices import AgencyKind
from partners.models import IdempotencyRecord
from realtime.models import Event
from tests import factories
from tests.factories import CENTRE, offset
from tests.pool import exhaust, restore

pytestmark = pytest.mark.django_db(transaction=True)


def _unit():
    factories.make_commune()
    return factories.make_unit(agency=factories.make_agency(kind=AgencyKind.PN, code="pn-test"),
                               callsign="TV 12")


def _message(key, point, at: dt.datetime | None = None, **extra) -> dict:
    message = {"type": "unit.position", "id": key, "lat": point.y, "lon": point.x, **extra}
    if at is not None:
        message["at"] = at.isoformat()
    return message


async def _reply(client) -> dict:
    """The next ack or error (events and heartbeats skipped)."""
    while True:
        frame = await client.frame(5)
        if frame["type"] in {"ack", "error"}:
            return frame


def _positions(unit_id: int) -> int:
    return UnitPosition.objects.filter(unit_id=unit_id).count()


def _events(unit_id: int) -> int:
    return sum(1 for data in Event.objects.filter(type="unit.position").values_list("data", flat=True)
               if data["unit_id"] == unit_id)


async def test_a_position_on_the_socket_is_acknowledged_and_reaches_the_centre(connect):
    unit = await db(_unit)()
    operator = await db(factories.make_member)(role="operator")
    ok, tablet = await connect(unit.member.user)
    ok_op, centre = await connect(operator.user)
    assert ok and ok_op
    at = timezone.now() - dt.timedelta(seconds=5)
    point = offset(CENTRE, bearing=45, metres=120)

    await tablet.send(_message("k-1", point, at, accuracy=8))
    ack = await _reply(tablet)
    assert ack["type"] == "ack" and ack["id"] == "k-1" and ack["result"] == "stored"
    assert ack["unit"] == unit.pk
    event = await centre.frame()
    assert event["type"] == "unit.position" and event["data"]["callsign"] == "TV 12"
    assert event["data"]["position"]["coordinates"] == [round(point.x, 7), round(point.y, 7)]
    moved = await db(Unit.objects.get)(pk=unit.pk)
    assert moved.position.equals_exact(point, 1e-7) and moved.position_at == at
    fix = await db(UnitPosition.objects.get)(unit=unit)
    assert fix.accuracy_m == 8


async def test_the_same_id_twice_is_one_position_and_the_same_answer(connect):
    unit = await db(_unit)()
    ok, tablet = await connect(unit.member.user)
    assert ok
    at = timezone.now() - dt.timedelta(seconds=5)
    message = _message("same-key", CENTRE, at)

    await tablet.send(message)
    first = await _reply(tablet)
    await tablet.send(message)
    again = await _reply(tablet)
    assert first["result"] == again["result"] == "stored"
    assert again["replayed"] is True and "replayed" not in first
    assert await db(_positions)(unit.pk) == 1
    assert await db(_events)(unit.pk) == 1

    # The same id with another content is refused, and writes nothing.
    await tablet.send(_message("same-key", offset(CENTRE, bearing=0, metres=30), at))
    reused = await _reply(tablet)
    assert reused["type"] == "error" and reused["error"] == "idempotency_key_reused"
    assert reused["detail"] == "Cette demande a déjà été envoyée avec un autre contenu."
    assert await db(_positions)(unit.pk) == 1

    # The POST stays: the same fix sent there too is still one position.
    from tests.factories import TokenClient

    client = await db(lambda: TokenClient().as_member(unit.member))()
    answer = await db(client.post)(f"/api/units/{unit.pk}/position/", {
        "location": {"type": "Point", "coordinates": [CENTRE.x, CENTRE.y]}, "at": at.isoformat()})
    assert answer.status_code == 201
    assert await db(_positions)(unit.pk) == 1


async def test_bad_positions_are_refused_in_french_and_the_socket_stays(connect):
    unit = await db(_unit)()
    ok, tablet = await connect(unit.member.user)
    assert ok
    now = timezone.now()
    paris = type(CENTRE)(2.35, 48.85, srid=4326)
    cases = [
        ({"type": "unit.position", "lat": CENTRE.y, "lon": CENTRE.x}, "invalid", "id",
         "Une clé d'idempotence"),
        ({"type": "unit.position", "id": "a", "lat": "nord", "lon": CENTRE.x}, "invalid", "position",
         "lat et lon"),
        ({"type": "unit.position", "id": "b", "lon": CENTRE.x}, "invalid", "position", "lat et lon"),
        (_message("c", CENTRE, accuracy=-3), "invalid", "accuracy", "précision"),
        ({**_message("d", CENTRE), "at": "hier"}, "invalid", "at", "ISO 8601"),
        (_message("e", paris), "outside_service_area", "position", "hors"),
        (_message("f", CENTRE, now + dt.timedelta(hours=1)), "invalid", "at", "futur"),
        (_message("g", CENTRE, now - dt.timedelta(days=2)), "invalid", "at", "plus d'un jour"),
    ]
    for message, code, field, words in cases:
        await tablet.send(message)
        frame = await _reply(tablet)
        assert frame["type"] == "error" and frame["error"] == code, message
        assert frame["id"] == message.get("id")  # a string here
        assert words in frame["detail"][field][0], frame
    assert await db(_positions)(unit.pk) == 0

    # A speed no vehicle has: 900 m in 10 s.
    t0 = now - dt.timedelta(minutes=1)
    await tablet.send(_message("h", CENTRE, t0))
    assert (await _reply(tablet))["result"] == "stored"
    await tablet.send(_message("i", offset(CENTRE, bearing=90, metres=900), t0 + dt.timedelta(seconds=10)))
    jump = await _reply(tablet)
    assert jump["error"] == "implausible_position" and "km/h" in jump["detail"]["position"][0]
    await tablet.send({"type": "ping"})
    assert (await tablet.frame())["type"] == "pong"
    assert await db(_positions)(unit.pk) == 1


async def test_only_a_field_unit_driving_a_unit_in_service_reports_on_the_socket(connect):
    unit = await db(_unit)()
    operator = await db(factories.make_member)(role="operator")
    agent = await db(factories.make_member)(role="partner_agent", agency=unit.agency)
    idle = await db(factories.make_member)(role="field_unit", agency=unit.agency)  # drives no unit
    for member in (operator, agent, idle):
        ok, client = await connect(member.user)
        assert ok
        await client.send(_message(f"k-{member.pk}", CENTRE))
        frame = await _reply(client)
        assert frame["type"] == "error" and frame["error"] == "forbidden", member.role
        assert frame["detail"] == ("Seule une unité de terrain conduisant une unité en service "
                                   "transmet sa position.")
    assert await db(UnitPosition.objects.count)() == 0


def _writer_busy() -> tuple[threading.Event, asyncio.Future]:
    """Hold the positions' writer thread (a batch being written) until the event is set."""
    release = threading.Event()
    return release, asyncio.get_running_loop().run_in_executor(inbound._WRITER, release.wait, 10)


class HeldWriter:
    """The positions' writer held in its first batch until :attr:`release` is set; the keys of
    every batch it writes in :attr:`batches`."""

    def __init__(self, monkeypatch) -> None:
        self.writing, self.release = threading.Event(), threading.Event()
        self.batches: list[list[str]] = []
        real = inbound._write

        def write(batch):
            self.batches.append([report.key for report in batch])
            if len(self.batches) == 1:
                self.writing.set()
                self.release.wait(10)
            real(batch)

        monkeypatch.setattr(inbound, "_write", write)

    async def started(self) -> None:
        for _ in range(1000):
            if self.writing.is_set():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("no batch was written")


async def test_a_burst_from_one_tablet_waits_as_its_newest_and_older_ones_are_dropped(connect, monkeypatch):
    unit = await db(_unit)()
    ok, tablet = await connect(unit.member.user)
    assert ok
    t0 = timezone.now() - dt.timedelta(minutes=1)
    points = [offset(CENTRE, bearing=90, metres=10 * i) for i in range(5)]

    # A batch being written (the burst's first position): the rest of the burst waits for the
    # next batch, as its newest only.
    writer = HeldWriter(monkeypatch)
    await tablet.send(_message("b-0", points[0], t0))
    await writer.started()
    for i, point in enumerate(points[1:], start=1):
        await tablet.send(_message(f"b-{i}", point, t0 + dt.timedelta(seconds=i)))
    await tablet.send({"type": "ping"})
    replies = {}
    while (frame := await tablet.frame())["type"] != "pong":  # every message of the burst read
        replies[frame["id"]] = frame["result"]
    assert replies == {"b-1": "superseded", "b-2": "superseded", "b-3": "superseded"}
    writer.release.set()
    for _ in range(2):
        frame = await _reply(tablet)
        replies[frame["id"]] = frame["result"]
    assert replies == {"b-0": "stored", "b-1": "superseded", "b-2": "superseded",
                       "b-3": "superseded", "b-4": "stored"}
    assert writer.batches == [["b-0"], ["b-4"]]
    assert await db(_positions)(unit.pk) == 2
    moved = await db(Unit.objects.get)(pk=unit.pk)
    assert moved.position.equals_exact(points[-1], 1e-7)

    # Older than the unit's latest: dropped, not refused, and not stored.
    await tablet.send(_message("late", points[1], t0 + dt.timedelta(seconds=1)))
    assert (await _reply(tablet))["result"] == "dropped"
    assert await db(_positions)(unit.pk) == 2
    assert await db(_events)(unit.pk) == 2


async def test_the_same_message_again_while_it_waits_gets_the_same_answer(connect, monkeypatch):
    unit = await db(_unit)()
    ok, tablet = await connect(unit.member.user)
    assert ok
    t0 = timezone.now() - dt.timedelta(minutes=1)
    writer = HeldWriter(monkeypatch)
    await tablet.send(_message("first", CENTRE, t0))
    await writer.started()
    message = _message("again", offset(CENTRE, bearing=0, metres=20), t0 + dt.timedelta(seconds=5))
    await tablet.send(message)
    await tablet.send(message)  # the tablet resends: no answer came yet
    await tablet.send({**message, "accuracy": 3})  # the same key, another content
    reused = await _reply(tablet)
    assert reused["id"] == "again" and reused["error"] == "idempotency_key_reused"
    writer.release.set()
    replies = [await _reply(tablet) for _ in range(3)]
    again = [r for r in replies if r["id"] == "again"]
    assert [r["result"] for r in again] == ["stored", "stored"]
    assert [r.get("replayed") for r in again] == [None, True]
    assert writer.batches == [["first"], ["again"]]
    assert await db(_positions)(unit.pk) == 2
    assert await db(_events)(unit.pk) == 2


async def test_positions_do_not_wait_for_the_sockets_database_thread(connect):
    """Channels' database thread (one per process: every socket's rights, replays, refills) busy:
    a tablet's position is written and acknowledged all the same."""
    unit = await db(_unit)()
    operator = await db(factories.make_member)(role="operator")
    ok, tablet = await connect(unit.member.user)
    ok_op, centre = await connect(operator.user)
    assert ok and ok_op
    release = threading.Event()
    busy = asyncio.ensure_future(db(release.wait)(10))
    try:
        await tablet.send(_message("k-1", CENTRE, timezone.now() - dt.timedelta(seconds=2)))
        assert (await _reply(tablet))["result"] == "stored"
        assert (await centre.frame())["type"] == "unit.position"  # relayed, thread still busy
        assert not busy.done()
    finally:
        release.set()
        await busy


async def _healthz() -> int:
    health = HttpCommunicator(application, "GET", "/healthz", headers=[(b"host", b"testserver")])
    return (await health.get_response(timeout=10))["status"]


async def test_sockets_connect_and_healthz_answers_while_positions_are_being_written(connect):
    unit = await db(_unit)()
    operator = await db(factories.make_member)(role="operator")
    ok, tablet = await connect(unit.member.user)
    assert ok
    release, busy = _writer_busy()
    try:
        await tablet.send(_message("k-1", CENTRE, timezone.now() - dt.timedelta(seconds=2)))
        ok_op, _ = await connect(operator.user)
        assert ok_op
        assert await _healthz() == 200
        assert await db(_positions)(unit.pk) == 0  # still waiting for the writer
    finally:
        release.set()
        await busy
    assert (await _reply(tablet))["result"] == "stored"


async def test_healthz_does_not_wait_for_the_sockets_database_thread():
    """HAProxy's check of a WebSocket process: answered even while Channels' database thread
    (every socket's rights, replays, refills) is busy: Django gives each HTTP request a thread
    of its own."""
    release = threading.Event()
    busy = asyncio.ensure_future(db(release.wait)(10))
    try:
        assert await _healthz() == 200
        assert not busy.done()
    finally:
        release.set()
        await busy


async def test_the_tablets_waiting_are_written_in_one_batch(connect, monkeypatch):
    agency = await db(factories.make_agency)(kind=AgencyKind.PN, code="pn-test")
    await db(factories.make_commune)()
    units = [await db(factories.make_unit)(agency=agency, callsign=f"TV {n}") for n in range(3)]
    tablets = []
    for unit in units:
        ok, tablet = await connect(unit.member.user)
        assert ok
        tablets.append(tablet)
    at = timezone.now() - dt.timedelta(seconds=2)

    writer = HeldWriter(monkeypatch)
    await tablets[0].send(_message("t-0", CENTRE, at))
    await writer.started()
    for n, tablet in enumerate(tablets[1:], start=1):
        await tablet.send(_message(f"t-{n}", offset(CENTRE, bearing=30 * n, metres=50), at))
        await tablet.send({"type": "ping"})
        assert (await tablet.frame())["type"] == "pong"  # read, waiting for the writer
    writer.release.set()
    for tablet in tablets:
        assert (await _reply(tablet))["result"] == "stored"
    assert writer.batches == [["t-0"], ["t-1", "t-2"]]
    for unit in units:
        assert await db(_positions)(unit.pk) == 1
        assert await db(_events)(unit.pk) == 1


def test_a_batch_answers_each_tablet_as_the_post_would_and_costs_the_same_statements():
    agency = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    factories.make_commune()
    units = [factories.make_unit(agency=agency, callsign=f"TV {n}") for n in range(5)]
    t0 = timezone.now() - dt.timedelta(minutes=1)
    paris = type(CENTRE)(2.35, 48.85, srid=4326)

    def report(unit, key: str, point, seconds: int) -> PositionReport:
        return PositionReport(user_id=unit.member.user_id, key=key, request_hash=f"h-{key}", point=point,
                              at=t0 + dt.timedelta(seconds=seconds), accuracy_m=4)

    one = report(units[0], "one", CENTRE, 0)
    with CaptureQueriesContext(connection) as alone:
        unit_positions_live([one])
    assert one.reply == {"type": "ack", "id": "one", "unit": units[0].pk, "at": one.reply["at"],
                         "result": "stored"}

    unit_positions_live([report(units[1], "first", CENTRE, 10)])
    batch = [
        report(units[0], "one", CENTRE, 0),  # the same message again
        report(units[1], "older", CENTRE, 5),  # older than its unit's latest
        report(units[2], "far", paris, 10),  # outside the service area
        report(units[3], "fresh", offset(CENTRE, bearing=0, metres=40), 10),
        report(units[4], "jump", offset(CENTRE, bearing=0, metres=400), 10),
    ]
    unit_positions_live([report(units[4], "base", CENTRE, 9)])
    with CaptureQueriesContext(connection) as together:
        unit_positions_live(batch)
    assert len(together.captured_queries) == len(alone.captured_queries)
    replies = {r.key: r.reply for r in batch}
    assert replies["one"] == {**one.reply, "replayed": True}
    assert replies["older"]["result"] == "dropped"
    assert replies["far"]["error"] == "outside_service_area"
    assert replies["fresh"]["result"] == "stored"
    assert replies["jump"]["error"] == "implausible_position"  # 400 m in 1 s
    assert [UnitPosition.objects.filter(unit=u).count() for u in units] == [1, 1, 0, 1, 1]
    # A refusal keeps no key: the same message is judged again.
    assert not IdempotencyRecord.objects.filter(key__in=["far", "jump"]).exists()
    assert IdempotencyRecord.objects.filter(key__in=["one", "older", "fresh"]).count() == 3
    events = Event.objects.filter(type="unit.position").order_by("id")
    assert [e.data["unit_id"] for e in events] == [units[0].pk, units[1].pk, units[4].pk, units[3].pk]
    assert events.last().data["callsign"] == "TV 3"
    assert events.last().audience == list(unit_audience(units[3]))


def test_the_coalescer_keeps_the_newest_waiting_report_per_tablet():
    unit = _unit()
    coalescer = PositionCoalescer()
    t0 = timezone.now() - dt.timedelta(minutes=1)

    def report(key: str, seconds: int, user_id: int = unit.member.user_id) -> PositionReport:
        return PositionReport(user_id=user_id, key=key, request_hash=key, point=CENTRE,
                              at=t0 + dt.timedelta(seconds=seconds), accuracy_m=None)

    first, newest, older = report("1", 1), report("2", 5), report("3", 3)
    for each in (first, newest, older):
        coalescer.offer(each)
    assert first.reply is not None and first.reply["result"] == "superseded"
    assert older.reply is not None and older.reply["result"] == "superseded", "older than the one waiting"
    coalescer.flush()
    assert newest.reply is not None and newest.reply["result"] == "stored"
    assert newest.reply["at"].startswith(timezone.localtime(newest.at).isoformat()[:19])
    coalescer.flush()  # nothing waits: nothing written
    assert UnitPosition.objects.filter(unit=unit).count() == 1


async def test_a_position_the_database_pool_cannot_take_is_refused_and_the_socket_stays(connect):
    """No database connection free: the tablet is told, in French, to send it again; nothing was
    written; the socket stays and the same position, sent again, is stored."""
    unit = await db(_unit)()
    ok, tablet = await connect(unit.member.user)
    assert ok
    point = offset(CENTRE, bearing=45, metres=120)
    state = await db(exhaust)()
    try:
        await tablet.send(_message("k-9", point, timezone.now() - dt.timedelta(seconds=5)))
        refused = await _reply(tablet)
    finally:
        await db(restore)(state)
    assert refused == {"type": "error", "error": "saturated", "id": "k-9",
                       "detail": "Service momentanément saturé : réessayez dans quelques secondes."}
    assert await db(_positions)(unit.pk) == 0
    await tablet.send(_message("k-9", point, timezone.now() - dt.timedelta(seconds=4)))
    stored = await _reply(tablet)
    assert (stored["type"], stored["id"], stored["result"]) == ("ack", "k-9", "stored")
    assert await db(_positions)(unit.pk) == 1
