"""How fast a standby relay takes over when the active one dies (docs/deployment.md: within 2 s,
``--standby-poll 0.5``).

Two real ``python manage.py relay`` processes on the benchmark's own database
(``csu_bench_relay``: created and migrated), as ``make run`` starts them: the first becomes
active, the second standby. The active one is killed (SIGKILL: no goodbye, the database notices
the dead connection) or stopped (SIGTERM: it lets go of its lock); the time from the kill to the
standby's ``relay: active`` line is the takeover. Each round starts two fresh processes.

    source var/env.sh && python benchmarks/relay_takeover.py [--rounds 10]

Standalone; prints figures (and the target beside them), asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

TARGET_S = 2.0


def start(log: Path, env: dict[str, str], standby_poll: float) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "relay", "--standby-poll", str(standby_poll)],
            cwd=harness.ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_line(log: Path, text: str, timeout: float = 60) -> float:
    """The monotonic time at which ``text`` was first seen in ``log`` (polled every 2 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return time.monotonic()
        time.sleep(0.002)
    raise RuntimeError(f"{text!r} not in {log.name}:\n{log.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def one_round(workdir: Path, n: int, env: dict[str, str], how: signal.Signals, poll: float) -> float:
    first_log, second_log = workdir / f"r{n}-first.log", workdir / f"r{n}-second.log"
    first = start(first_log, env, poll)
    second = None
    try:
        wait_line(first_log, "relay: active")
        second = start(second_log, env, poll)
        wait_line(second_log, "relay: standby")
        time.sleep(poll + random.uniform(0, poll))  # anywhere in its poll cycle
        first.send_signal(how)
        killed_at = time.monotonic()
        active_at = wait_line(second_log, "relay: active")
        first.wait(10)
        return active_at - killed_at
    finally:
        stop(first)
        if second is not None:
            stop(second)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="takeovers measured per signal")
    parser.add_argument("--standby-poll", type=float, default=0.5)
    args = parser.parse_args()

    url = harness.bench_database_url("csu_bench_relay", "BENCH_RELAY_DATABASE_URL")
    harness.ensure_database(url)
    prefix = f"bench-relay-{os.getpid()}"
    env = dict(os.environ, DATABASE_URL=url, DJANGO_SETTINGS_MODULE="config.settings",
               CHANNELS_PREFIX=prefix, CACHE_KEY_PREFIX=prefix, HUB_RELAY_INLINE="0",
               PYTHONUNBUFFERED="1")
    env.pop("DJANGO_DEBUG", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=harness.ROOT, env=env, check=True)

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{args.rounds} rounds per signal, --standby-poll {args.standby_poll}, database {url.rsplit('/', 1)[-1]}")
    with tempfile.TemporaryDirectory(prefix="bench-relay-", dir=harness.ROOT / "var") as tmp:
        for how in (signal.SIGKILL, signal.SIGTERM):
            takeovers = [one_round(Path(tmp), n, env, how, args.standby_poll) * 1000
                         for n in range(args.rounds)]
            s = harness.summary(takeovers)
            print(f"  active relay {how.name}: standby active after p50 {s['p50']:.0f} ms, "
                  f"p95 {s['p95']:.0f} ms, max {s['max']:.0f} ms (target ≤ {TARGET_S * 1000:.0f} ms)",
                  flush=True)


if __name__ == "__main__":
    main()
