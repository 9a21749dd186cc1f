#!/usr/bin/env bash
# `make test`: the whole suite against real PostgreSQL/PostGIS and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
exec python -m pytest "$@"
