"""How long a write holds the outbox lock: the ceiling of the whole hub's writes (docs/deployment.md §4).

Every transaction that publishes takes ``OUTBOX_LOCK`` (``realtime.services.outbox_lock``)
and keeps it until it commits, so publishing transactions run one after the other from there
to the end of their COMMIT, whatever the number of processes and machines. This script calls
the real services in-process, on its own database (``csu_bench_outbox``: created, migrated,
a commune, units and members made through the services), with the in-request relay off (as
``make run`` runs the API processes), and times, per write, from the moment the lock is held
to the moment the COMMIT has returned (an ``on_commit`` hook), then prints the writes a
second that this allows for the whole hub: 1 / hold.

    source var/env.sh && python benchmarks/outbox_lock.py [--writes 300]

Standalone; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writes", type=int, default=300, help="writes of each kind measured")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    url = harness.bench_database_url("csu_bench_outbox", "BENCH_OUTBOX_DATABASE_URL")
    harness.ensure_database(url)
    harness.setup_django(url, f"bench-outbox-{int(time.time())}", {"HUB_RELAY_INLINE": "0"})

    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    call_command("migrate", verbosity=0, interactive=False)

    import incidents.services.alerts as alert_services
    import incidents.services.incidents as incident_services
    import incidents.services.radio as radio_services
    import incidents.services.units as unit_services
    import realtime.services as realtime_services
    from partners.choices import AgencyKind
    from tests import factories

    held: list[float] = []
    state: dict[str, float | None] = {"since": None}
    original = realtime_services.outbox_lock

    def timed_lock() -> None:
        original()
        if state["since"] is None:  # the first take in this transaction: held from here
            state["since"] = time.perf_counter()

            def committed() -> None:
                held.append((time.perf_counter() - float(state["since"] or 0)) * 1000)
                state["since"] = None

            transaction.on_commit(committed)

    realtime_services.outbox_lock = timed_lock
    incident_services.outbox_lock = alert_services.outbox_lock = timed_lock

    with transaction.atomic():
        if not factories.Commune.objects.exists():
            factories.make_commune()
        run = int(time.time())
        agency = factories.make_agency(kind=AgencyKind.PN, code="pn-bench")
        operator = factories.make_member(role="operator", username=f"operator-{run}")
        tablet = factories.make_member(role="field_unit", agency=agency, username=f"tablet-{run}")
        unit = factories.make_unit(agency=agency, callsign=f"B{run}", member=tablet)
    point = factories.CENTRE

    def position(n: int) -> None:
        # Back and forth within 500 m of the centre, 5 m and 5 s apart: well below the speed
        # limit, inside the service area, never in the future.
        at = timezone.now() - dt.timedelta(hours=12) + dt.timedelta(seconds=5 * n)
        metres = abs(n % 200 - 100) * 5
        unit_services.unit_position_report(
            member=tablet, unit=unit, point=factories.offset(point, bearing=90, metres=metres), at=at)

    def radio(n: int) -> None:
        radio_services.radio_message_send(member=operator, text=f"Message {n}", to_unit=unit)

    results = {}
    counter = iter(range(10**9))
    for name, write in (("unit.position (position report)", position),
                        ("radio.message_sent (direct line)", radio)):
        for _ in range(args.warmup):
            write(next(counter))
        held.clear()
        started = time.perf_counter()
        for _ in range(args.writes):
            write(next(counter))
        wall = time.perf_counter() - started
        assert len(held) == args.writes, (len(held), args.writes)
        results[name] = (harness.summary(held), wall / args.writes * 1000)
    connection.close()

    print(f"Outbox lock held per write, {args.writes} writes each, in-process, relay off "
          f"({harness.machine().get('cpu', '')}):")
    print("| write | lock held p50 ms | p95 ms | whole service call ms (mean) | ⇒ writes/s for the whole hub at p50 / p95 |")
    print("|---|---:|---:|---:|---:|")
    for name, (summary, mean_call) in results.items():
        print(f"| {name} | {summary['p50']:.2f} | {summary['p95']:.2f} | {mean_call:.1f} | "
              f"{1000 / summary['p50']:.0f} / {1000 / summary['p95']:.0f} |")


if __name__ == "__main__":
    main()
