"""``python manage.py relay``: the relay process (started twice by ``make run``: active and standby).

It LISTENs for the outbox's NOTIFY (sent by every publishing transaction when it
commits), gathers for a few milliseconds so that a burst of commits goes out as
one batch, then sends every committed event in id order (``realtime.services.relay``).

Only one relay process is active at a time: the one holding a PostgreSQL session
advisory lock. The others wait as standbys, trying the lock every
``--standby-poll`` seconds; when the active one dies its connection closes, the
server releases the lock and a standby takes over (within 2 s by default). The
periodic Celery task ``realtime.relay`` stays as the safety net.

With ``--metrics-port`` (or ``HUB_RELAY_METRICS_PORT``) it serves its Prometheus series on
that port of loopback (``/metrics``: events sent, active or standby, the layer's "over
capacity", the relay's lag; docs/deployment.md, "Supervision").
"""

from __future__ import annotations

import logging
import os
import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections, connection
from prometheus_client import REGISTRY, start_http_server

from realtime import metrics, services

log = logging.getLogger("realtime.relay")

NOTIFY_CHANNEL = services.NOTIFY_CHANNEL


class Command(BaseCommand):
    help = "Relays the outbox to the channel layer as events commit (one active, the others standby)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--gather-ms", type=float, default=3.0,
                            help="Wait this long after a NOTIFY for more commits before sending (ms).")
        parser.add_argument("--idle", type=float, default=1.0,
                            help="Relay at least this often (s) even without a NOTIFY.")
        parser.add_argument("--standby-poll", type=float, default=0.5,
                            help="A standby tries to take over this often (s).")
        parser.add_argument("--metrics-port", type=int,
                            default=int(os.environ.get("HUB_RELAY_METRICS_PORT") or 0),
                            help="Serve /metrics on this port of --metrics-bind (0: not served).")
        parser.add_argument("--metrics-bind", default="127.0.0.1",
                            help="The address /metrics is served on (default: loopback only).")

    def handle(self, *args, gather_ms: float, idle: float, standby_poll: float, metrics_port: int,
               metrics_bind: str, **options) -> None:
        self.stopping = False
        if metrics_port:
            REGISTRY.register(metrics.RELAY_ACTIVE)
            # Its own thread, its own database connection, given back after each scrape.
            metrics.RELAY_LAG.close_connection = True
            start_http_server(metrics_port, addr=metrics_bind)

        def stop(*_args) -> None:
            # Acted on between two waits or passes: the pass under way ends cleanly.
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            try:
                self.serve(gather=gather_ms / 1000, idle=idle, standby_poll=standby_poll)
            except DatabaseError:
                # The database went away (restart, failover): the lock went with the
                # connection; start again as a standby.
                log.exception("relay: database connection lost, retrying")
                close_old_connections()
                connection.close()
                time.sleep(1)
        # Straight out: the interpreter's teardown of a whole Django process takes seconds,
        # and a relay that is told to stop should let its standby take over at once.
        connection.close()
        self.stdout.flush()
        os._exit(0)

    def serve(self, *, gather: float, idle: float, standby_poll: float) -> None:
        connection.ensure_connection()
        metrics.RELAY_ACTIVE.set(0)
        announced = False
        with connection.cursor() as cursor:
            while not self.stopping:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [services.RELAY_LEADER_LOCK])
                if cursor.fetchone()[0]:
                    break
                if not announced:
                    self.stdout.write("relay: standby", ending="\n")
                    self.stdout.flush()
                    announced = True
                time.sleep(standby_poll)
            if self.stopping:
                return
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
        metrics.RELAY_ACTIVE.set(1)
        self.stdout.write("relay: active", ending="\n")
        self.stdout.flush()
        pg = connection.connection
        services.relay()  # what committed while no relay was active
        while not self.stopping:
            # Waited in short slices: a signal is acted on only between them (the wait is C).
            until = time.monotonic() + idle
            woken = None
            while woken is None and not self.stopping and time.monotonic() < until:
                woken = next(iter(pg.notifies(timeout=min(0.2, idle), stop_after=1)), None)
            if self.stopping:
                return
            if woken is not None and gather > 0:
                time.sleep(gather)
            # Drop the notifications of the commits this pass will send anyway; one that
            # arrives during the pass wakes the next one at once.
            for _ in pg.notifies(timeout=0):
                pass
            try:
                services.relay()
            except DatabaseError:
                raise
            except Exception:  # Redis down: the next pass (or the periodic task) sends it
                log.exception("relay: sending failed, retrying")
                time.sleep(0.2)
