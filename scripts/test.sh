#!/usr/bin/env bash
# `make test`: the whole suite against real PostgreSQL/PostGIS and Redis, on every core.
#
# pytest-xdist runs TEST_JOBS workers (default: the number of cores; TEST_JOBS=0 runs in
# this process alone). Each worker has its own test database, Redis prefixes and files
# (tests/conftest.py). `--dist loadfile` keeps a test module on one worker, so that a
# module's Daphne and Chromium (tests/e2e/conftest.py) start once.
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
# Keys of a test run never mix with those of a running hub on the same Redis.
export CACHE_KEY_PREFIX="csu-test-$$" CHANNELS_PREFIX="csu-test-$$"
jobs=${TEST_JOBS:-$(nproc)}
parallel=()
if [ "$jobs" != 0 ]; then parallel=(-n "$jobs" --dist loadfile --no-loadscope-reorder); fi
exec python -m pytest "${parallel[@]}" "$@"
