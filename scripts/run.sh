#!/usr/bin/env bash
# `make run`: migrate, load the demo data (idempotent), then Daphne, a Celery worker
# and Celery beat under honcho. Ctrl-C stops them, and whatever bootstrap started.
set -euo pipefail
cd "$(dirname "$0")/.."
source var/env.sh
export HUB_DEMO=${HUB_DEMO:-1}
export HUB_BIND=${HUB_BIND:-127.0.0.1} HUB_PORT=${HUB_PORT:-8000}

# The access journal's anchors go to var/audit/anchors.jsonl and, over TCP, to a syslog server:
# here a local rsyslogd (Procfile `syslog`) writing what it receives to var/syslog/anchors.log
# (python manage.py verify_audit --anchors var/syslog/anchors.log checks against that copy).
HUB_SYSLOG_PORT=${HUB_SYSLOG_PORT:-$((HUB_PORT + 1514))}
export HUB_AUDIT_SYSLOG=${HUB_AUDIT_SYSLOG:-tcp://127.0.0.1:${HUB_SYSLOG_PORT}}
mkdir -p var/syslog && rm -f var/syslog/rsyslogd.pid
cat > var/syslog/rsyslog.conf <<CONF
global(workDirectory="$PWD/var/syslog")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="${HUB_SYSLOG_PORT}" ruleset="anchors")
ruleset(name="anchors") {
  action(type="omfile" file="$PWD/var/syslog/anchors.log" template="RSYSLOG_FileFormat")
}
CONF

stop_started() {
  while read -r what arg; do
    case "$what" in
      redis) [ -f "$arg" ] && kill "$(cat "$arg")" 2>/dev/null && echo "stopped Redis" ;;
      postgresql) pg_ctlcluster --skip-systemctl-redirect "$arg" main stop && echo "stopped PostgreSQL $arg" ;;
    esac
  done < var/started-services || true
}
trap stop_started EXIT

python manage.py migrate --noinput -v0
python manage.py load_demo
# The offline background (docs/map.md): drawn once from the demo communes, so that a machine
# without the Internet (where Plan IGN does not load) still shows a map. A centre's own
# basemap is set with HUB_MAP_PMTILES before `make run`.
export HUB_MAP_PMTILES=${HUB_MAP_PMTILES-var/basemap/territory.pmtiles}
if [ -n "$HUB_MAP_PMTILES" ]; then python manage.py make_basemap "$HUB_MAP_PMTILES" --if-missing; fi
python manage.py collectstatic --noinput -v0
python manage.py demo_accounts --url "http://${HUB_BIND}:${HUB_PORT}/"
python manage.py export_key --url "http://${HUB_BIND}:${HUB_PORT}/"
honcho start -f Procfile
