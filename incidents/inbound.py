"""What a field unit's tablet sends on its socket (``realtime.inbound``): its position.

``{"type": "unit.position", "lat", "lon", "accuracy"?, "at"?, "id"}`` — the same fields, checks
and idempotency as ``POST /api/units/<id>/position/`` (``id`` is the ``Idempotency-Key``), for
the cost of the write alone: the socket is authenticated already, and its rights re-read by
its heartbeat and on every change. Answered on the socket with ``{"type": "ack", "id",
"unit", "at", "result"}`` (``stored``; ``dropped``: not newer than the unit's latest;
``superseded``: a newer one from the same tablet came before it was written; ``replayed``
true for a message seen already) or ``{"type": "error", "id", "error", "detail"}`` (French).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import math
import weakref
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from incidents.services.units import PositionCoalescer, PositionReport, unit_positions_live
from partners.idempotency import MAX_KEY
from realtime.inbound import register_inbound, reply_id

MAX_ACCURACY_M = 100_000


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _error(key: object, detail: dict) -> dict:
    return {"type": "error", "id": key, "error": "invalid", "detail": detail}


def position_report(user: User, message: dict) -> PositionReport | dict:
    """The report a message asks for, or the error frame that refuses it (no database)."""
    key = message.get("id")
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        return _error(reply_id(message), {"id": [
            gettext("An idempotency key is 1 to %(max)d characters.") % {"max": MAX_KEY}]})
    problems: dict[str, list[str]] = {}
    lat, lon = _number(message.get("lat")), _number(message.get("lon"))
    if lat is None or lon is None or not -90 <= lat <= 90 or not -180 <= lon <= 180:
        problems["position"] = [gettext("lat and lon are required: degrees (WGS 84), "
                                        "latitude −90 to 90, longitude −180 to 180.")]
    accuracy = message.get("accuracy")
    if accuracy is not None:
        accuracy = _number(accuracy)
        if accuracy is None or not 0 <= accuracy <= MAX_ACCURACY_M:
            problems["accuracy"] = [gettext("The accuracy is a number of metres from 0 to 100,000.")]
    raw_at = message.get("at")
    at: dt.datetime | None = None
    if raw_at is not None:
        try:
            at = parse_datetime(raw_at) if isinstance(raw_at, str) else None
        except ValueError:
            at = None
        if at is None:
            problems["at"] = [gettext("The time is a date and time in ISO 8601 "
                                      "(2026-05-14T10:21:07+02:00).")]
        elif timezone.is_naive(at):
            at = timezone.make_aware(at)
    if problems:
        return _error(key, problems)
    assert lat is not None and lon is not None
    content = json.dumps({"lat": lat, "lon": lon, "accuracy": accuracy, "at": raw_at}, sort_keys=True)
    return PositionReport(user_id=user.pk, key=key,
                          request_hash=hashlib.sha256(f"WS unit.position\n{content}".encode()).hexdigest(),
                          point=Point(lon, lat, srid=4326), at=at or timezone.now(), accuracy_m=accuracy)


# The thread that writes the sockets' positions, one batch at a time (each batch holds the outbox
# lock to its commit anyway: a second thread would wait for it). Not Channels' thread-sensitive
# database thread, which every socket of the process shares for its rights and replays.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="positions")


def _write(batch: list[PositionReport]) -> None:
    try:
        with translation.override(settings.LANGUAGE_CODE):
            unit_positions_live(batch)
    finally:
        connection.close()  # back to the pool: the thread may idle for a long time


class PositionWriter:
    """The positions of the sockets of one event loop (one Daphne process): offered to a
    :class:`PositionCoalescer`, written by one task in batches, everything that waited in
    one batch as soon as the one before it has committed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.coalescer = PositionCoalescer()
        self.waiters: dict[PositionReport, asyncio.Future[dict]] = {}
        self.task: asyncio.Task[None] | None = None

    async def report(self, report: PositionReport) -> dict:
        """Offer ``report``; its answer once written, or once superseded by a newer one."""
        answered = self.coalescer.offer(report)
        if answered is not None and answered is not report:
            self._wake(answered)
        if report.reply is not None:
            return report.reply
        future = self.loop.create_future()
        self.waiters[report] = future
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._drain())
        try:
            return await future
        finally:  # cancelled (the socket closed): the position is written all the same
            self.waiters.pop(report, None)

    def _wake(self, report: PositionReport) -> None:
        for each in (report, *report.repeats_answered()):
            future = self.waiters.pop(each, None)
            if future is not None and not future.done() and each.reply is not None:
                future.set_result(each.reply)

    async def _drain(self) -> None:
        while batch := self.coalescer.take():
            try:
                await database_sync_to_async(_write, thread_sensitive=False, executor=_WRITER)(batch)
            finally:
                for report in batch:
                    if report.reply is None:  # the process is stopping
                        report.reply = report.error("unavailable", gettext(
                            "The hub could not record this position; send it again."))
                    self._wake(report)


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PositionWriter] = weakref.WeakKeyDictionary()


def position_writer() -> PositionWriter:
    """The writer of the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = PositionWriter(loop)
    return writer


async def unit_position(user: User, message: dict) -> dict:
    with translation.override(settings.LANGUAGE_CODE):
        report = position_report(user, message)
    if isinstance(report, dict):
        return report
    # A burst from one tablet waits as its newest position only.
    return await position_writer().report(report)


def register() -> None:
    register_inbound("unit.position", unit_position)
