"""``manage.py relay``: woken by the outbox's NOTIFY, one active at a time, a standby takes over.

Real processes on the test database and the test's Redis; the test process publishes with
the in-request relay off, so only the relay processes can deliver.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.realtime.processes import BASE_DIR, _stop, database_url
from tests.realtime.test_services import group, listen, publish_committed, received

# The relay's pass without a NOTIFY: an event delivered well before it was woken by its commit's.
IDLE = 30
# How long a wait for a state may last on a busy machine: it ends as soon as the state is there.
BUSY = 20


def start_relay(tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"relay-{name}.log"
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
               HUB_RELAY_INLINE="0", PYTHONUNBUFFERED="1")
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "manage.py", "relay", "--idle", str(IDLE)],
                                   cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def wait_for_line(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {log.name}:\n{log.read_text(errors='replace')[-3000:]}")


def ids_within(channel: str, count: int, timeout: float) -> list[int]:
    """The event ids that reach ``channel`` within ``timeout`` s (stops at ``count``)."""
    ids: list[int] = []
    deadline = time.monotonic() + timeout
    while len(ids) < count and time.monotonic() < deadline:
        ids += [m["event"]["id"] for m in received(channel, wait=0.1)]
    return ids


@pytest.mark.django_db(transaction=True)
def test_the_relay_process_delivers_and_a_standby_takes_over_when_it_dies(tmp_path, settings):
    settings.HUB_RELAY_INLINE = False
    name = group()
    channel = listen(name)
    first, first_log = start_relay(tmp_path, "first")
    second = None
    try:
        wait_for_line(first_log, "relay: active")
        second, second_log = start_relay(tmp_path, "second")
        wait_for_line(second_log, "relay: standby")

        rows = publish_committed((1, name), (2, name), (3, name))
        # Woken by the commit's NOTIFY: its idle pass is 30 s away (however long a busy machine
        # takes to deliver, within half of that it was not the idle pass).
        assert ids_within(channel, 3, timeout=IDLE / 2) == [r.id for r in rows]
        assert "relay: active" not in second_log.read_text()

        first.kill()  # no goodbye: the database notices the dead connection
        first.wait(BUSY)
        # The standby takes over (how fast, the 2 s of docs/deployment.md: benchmarks/relay_takeover.py).
        wait_for_line(second_log, "relay: active", timeout=BUSY)

        more = publish_committed((4, name), (5, name))
        assert ids_within(channel, 2, timeout=IDLE / 2) == [r.id for r in more]
        assert received(channel) == []  # nothing sent twice
    finally:
        _stop(first)
        if second is not None:
            _stop(second)



def test_with_the_inline_relay_off_a_commit_sends_nothing_by_itself(transactional_db, settings):
    settings.HUB_RELAY_INLINE = False
    name = group()
    channel = listen(name)
    publish_committed((1, name))
    assert received(channel) == []
