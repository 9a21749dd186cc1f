#!/usr/bin/env bash
# `make run`: migrate, load the demo data (idempotent), then the hub's processes by role under
# honcho (docs/deployment.md): HAProxy on HUB_PORT, HUB_API_PROCESSES API and HUB_WS_PROCESSES
# WebSocket processes (Daphne), HUB_VIDEO_PROCESSES video nodes, the relay and its standby, Celery worker
# and beat, the recorder, rsyslog, SeaweedFS (the recordings' object store). Ctrl-C stops them,
# and whatever bootstrap started.
# HUB_TOPOLOGY=single runs one Daphne on HUB_PORT instead of HAProxy and the pools (the
# baseline of benchmarks/radio.py).
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
mkdir -p var/syslog var/log && rm -f var/syslog/rsyslogd.pid
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
# Recordings on SeaweedFS's S3 gateway (Procfile `seaweed`, config/seaweed.py) unless told
# otherwise: HUB_RECORDINGS_STORAGE=local keeps them in var/recordings; an HUB_S3_ENDPOINT given
# names a store of the centre's, and no SeaweedFS is started.
export HUB_RECORDINGS_STORAGE=${HUB_RECORDINGS_STORAGE:-s3}
if [ "$HUB_RECORDINGS_STORAGE" = s3 ] && [ -z "${HUB_S3_ENDPOINT:-}" ]; then
  export HUB_SEAWEED=1 HUB_S3_ENDPOINT="http://127.0.0.1:$((HUB_PORT + 2406))"
  export HUB_S3_BUCKET=${HUB_S3_BUCKET:-recordings}
  export HUB_S3_ACCESS_KEY=${HUB_S3_ACCESS_KEY:-hub} HUB_S3_SECRET_KEY=${HUB_S3_SECRET_KEY:-hub-demo-secret}
fi
export HUB_API_PROCESSES=${HUB_API_PROCESSES:-2} HUB_WS_PROCESSES=${HUB_WS_PROCESSES:-1}
export HUB_VIDEO_PROCESSES=${HUB_VIDEO_PROCESSES:-1}
if [ "${HUB_TOPOLOGY:-pools}" = single ]; then
  # One Daphne relays after commit inside its requests, as before the relay process.
  grep -vE '^(haproxy|api[0-9]+|ws[0-9]+|video[0-9]+|relay|relay_standby|seaweed):' Procfile > var/Procfile
  echo "web: daphne -b ${HUB_BIND} -p ${HUB_PORT} config.asgi:application" >> var/Procfile
  if [ "${HUB_SEAWEED:-0}" = 1 ]; then
    echo "seaweed: python -m config.seaweed serve --dir var/seaweed --base $((HUB_PORT + 2400))" >> var/Procfile
  fi
else
  # The pools see every request from HAProxy: its X-Forwarded-For names the client. The relay
  # process sends the outbox (woken at commit), not the requests.
  export HUB_TRUSTED_PROXIES=${HUB_TRUSTED_PROXIES:-127.0.0.1} HUB_RELAY_INLINE=${HUB_RELAY_INLINE:-0}
  python -m config.topology --procfile var/Procfile --haproxy var/haproxy.cfg
  haproxy -c -q -f var/haproxy.cfg
fi
honcho start -f var/Procfile
