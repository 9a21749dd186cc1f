#!/usr/bin/env bash
# The clock run (CI, after `make test`): the date-sensitive modules again, with this process's
# clock moved (libfaketime, `faketime`, installed by the bootstrap) to moments where a test that
# takes the hour for granted breaks. Europe/Paris, the hub's TIME_ZONE:
#
# - 2026-10-25 02:59 — the night of the autumn change (03:00 CEST became 02:00 CET an hour ago):
#   "three hours ago" is yesterday, on a day of 25 hours; the local date is not the UTC one's
#   hour plus one.
# - 2026-12-31 23:59 — the last minute of a day, a month and a year: "in an hour" is tomorrow,
#   next month, next year (incident and alert references, statistics per month and per year,
#   authorisations and habilitations valid "until today", grants stopping at midnight).
#
# Only the wall clock moves: with the monotonic clock moved too, Python's timed waits
# (threading.Event.wait, which waits on the real monotonic clock for a deadline computed from the
# moved one) never end. The clock keeps running from there (a run lasts well under a minute per moment, so the second
# one stays before midnight). libfaketime moves the Python processes' clock only, not
# PostgreSQL's now(): the hub stamps rows from Python (auto_now, timezone.now()), and a test
# that would compare the two must derive its times instead.
#
# The modules (not the browser ones, which start Daphne and Chromium: too slow for this budget
# of 90 s on 2 cores, and they assert what the page shows, computed from the same services):
# - streaming/test_register.py: recordings grouped per local day, since/until, stats per month;
# - streaming/test_grants.py: grants stopping at the authorisation's midnight, habilitations
#   and authorisations valid "until today";
# - streaming/test_retention.py, test_snapshots.py: retention counted in local days;
# - streaming/test_requisitions.py, test_requisition_api.py: windows in the past, holds, the
#   retention a requisition is checked against;
# - incidents/test_alerts.py, test_services.py: references CSU-<year>- / CRF-<year>-, statistics
#   per month of a year;
# - cameras/test_selectors.py, test_admin.py, test_api.py: authorisations in force on a day;
# - partners/test_api.py: token expiry; test_french.py: dates written in French.
#
# `scripts/test-clock.sh [pytest args]`; CLOCK_MOMENTS overrides the moments (one per line).
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
export CACHE_KEY_PREFIX="csu-clock-$$" CHANNELS_PREFIX="csu-clock-$$"
command -v faketime >/dev/null || { echo "faketime is missing (apt install faketime)" >&2; exit 1; }

modules=(
    tests/streaming/test_register.py
    tests/streaming/test_grants.py
    tests/streaming/test_retention.py
    tests/streaming/test_snapshots.py
    tests/streaming/test_requisitions.py
    tests/streaming/test_requisition_api.py
    tests/incidents/test_alerts.py
    tests/incidents/test_services.py
    tests/cameras/test_selectors.py
    tests/cameras/test_admin.py
    tests/cameras/test_api.py
    tests/partners/test_api.py
    tests/test_french.py
)
moments=${CLOCK_MOMENTS:-$'2026-10-25 02:59:00\n2026-12-31 23:59:00'}
jobs=${TEST_JOBS:-$(nproc)}
parallel=()
if [ "$jobs" != 0 ]; then parallel=(-n "$jobs" --dist loadfile); fi
# The first moment creates the test databases, the next ones reuse them (migrations are the
# same whatever the hour).
reuse=(--reuse-db --create-db)
while IFS= read -r moment; do
    [ -n "$moment" ] || continue
    echo "== clock run at $moment, Europe/Paris"
    TZ=Europe/Paris faketime -m --exclude-monotonic "$moment" \
        python -m pytest "${parallel[@]}" "${reuse[@]}" -q -p no:cacheprovider "${modules[@]}" "$@"
    reuse=(--reuse-db)
done <<< "$moments"
