#!/usr/bin/env bash
# `make test`: the whole suite against real PostgreSQL/PostGIS and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
# Keys of a test run never mix with those of a running hub on the same Redis.
export CACHE_KEY_PREFIX="csu-test-$$" CHANNELS_PREFIX="csu-test-$$"
exec python -m pytest "$@"
