#!/usr/bin/env bash
# Sets up everything the hub needs on a Debian or Ubuntu machine, and nothing twice:
# system packages it lacks, PostgreSQL with PostGIS and Redis (reused when they
# answer, started otherwise, unless DATABASE_URL / REDIS_URL point elsewhere), the
# virtualenv, the Python packages (pinned by constraints.txt), the database and
# its PostGIS extension, Node.js and the pinned TypeScript checker (package-lock.json).
# Writes var/env.sh for the other scripts.
#
# BOOTSTRAP_TEST=1 also installs what the test suite drives: Chromium, faketime,
# GStreamer's RTSP server, rsyslog (the tests start their own rsyslogd), and ffmpeg (the
# RTSP server of ipycam, the virtual ONVIF PTZ camera).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var var/static
log() { printf '\033[1;34m[bootstrap]\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "missing system packages (${missing[*]}) and no apt-get: install them by hand"; exit 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"; $SUDO apt-get update -qq; APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# What this script starts is listed here, so that `make run` stops it on exit.
: > var/started-services

# --- GDAL / GEOS / PROJ for GeoDjango, and the Python to build the virtualenv with.
apt_install gdal-bin libgeos-dev proj-bin ca-certificates
# rsyslog: `make run` starts one (as a plain process, not the system daemon) that keeps a copy
# of the access journal's anchors, as the centre's syslog server does in production.
apt_install rsyslog
# HAProxy: `make run` puts it on the public port in front of the API and WebSocket pools (as a
# plain process with its config under var/, not the system service); the scale-out test too.
apt_install haproxy
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys, venv; assert sys.version_info >= (3, 11)' 2>/dev/null; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then apt_install python3 python3-venv python3-dev; PYTHON=python3; fi
"$PYTHON" -c 'import ensurepip' 2>/dev/null || apt_install python3-venv

# --- PostgreSQL.
if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/csu_hub"
  if ! port_open 127.0.0.1 5432; then
    if ! command -v pg_lsclusters >/dev/null; then apt_install postgresql; fi
    cluster_version=$(pg_lsclusters -h | awk 'NR==1 {print $1}')
    if [ -z "$cluster_version" ]; then
      log "creating a PostgreSQL cluster"
      version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
      $SUDO pg_createcluster "$version" main >/dev/null
      cluster_version=$version
    fi
    log "starting PostgreSQL $cluster_version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
    echo "postgresql $cluster_version" >> var/started-services
    for _ in $(seq 1 30); do port_open 127.0.0.1 5432 && break; sleep 0.5; done
    # A fresh cluster knows no password for postgres: trust local TCP connections.
    hba=/etc/postgresql/$cluster_version/main/pg_hba.conf
    if ! psql -h 127.0.0.1 -U postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
      log "allowing local trust authentication in $hba"
      $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main reload
    fi
  fi
fi

# --- Redis.
if [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="redis://127.0.0.1:6379/0"
  if ! port_open 127.0.0.1 6379; then
    command -v redis-server >/dev/null || apt_install redis-server
    log "starting Redis"
    mkdir -p var/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log" --pidfile "$PWD/var/redis/redis.pid"
    echo "redis $PWD/var/redis/redis.pid" >> var/started-services
    for _ in $(seq 1 30); do port_open 127.0.0.1 6379 && break; sleep 0.2; done
  fi
fi

# --- Test tools.
if [ "${BOOTSTRAP_TEST:-0}" = 1 ]; then
  apt_install chromium chromium-l10n fonts-dejavu-core python3-gi gir1.2-gst-rtsp-server-1.0 rsyslog \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
    gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools faketime ffmpeg
fi

# --- Virtualenv and Python packages, reinstalled only when the pins change.
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
stamp=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$stamp" ]; then
  log "installing Python packages (constraints.txt)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -c constraints.txt ".[dev]" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  "$VENV/bin/python" -c "import django, channels, rest_framework, psycopg, celery" \
    || { log "the Python install failed"; exit 1; }
  echo "$stamp" > "$VENV/.installed"
fi

# --- Node.js and the TypeScript checker (`make lint` type-checks static/js with tsc; nothing is
# built: the pages load the modules as they are), reinstalled only when the lock changes.
command -v npm >/dev/null || apt_install nodejs npm
node_stamp=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
if [ "$(cat node_modules/.installed 2>/dev/null)" != "$node_stamp" ]; then
  log "installing the Node packages (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_stamp" > node_modules/.installed
fi

cat > var/env.sh <<ENV
export DATABASE_URL='${DATABASE_URL}'
export REDIS_URL='${REDIS_URL}'
export DJANGO_SETTINGS_MODULE=config.settings
export PATH="$PWD/$VENV/bin:\$PATH"
ENV

# --- The French catalogue: the pages and errors speak French only once it is compiled.
command -v msgfmt >/dev/null || apt_install gettext
( source var/env.sh && "$VENV/bin/python" manage.py compilemessages -l fr --ignore "$VENV" --ignore var -v0 )

# --- PostGIS: the extension package of the running server's major version.
read -r pg_major pg_local < <("$VENV/bin/python" scripts/dbsetup.py --server-info)
if [ "$pg_local" = "local" ]; then
  apt_install "postgresql-${pg_major}-postgis-3"
fi
"$VENV/bin/python" scripts/dbsetup.py --ensure
log "ready (PostgreSQL ${pg_major}, $(redis-cli -u "$REDIS_URL" ping 2>/dev/null || echo 'redis'))"
