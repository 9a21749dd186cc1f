#!/usr/bin/env python
"""How long the test suite (or part of it) takes with N xdist workers: wall time, and the CPU
time the test processes and everything they started used (the children's user + sys).

Run from the repository root::

    python benchmarks/suite.py --jobs 2 3 4 -- tests/e2e      # the browser tests, three ways
    python benchmarks/suite.py --jobs 4                        # the whole suite once
    python benchmarks/suite.py --jobs 2 --log var/suite -- tests/e2e --durations=30   # and keep

Each run is ``scripts/test.sh -q -p no:cacheprovider [pytest args]`` with ``TEST_JOBS=N``, one
after the other. It prints, per run: the workers, the wall time, the CPU time, how much of the
two cores that is (CPU ÷ wall ÷ cores: the rest of the time the tests wait: servers starting,
browsers, sleeps, leases), pytest's summary line and the load average before and after
(``/proc/loadavg``: other sessions' work on the same machine moves wall times a lot; compare
runs made in the same minutes). It never asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run(jobs: int, pytest_args: list[str], log: Path | None) -> None:
    before_load = load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    answer = subprocess.run(["bash", "scripts/test.sh", "-q", "-p", "no:cacheprovider", *pytest_args],
                            cwd=ROOT, env={**os.environ, "TEST_JOBS": str(jobs)},
                            capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log is not None:
        log.mkdir(parents=True, exist_ok=True)
        (log / f"workers-{jobs}.txt").write_text(answer.stdout + answer.stderr)
    lines = [line for line in answer.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else "(no output)"
    print(f"workers {jobs}: wall {wall:7.1f} s, CPU {cpu:7.1f} s "
          f"({cpu / wall / (os.cpu_count() or 1):.0%} of {os.cpu_count()} cores), "
          f"load {before_load} → {load()}, exit {answer.returncode}: {summary}", flush=True)
    if answer.returncode != 0:
        print("\n".join(lines[-40:]), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[os.cpu_count() or 1],
                        help="worker counts to run, one run each (0: no xdist)")
    parser.add_argument("--log", type=Path, help="write each run's pytest output to LOG/workers-N.txt")
    parser.add_argument("pytest_args", nargs="*", help="after --: what to run (default: the whole suite)")
    options = parser.parse_args()
    for jobs in options.jobs:
        run(jobs, options.pytest_args, options.log)


if __name__ == "__main__":
    main()
