#!/usr/bin/env bash
# The clock run (CI, after `make test`): the date-sensitive modules again, each test started at
# moments where one that takes the hour for granted breaks (pytest's --clock, tests/conftest.py):
#
# - 2026-10-25 02:59 CEST: the first 02:59 of the autumn change's night (in a minute, 03:00 CEST
#   becomes 02:00 CET and the hour repeats): "three hours ago" is yesterday (the register's
#   recordings were split over two days at this hour: three tests failed around 03:00), and the
#   local time is ambiguous (the admin refuses such a date). The repeated hour itself, where "an
#   hour ago" reads the same on a wall clock, has its own test at a fixed moment
#   (test_requisition_api.py, a window over it).
# - 2026-12-31 23:59 CET: the last minute of a day, a month and a year: "in an hour" is
#   tomorrow, next month, next year (incident and alert references, statistics per month and per
#   year, authorisations and habilitations valid "until today", grants stopping at midnight).
# - 2027-03-01 00:30 CET: the first half hour of a month, when the UTC date is still the day
#   before (28 February): a date taken in UTC instead of Paris time is wrong by a day and a month.
#
# How: time-machine moves the wall clock of the test process (time.time, datetime.now, so
# timezone.now) to the moment at the start of each module and of each test, and lets it tick;
# TZ is Europe/Paris as in production. Not libfaketime (`faketime`): with Python 3.11 it either
# hangs every timed wait (threading.Event.wait(0.2) never returns: the deadline is taken on the
# moved monotonic clock, the wait on the real one) or, with --exclude-monotonic, makes every
# time.sleep() fail with EINVAL (libfaketime 0.9.10). Neither moves PostgreSQL's now(): the hub
# stamps its rows from Python (auto_now, timezone.now()), and a test that compares with the
# database's clock must derive its times.
#
# The modules, not the browser ones (their Daphne and Chromium do not share the moved clock and
# take most of the time), those whose code works with days, months, years and "until today":
# - streaming/test_register.py: recordings grouped per local day, since/until, stats per month;
# - streaming/test_grants.py: grants stopping at the authorisation's midnight, authorisations and
#   habilitations valid "until today";
# - streaming/test_retention.py, test_retention_exports.py: retention counted in local days;
#   recordings/test_retention_strays.py: the store's keys name UTC days (its SeaweedFS half is
#   skipped there);
# - streaming/test_requisitions.py, test_requisition_api.py: windows in the past (the repeated
#   hour of the autumn change), holds, the retention a requisition is checked against;
# - incidents/test_alerts.py, test_services.py: references CSU-<year>- / CRF-<year>-, alert
#   statistics per month of a year, the main courante's times;
# - cameras/test_selectors.py: authorisations in force on a day, their end dates;
# - partners/test_access_matrix.py: the admin's date fields, the second factor (TOTP codes
#   follow the clock), the login lockout; partners/test_api.py: token expiry.
# Left out: the access matrix's 700 cells (-k; rights, not dates: the clock run would triple
# their minute) and cameras/test_admin.py (the admin's lists over the registry at real scale, a
# third of this run's time; its filter "authorisation in force" is the selectors' one).
#
# `scripts/test-clock.sh [pytest args]`; CLOCK_MOMENTS overrides the moments (one per line).
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
export CACHE_KEY_PREFIX="csu-clock-$$" CHANNELS_PREFIX="csu-clock-$$" TZ=Europe/Paris

modules=(
    tests/recordings/test_register.py
    tests/streaming/test_grants.py
    tests/recordings/test_retention.py
    tests/recordings/test_retention_exports.py
    tests/recordings/test_retention_strays.py
    tests/recordings/test_requisitions.py
    tests/recordings/test_requisition_api.py
    tests/incidents/test_alerts.py
    tests/incidents/test_services.py
    tests/cameras/test_selectors.py
    tests/partners/test_access_matrix.py
    tests/partners/test_api.py
)
moments=${CLOCK_MOMENTS:-$'2026-10-25T02:59:00+02:00\n2026-12-31T23:59:00+01:00\n2027-03-01T00:30:00+01:00'}
jobs=${TEST_JOBS:-$(nproc)}
parallel=()
if [ "$jobs" != 0 ]; then parallel=(-n "$jobs" --dist loadfile --no-loadscope-reorder); fi
# One session per moment; the first creates the test databases afresh, the next ones reuse them
# (the schema does not depend on the hour); the suite's next run replaces them.
reuse=(--reuse-db --create-db)
while IFS= read -r moment; do
    [ -n "$moment" ] || continue
    echo "== clock run: every module and test starts at $moment"
    python -m pytest "${parallel[@]}" "${reuse[@]}" -q -p no:cacheprovider --clock "$moment" \
        -k "not test_cell" "${modules[@]}" "$@"
    reuse=(--reuse-db)
done <<< "$moments"
