"""What the event bus reports to ``/metrics`` (Prometheus; docs/deployment.md, "Supervision").

The instruments live in the process that counts (each Daphne process, the relay process);
the relay's lag is read from the outbox when scraped, so every process that serves
``/metrics`` reports it for the whole hub.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError, connection
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# No ``*_created`` twin of every counter: half the series, and Prometheus does not need them.
disable_created_metrics()

FRAMES = Counter("hub_ws_frames_sent", "Frames sent to WebSocket clients by this process, by kind: "
                 "live (an event from the channel layer), replay (resume from last_event_id), "
                 "refill (a gap filled from the outbox), control (pong, heartbeat, error, resync).",
                 ["kind"])
FRAMES_LIVE = FRAMES.labels("live")
FRAMES_REPLAY = FRAMES.labels("replay")
FRAMES_REFILL = FRAMES.labels("refill")
FRAMES_CONTROL = FRAMES.labels("control")

WS_CLIENTS = Gauge("hub_ws_clients", "WebSocket clients connected to this process, by agency code "
                   "(none: an account without a member).", ["agency"])

WS_GAPS = Counter("hub_ws_gaps", "Messages of a group that never reached a socket of this process "
                  "(dropped by the channel layer, or lost in a Redis restart), noticed and refilled "
                  "from the outbox.")

LAYER_OVER_CAPACITY = Counter(
    "hub_layer_over_capacity", "Messages the channel layer dropped because a channel was full "
    "(pubsub: 1,000 messages queued for one socket of this process, counted by the WebSocket "
    "process; core: a group send of this process found channels full, 1,000 per channel): the "
    "socket refills the gap from the outbox. Should stay at 0; growing means the WebSocket "
    "processes do not keep up.")

LAYER_RESUBSCRIBED = Counter(
    "hub_layer_resubscribed", "Times this process's pubsub channel layer subscribed again after "
    "its Redis connection came back (a Redis restart): every socket of the process then refilled "
    "from the outbox what was published meanwhile.")

RELAYED = Counter("hub_relay_events_sent", "Events this process relayed to the channel layer.")
_RELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RELAY_PASS = Histogram("hub_relay_pass_seconds", "Duration of one relay pass of this process that "
                       "sent events, from the relay lock taken: read the outbox, send it slice by "
                       "slice, record each slice sent.", buckets=_RELAY_BUCKETS)
RELAY_LOCK_WAIT = Histogram("hub_relay_lock_wait_seconds", "How long a relay pass of this process "
                            "waited for the relay lock (another process or thread relaying), "
                            "empty passes included.", buckets=_RELAY_BUCKETS)
RELAY_LEFT = Counter("hub_relay_left_to_holder", "Relays after a commit (HUB_RELAY_INLINE) that found "
                     "the relay lock held and left their events to its holder instead of waiting "
                     "(the holder looks again for newer events before it lets go).")
RELAY_SEND = Histogram("hub_relay_send_seconds", "Duration of the send of one slice of a relay pass "
                       "to the channel layer (one round trip to Redis with the pubsub layer).",
                       buckets=_RELAY_BUCKETS)
RELAY_SLICE_MESSAGES = Histogram("hub_relay_slice_messages", "Channel-layer messages (one per event "
                                 "and group of its audience) in one slice the relay sent.",
                                 buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500))
# Registered by the relay process only (``manage.py relay``): elsewhere it would say 0 forever.
RELAY_ACTIVE = Gauge("hub_relay_active", "1 while this relay process holds the leader lock (active), "
                     "0 while it waits as a standby.", registry=None)


class _OverCapacityNotices(logging.Handler):
    """channels_redis says how many channels of a group were full only in a log line
    (``"%s of %s channels over capacity in group %s"``): counted here."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        if "over capacity" not in str(record.msg):
            return
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        full = first if isinstance(first, int) and first > 0 else 1
        LAYER_OVER_CAPACITY.inc(full)


_notices = _OverCapacityNotices()


def install() -> None:
    """Listen for channels_redis' notices (idempotent; called by the app's ``ready``)."""
    logger = logging.getLogger("channels_redis.core")
    if _notices not in logger.handlers:
        logger.addHandler(_notices)
    if not logger.isEnabledFor(logging.INFO):
        # Its notices are INFO: a quieter LOG_LEVEL must not hide them from the counter.
        logger.setLevel(logging.INFO)


class RelayLag(Collector):
    """Read from the outbox when scraped: the newest committed event id, the newest id the
    relay sent, their difference, and how long the oldest unsent event has waited."""

    # The relay process scrapes from its own HTTP thread: that thread gives its connection
    # back after each scrape. Request threads leave that to Django.
    close_connection = False

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: registering must not query the database.
        for name in ("hub_outbox_up", "hub_outbox_newest_id", "hub_relay_sent_id",
                     "hub_relay_lag_events", "hub_relay_lag_seconds"):
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("hub_outbox_up", "1 when this scrape could read the outbox (the "
                               "hub_outbox_* and hub_relay_lag_* series follow), 0 when not.")
        try:
            with connection.cursor() as cursor:
                # Counted, not subtracted: ids have holes (a rolled-back write still used its
                # id), so newest - sent would count events that never existed.
                cursor.execute(
                    "WITH state AS (SELECT COALESCE((SELECT published_through FROM realtime_relaystate"
                    "   WHERE id = 1), 0) AS sent),"
                    " waiting AS (SELECT count(*) AS n, min(at) AS oldest FROM realtime_event"
                    "   WHERE id > (SELECT sent FROM state))"
                    " SELECT COALESCE((SELECT max(id) FROM realtime_event), 0), (SELECT sent FROM state),"
                    " (SELECT n FROM waiting),"
                    " COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - (SELECT oldest FROM waiting)), 0)")
                newest, sent, waiting, waited = cursor.fetchone()
        except DatabaseError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            if self.close_connection:
                connection.close()
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("hub_outbox_newest_id", "Id of the newest committed event of the outbox.",
                                value=newest)
        yield GaugeMetricFamily("hub_relay_sent_id", "Id of the newest event the relay sent "
                                "(RelayState.published_through).", value=sent)
        yield GaugeMetricFamily("hub_relay_lag_events", "Committed events the relay has not sent yet "
                                "(those of the outbox past hub_relay_sent_id).", value=waiting)
        yield GaugeMetricFamily("hub_relay_lag_seconds", "How long the oldest committed event the relay "
                                "has not sent has waited (0 when none waits).", value=max(float(waited), 0.0))


RELAY_LAG = RelayLag()
REGISTRY.register(RELAY_LAG)
