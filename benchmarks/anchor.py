#!/usr/bin/env python
"""The access journal's anchors: what anchoring and verifying cost on a large journal, beside the
chain-only check (what ``verify_audit`` did before anchors) measured in the same run.

Run from the repository root::

    python benchmarks/anchor.py                          # 200,000 records, 10,000 anchors
    python benchmarks/anchor.py --records 20000 --anchors 1000   # a quick smoke run

It prints figures; it never asserts a timing.

Setup
-----
* Its own database, ``csu_bench_anchor`` on the server of ``DATABASE_URL`` (created with
  PostGIS when missing, migrated). Every run empties the journal first (triggers off for that
  statement: the journal refuses TRUNCATE) and bulk-loads ``--records`` chained records
  (hashes computed by ``partners.audit.record_digest``, as ``audit()`` does).
* Anchor file and anchoring key in a temporary directory; no syslog copy.

Measures (wall time, single process, in-process Django)
-------------------------------------------------------
1. ``audit_verify(require_anchor=False)`` with no anchor: the chain walk alone (baseline).
2. The first anchoring of the journal (``audit_anchor``): it walks the whole chain once.
3. Anchoring after 1,000 new records (5 times, median): the periodic task's cost at a busy
   minute; and the task with nothing new (``force=False``): a no-op.
4. ``audit_verify`` against ``--anchors`` anchors (one every records/anchors records, each
   signed): the chain walk, plus reading and checking each anchor's signature.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402


def load_records(count: int, *, start_id: int = 1, previous: str | None = None) -> str:
    """Append ``count`` chained records (ids from ``start_id``); returns the last hash."""
    from django.db import connection, transaction

    from partners.audit import GENESIS, record_digest
    from partners.models import AuditHead, AuditRecord

    previous = previous or GENESIS
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=start_id)
    batch: list[AuditRecord] = []
    with transaction.atomic():
        for offset in range(count):
            record = AuditRecord(pk=start_id + offset, at=moment + dt.timedelta(seconds=offset),
                                 actor_username=f"operateur-{offset % 30}", agency_code="csu",
                                 address="10.0.0.7", action="camera_view_start", object_type="cameras.camera",
                                 object_id=str(offset % 2142), reason="Incident CSU-2026-000123",
                                 details={"preset": offset % 4}, prev_hash=previous)
            record.hash = record_digest(record)
            previous = record.hash
            batch.append(record)
            if len(batch) == 5000:
                AuditRecord.objects.bulk_create(batch)
                batch = []
        if batch:
            AuditRecord.objects.bulk_create(batch)
        last_id = start_id + count - 1
        AuditHead.objects.update_or_create(pk=1, defaults={"last_id": last_id, "last_hash": previous})
        with connection.cursor() as cursor:
            cursor.execute("SELECT setval(pg_get_serial_sequence('partners_auditrecord', 'id'), %s)", [last_id])
    return previous


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return (time.perf_counter() - started) * 1000.0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--anchors", type=int, default=10_000)
    args = parser.parse_args()

    url = harness.bench_database_url("csu_bench_anchor", "BENCH_ANCHOR_DATABASE_URL")
    harness.ensure_database(url)
    work = Path(tempfile.mkdtemp(prefix="bench-anchor-"))
    harness.setup_django(url, f"bench-anchor-{os.getpid()}", env={
        "HUB_AUDIT_ANCHOR_FILE": str(work / "anchors.jsonl"),
        "HUB_AUDIT_ANCHOR_KEY_PATH": str(work / "anchor.pem"), "HUB_AUDIT_SYSLOG": "",
        "HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG": "0"})
    from django.core.management import call_command
    from django.db import connection

    from partners.anchor import Anchor, anchor_key, anchor_sign, audit_anchor, audit_verify
    from partners.models import AuditRecord

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("TRUNCATE partners_auditrecord, partners_audithead")
        cursor.execute("SET session_replication_role = DEFAULT")
    print(harness.machine())
    load_ms, last_hash = timed(load_records, args.records)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE partners_auditrecord")
    print(f"loaded {args.records:,} records in {load_ms / 1000:.1f} s")

    key = anchor_key()
    chain_ms, chain = timed(audit_verify, anchor_paths=[], public_keys=[key.public_key()], require_anchor=False)
    assert not chain.problems, chain.problems
    print(f"1. chain alone (verify_audit --chain-only):         {chain_ms:9.0f} ms  "
          f"({chain_ms * 1000 / args.records:.1f} µs a record)")

    first_ms, first = timed(audit_anchor)
    print(f"2. first anchoring (walks the whole chain):         {first_ms:9.0f} ms")

    busy: list[float] = []
    next_id = args.records + 1
    for _ in range(5):
        last_hash = load_records(1000, start_id=next_id, previous=last_hash)
        next_id += 1000
        elapsed, _ = timed(audit_anchor, force=False)
        busy.append(elapsed)
    idle: list[float] = [timed(audit_anchor, force=False)[0] for _ in range(5)]
    print(f"3. anchoring after 1,000 new records (median of 5): {statistics.median(busy):9.1f} ms")
    print(f"   anchoring with nothing new (median of 5):        {statistics.median(idle):9.1f} ms")

    # Many anchors: one every `step` records, as years of anchoring would leave.
    total = AuditRecord.objects.count()
    step = max(1, total // args.anchors)
    lines = []
    moment = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = AuditRecord.objects.order_by("id").values_list("id", "hash")
    for position, (record_id, record_hash) in enumerate(rows.iterator(chunk_size=5000), start=1):
        if position % step == 0:
            at = (moment + dt.timedelta(minutes=len(lines))).isoformat()
            anchor = anchor_sign(Anchor(seq=len(lines) + 1, at=at, last_id=record_id, last_hash=record_hash,
                                        count=position, key_id=""), key)
            lines.append(anchor.line())
    many = work / "many.jsonl"
    many.write_text("\n".join(lines) + "\n")
    verify_ms, verified = timed(audit_verify, anchor_paths=[many], public_keys=[key.public_key()])
    assert not verified.problems, verified.problems[:3]
    print(f"4. verify_audit with {len(lines):,} anchors:                {verify_ms:9.0f} ms  "
          f"(x{verify_ms / chain_ms:.2f} the chain alone; {total:,} records, "
          f"{many.stat().st_size / 1e6:.1f} MB of anchors)")


if __name__ == "__main__":
    main()
