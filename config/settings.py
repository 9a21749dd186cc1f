"""Settings of the hub, read from the environment (one module, twelve-factor style).

Development and demo defaults are safe to run on one machine; production is
switched on with ``HUB_PRODUCTION=1`` and then requires a real secret key and
the allowed hosts (see README.md, "Production settings").
"""

from __future__ import annotations

import os
from ipaddress import ip_network
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import ConnectionError as RedisConnectionError

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Turn ``postgres://user:pass@host:port/name?opt=val`` into a Django DATABASES entry."""
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql", "postgis"}:
        raise ImproperlyConfigured(f"DATABASE_URL must be a PostgreSQL URL, got {parsed.scheme!r}")
    options = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    return {
        "ENGINE": "django.contrib.gis.db.backends.postgis",
        "NAME": unquote(parsed.path.lstrip("/")) or "csu_hub",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # A connection pool (psycopg_pool): a new PostgreSQL connection per request, and
        # PostGIS loading into it, cost more than most requests (benchmarks/incidents.py).
        "OPTIONS": {**options, **({"pool": {"min_size": env_int("DB_POOL_MIN", 2),
                                             "max_size": env_int("DB_POOL_MAX", 20),
                                             "timeout": 10}}
                                  if env_bool("DB_POOL", True) else {})},
        "CONN_MAX_AGE": 0,
        "TEST": {"NAME": os.environ.get("TEST_DATABASE_NAME") or None},
    }


PRODUCTION = env_bool("HUB_PRODUCTION")
DEBUG = env_bool("DJANGO_DEBUG", default=False)
# Demo mode: demo accounts and relaxed second factor; never with HUB_PRODUCTION.
DEMO_MODE = env_bool("HUB_DEMO", default=not PRODUCTION)
if PRODUCTION and DEMO_MODE:
    raise ImproperlyConfigured("HUB_DEMO cannot be set together with HUB_PRODUCTION")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required in production")
    SECRET_KEY = "insecure-development-key-only-for-a-local-demo-" + "x" * 20

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Pages that may open /ws/events/ besides the hub's own origin (as the browser reached it):
# scheme, host and port, e.g. https://csu.example.org behind a TLS proxy. In production, by
# default, https:// on each allowed host (docs/security.md, "WebSocket origin").
HUB_ALLOWED_ORIGINS = env_list(
    "HUB_ALLOWED_ORIGINS",
    [f"https://{host}" for host in ALLOWED_HOSTS if host != "*" and not host.startswith(".")]
    if PRODUCTION else [])
for _origin in HUB_ALLOWED_ORIGINS:
    _parts = urlparse(_origin)
    if _parts.scheme not in {"http", "https"} or not _parts.hostname or _parts.path not in {"", "/"}:
        raise ImproperlyConfigured(f"HUB_ALLOWED_ORIGINS: {_origin!r} is not scheme://host[:port]")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    # Our apps: imports point down this list, never up (docs/architecture.md).
    "geo",
    "partners",
    "realtime",
    "cameras",
    "incidents",
    "streaming",
    "recordings",
    "ptz",
    "demo",
]

MIDDLEWARE = [
    # First: counts and times every answer by route for /metrics (config/metrics.py).
    "config.metrics.RequestMetrics",
    "partners.middleware.ForwardedProtoMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security.SecurityHeadersMiddleware",
    # Early, so that its JSON answers also replace the errors of the middleware below it.
    "config.errors.ApiErrorMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "partners.middleware.SessionPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.navigation.menu",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/csu_hub")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "csu"),
    }
}

# pubsub (channels_redis' RedisPubSubChannelLayer, made to survive a Redis restart by
# realtime.layers) or core (RedisChannelLayer): benchmarks/fanout.py compares them, and
# tests/realtime/test_redis_restart.py runs under both.
_LAYERS = {"core": "channels_redis.core.RedisChannelLayer",
           "pubsub": "realtime.layers.PubSubChannelLayer"}
HUB_CHANNEL_LAYER = os.environ.get("HUB_CHANNEL_LAYER", "pubsub")
CHANNEL_LAYERS: dict[str, dict] = {
    "default": {
        "BACKEND": _LAYERS[HUB_CHANNEL_LAYER],
        # A connection that Redis closed (a restart) is noticed and replaced rather than
        # failing the next WebSocket handshake.
        # socket_timeout above the core layer's 5 s blocking pop: an idle consumer must not
        # time out (redis-py reads with a 5 s timeout by default).
        # max_connections: redis-py's asyncio pool stops at 100, fewer than the sockets of a
        # busy hub leaving or joining at once (benchmarks/radio.py).
        "CONFIG": {"hosts": [{"address": REDIS_URL, "health_check_interval": 5, "socket_timeout": 15,
                              "max_connections": env_int("HUB_REDIS_MAX_CONNECTIONS", 1000),
                              "retry_on_error": [RedisConnectionError, ConnectionError]}],
                   "prefix": os.environ.get("CHANNELS_PREFIX", "csu")},
    }
}
# A consumer that falls behind loses messages past this bound instead of growing Redis (core)
# or its process's memory (pubsub: per socket); it refills the gap from the outbox.
CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = 1000
if HUB_CHANNEL_LAYER == "core":
    CHANNEL_LAYERS["default"]["CONFIG"].update({"expiry": 60, "group_expiry": 86400})

# Relay the outbox inside the request after commit (one process, tests), or leave it to the
# `manage.py relay` process woken by NOTIFY (`make run`: the API and WebSocket pools set 0).
HUB_RELAY_INLINE = env_bool("HUB_RELAY_INLINE", True)

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Europe/Paris"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
CELERY_BEAT_SCHEDULE: dict = {
    "realtime-relay": {"task": "realtime.relay", "schedule": 5.0},
    "realtime-prune-outbox": {"task": "realtime.prune_outbox", "schedule": 3600.0},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Where sign-in sends a member: their desk (the first page of their role, config/navigation.py).
HUB_LANDING = "config.navigation.desk_url"

LANGUAGE_CODE = "fr-fr"
# French only: a browser that asks for English (Accept-Language) still reads French pages and
# errors; the English msgids in the code are for developers, not for the people on shift.
LANGUAGES = [("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "partners.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["config.parsers.BoundedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CSUi — hub de coordination des incidents",
    "DESCRIPTION": "API of the intercommunal video-surveillance centre's coordination hub.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema describes every endpoint: signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from our own static files: control rooms run on closed networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation also declares the error statuses of the one error path (config/openapi.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "config.openapi.add_error_responses"],
    # Named once and for all: an enum's name would otherwise follow which other components
    # have a field of the same name (a camera's ``kind`` and a journal line's, a radio message's
    # ``priority`` and an incident's).
    "ENUM_NAME_OVERRIDES": {"CameraOutputKindEnum": "cameras.choices.CameraKind",
                            "RadioMessageSendPriorityEnum": "incidents.choices.RadioPriority",
                            # The events that announce an alarm in force (GET /api/alarms/).
                            "AlarmTypeEnum": [("camera.unrecorded", "camera.unrecorded"),
                                              ("storage.unavailable", "storage.unavailable"),
                                              ("node.lost", "node.lost")]},
}

# Hub settings.
HUB_API_TOKEN_TTL_HOURS = env_int("HUB_API_TOKEN_TTL_HOURS", 12)
# Seconds a bearer token's lookup (token → account → member) is kept in the cache; 0: not cached.
# Revocations and changes of accounts, members and tokens invalidate it at once (partners.selectors).
HUB_TOKEN_CACHE_SECONDS = env_int("HUB_TOKEN_CACHE_SECONDS", 30)
# A bounding box wider or taller than this (degrees) is refused: the service
# area is about 12 km across, a box of a whole country is a client bug.
HUB_MAX_BBOX_DEGREES = float(os.environ.get("HUB_MAX_BBOX_DEGREES", "1.0"))
HUB_DEFAULT_RETENTION_DAYS = env_int("HUB_DEFAULT_RETENTION_DAYS", 14)
HUB_OUTBOX_RETENTION_DAYS = env_int("HUB_OUTBOX_RETENTION_DAYS", 7)
# Request bodies (docs/security.md, "Size and depth limits"): HUB_MAX_BODY_BYTES unless the
# path matches one of HUB_BODY_LIMITS (first match). Past it: 413, before the body is read.
HUB_MAX_BODY_BYTES = env_int("HUB_MAX_BODY_BYTES", 256 * 1024)
HUB_BODY_LIMITS: list[tuple[str, int]] = [
    # Privacy masks are polygons drawn point by point.
    (r"^/api/cameras/\d+/masks/$", 1024 * 1024),
    # The view itself answers 400 bad_offer past 64 KiB, naming the offer's limit.
    (r"^/api/streaming/cameras/\d+/whep$", 1024 * 1024),
    # Admin forms carry geometries (commune boundaries, camera fields of view).
    (r"^/admin/", 2_621_440),
]
# Arrays and objects nested deeper than this in a JSON body: 400 before decoding.
HUB_JSON_MAX_DEPTH = env_int("HUB_JSON_MAX_DEPTH", 32)
HUB_WS_HEARTBEAT_SECONDS = float(os.environ.get("HUB_WS_HEARTBEAT_SECONDS", "25"))
HUB_WS_MAX_FRAME_BYTES = env_int("HUB_WS_MAX_FRAME_BYTES", 16384)
HUB_WS_MAX_UNACKED = env_int("HUB_WS_MAX_UNACKED", 5000)
HUB_MAX_RETENTION_DAYS = 30  # Code de la sécurité intérieure, L252-5: at most one month.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Asked over plain HTTP on the processes' own ports, never by a browser: HAProxy's health
    # checks and Prometheus (docs/deployment.md). A redirect would mark every process down.
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|metrics)$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# gis.W001: GDAL older than 3.9 (Debian 12 ships 3.6) cannot block file and network
# access from spatial references. The hub never hands GDAL a spatial reference or
# a file from outside: imported GeoJSON is parsed as JSON first and only each
# feature's bare geometry object (no "crs" member) reaches GDAL.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Sign-in. MFA is required for partner agents, supervisors and admins;
# HUB_DEMO_RELAX_MFA=1 lifts it in demo mode only.
HUB_DEMO_RELAX_MFA = DEMO_MODE and env_bool("HUB_DEMO_RELAX_MFA", default=False)
HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
HUB_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("HUB_LOGIN_MAX_FAILURES_PER_ADDRESS", 30)
HUB_LOGIN_LOCK_MINUTES = env_int("HUB_LOGIN_LOCK_MINUTES", 15)
# The reverse proxies (addresses or networks, comma separated) whose X-Forwarded-For entries
# are believed: the client is the rightmost entry none of them wrote. Empty: the header is
# ignored and the client is the peer (docs/security.md, "Client address").
HUB_TRUSTED_PROXIES = env_list("HUB_TRUSTED_PROXIES", [])
for _proxy in HUB_TRUSTED_PROXIES:
    try:
        ip_network(_proxy, strict=False)
    except ValueError as _error:
        raise ImproperlyConfigured(
            f"HUB_TRUSTED_PROXIES: {_proxy!r} is not an address or a network") from _error
# /metrics (docs/deployment.md, "Supervision"): read from loopback and HUB_TRUSTED_PROXIES, or
# by anyone presenting "Authorization: Bearer <HUB_METRICS_TOKEN>" (empty: no token is accepted).
HUB_METRICS_TOKEN = os.environ.get("HUB_METRICS_TOKEN", "")
if PRODUCTION and HUB_METRICS_TOKEN and len(HUB_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("HUB_METRICS_TOKEN must be at least 32 characters in production")
HUB_SESSION_IDLE_MINUTES = env_int("HUB_SESSION_IDLE_MINUTES", 30)
HUB_SESSION_MAX_HOURS = env_int("HUB_SESSION_MAX_HOURS", 12)
SESSION_COOKIE_AGE = HUB_SESSION_MAX_HOURS * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
HUB_GRANT_DEFAULT_MINUTES = env_int("HUB_GRANT_DEFAULT_MINUTES", 30)
HUB_GRANT_MAX_MINUTES = env_int("HUB_GRANT_MAX_MINUTES", 240)
# Grants that ended by themselves are announced to their screens within this beat.
CELERY_BEAT_SCHEDULE["streaming-grants-end"] = {"task": "streaming.grants_end_sweep", "schedule": 5.0}

# Video (docs/video.md): live feeds over WebRTC (WHEP), one pipeline per camera.
from json import loads as _json_loads  # noqa: E402

# ICE servers handed to both ends, as JSON: [{"urls": ["stun:…"]}, {"urls": "turn:…",
# "username": "…", "credential": "…"}]. Empty by default: host candidates only, no STUN
# server on the Internet is ever asked (aiortc would otherwise ask Google's).
HUB_WEBRTC_ICE_SERVERS = _json_loads(os.environ.get("HUB_WEBRTC_ICE_SERVERS") or "[]")
# The addresses our ICE candidates are gathered on (a multi-homed server exposes only its
# video interface); empty: every interface but loopback, as aioice does.
HUB_WEBRTC_HOST_ADDRESSES = env_list("HUB_WEBRTC_HOST_ADDRESSES", [])
# Viewers at once in one process (each costs a peer connection and its encryption), and
# offers being answered at once (ICE gathering, waiting for a source): beyond, 503.
HUB_VIDEO_MAX_VIEWERS = env_int("HUB_VIDEO_MAX_VIEWERS", 64)
HUB_VIDEO_MAX_PENDING_OFFERS = env_int("HUB_VIDEO_MAX_PENDING_OFFERS", 16)
# A camera's source stays open this long after its last viewer left (a viewer that
# reloads the page finds it warm).
HUB_VIDEO_LINGER_SECONDS = float(os.environ.get("HUB_VIDEO_LINGER_SECONDS", "10"))
# How long an offer waits for the camera's source before answering 503.
HUB_VIDEO_START_TIMEOUT_SECONDS = float(os.environ.get("HUB_VIDEO_START_TIMEOUT_SECONDS", "5"))
# A viewer that sends no RTCP this long (it vanished without hanging up) is cut.
HUB_VIDEO_PEER_TIMEOUT_SECONDS = float(os.environ.get("HUB_VIDEO_PEER_TIMEOUT_SECONDS", "15"))
# Rights of every viewer are checked again this often (a revoked grant cuts within a second).
HUB_VIDEO_WATCHDOG_SECONDS = float(os.environ.get("HUB_VIDEO_WATCHDOG_SECONDS", "0.25"))
HUB_VIDEO_SYNTHETIC_SIZE = os.environ.get("HUB_VIDEO_SYNTHETIC_SIZE", "1280x720")
HUB_VIDEO_SYNTHETIC_FPS = env_int("HUB_VIDEO_SYNTHETIC_FPS", 25)
HUB_VIDEO_BITRATE = env_int("HUB_VIDEO_BITRATE", 2_500_000)
HUB_VIDEO_KEYFRAME_SECONDS = float(os.environ.get("HUB_VIDEO_KEYFRAME_SECONDS", "2"))
HUB_VIDEO_ENCODER_THREADS = env_int("HUB_VIDEO_ENCODER_THREADS", 1)
HUB_VIDEO_RTSP_TIMEOUT_SECONDS = float(os.environ.get("HUB_VIDEO_RTSP_TIMEOUT_SECONDS", "3"))
HUB_VIDEO_RECONNECT_MIN_SECONDS = float(os.environ.get("HUB_VIDEO_RECONNECT_MIN_SECONDS", "0.5"))
HUB_VIDEO_RECONNECT_MAX_SECONDS = float(os.environ.get("HUB_VIDEO_RECONNECT_MAX_SECONDS", "10"))
# A supervisor lifts a liftable privacy mask for at most this long.
HUB_MASK_LIFT_MAX_MINUTES = env_int("HUB_MASK_LIFT_MAX_MINUTES", 60)
# Radio traffic, field units and Croix-Rouge alerts.
HUB_CENTRE_CALLSIGN = os.environ.get("HUB_CENTRE_CALLSIGN", "CSU")
# An unacknowledged urgent or flash message is re-sent after this many seconds,
# HUB_RADIO_RESENDS times, then escalated to the supervisors after the same delay.
HUB_RADIO_ACK_SECONDS = {"routine": 600, "urgent": env_int("HUB_RADIO_URGENT_ACK_SECONDS", 60),
                         "flash": env_int("HUB_RADIO_FLASH_ACK_SECONDS", 30)}
HUB_RADIO_RESENDS = env_int("HUB_RADIO_RESENDS", 2)
# Same for a Croix-Rouge alert nobody acknowledged.
HUB_ALERT_ACK_SECONDS = env_int("HUB_ALERT_ACK_SECONDS", 120)
HUB_ALERT_RESENDS = env_int("HUB_ALERT_RESENDS", 2)
# A position report implying a faster move from the neighbouring fixes is refused.
HUB_UNIT_MAX_SPEED_KMH = env_int("HUB_UNIT_MAX_SPEED_KMH", 200)
CELERY_BEAT_SCHEDULE.update({
    "incidents-radio-follow-up": {"task": "incidents.radio_follow_up", "schedule": 5.0},
    "incidents-alert-follow-up": {"task": "incidents.alert_follow_up", "schedule": 5.0},
})

# Recordings, retention and judicial requisitions (docs/recordings.md).
HUB_RECORDINGS_DIR = Path(os.environ.get("HUB_RECORDINGS_DIR", BASE_DIR / "var/recordings"))
HUB_EXPORTS_DIR = Path(os.environ.get("HUB_EXPORTS_DIR", BASE_DIR / "var/exports"))
HUB_SIGNING_KEY_PATH = Path(os.environ.get("HUB_SIGNING_KEY_PATH", BASE_DIR / "var/keys/hub-ed25519.pem"))
HUB_RECORDING_SEGMENT_SECONDS = env_int("HUB_RECORDING_SEGMENT_SECONDS", 60)
# Leave this much free on the recordings' disk: below it the recorder stops (and says so).
HUB_RECORDING_MIN_FREE_BYTES = env_int("HUB_RECORDING_MIN_FREE_BYTES", 512 * 1024 * 1024)
HUB_RETENTION_MAX_DAYS = HUB_MAX_RETENTION_DAYS  # by law (CSI, L252-5): never more
HUB_REQUISITION_MAX_WINDOW_HOURS = env_int("HUB_REQUISITION_MAX_WINDOW_HOURS", 24)
# Where segments and snapshots are kept (recordings/storage.py): ``local`` (HUB_RECORDINGS_DIR) or
# ``s3`` (an S3-compatible object store; HUB_RECORDINGS_DIR is then the recorder's buffer).
HUB_RECORDINGS_STORAGE = os.environ.get("HUB_RECORDINGS_STORAGE", "local")
if HUB_RECORDINGS_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"HUB_RECORDINGS_STORAGE must be local or s3, got {HUB_RECORDINGS_STORAGE!r}")
HUB_S3_ENDPOINT = os.environ.get("HUB_S3_ENDPOINT", "")
HUB_S3_BUCKET = os.environ.get("HUB_S3_BUCKET", "recordings")
HUB_S3_ACCESS_KEY = os.environ.get("HUB_S3_ACCESS_KEY", "")
HUB_S3_SECRET_KEY = os.environ.get("HUB_S3_SECRET_KEY", "")
HUB_S3_REGION = os.environ.get("HUB_S3_REGION", "us-east-1")
CELERY_BEAT_SCHEDULE.update({
    "streaming-retention-sweep": {"task": "streaming.retention_sweep", "schedule": 300.0},
})
# Recorder nodes (streaming/nodes.py): a node renews its leases every HUB_NODE_RENEW_SECONDS; one
# that has not renewed for HUB_NODE_LEASE_SECONDS is lost and its cameras go to the others. A
# camera with a plan that no live node has held for HUB_NODE_ALARM_SECONDS raises the alarm.
# 6 s / 2 s: a killed node's cameras are recorded again within 10 s (takeover ≈ lease + one renewal
# + the RTSP open; benchmarks/cluster.py: p95 9.0 s, against 13.1 s with 10 s / 3 s).
HUB_NODE_LEASE_SECONDS = float(os.environ.get("HUB_NODE_LEASE_SECONDS", "6"))
HUB_NODE_RENEW_SECONDS = float(os.environ.get("HUB_NODE_RENEW_SECONDS", "2"))
HUB_NODE_ALARM_SECONDS = float(os.environ.get("HUB_NODE_ALARM_SECONDS", "20"))
CELERY_BEAT_SCHEDULE.update({
    "streaming-nodes-check": {"task": "streaming.nodes_check", "schedule": 5.0},
})
# Video nodes (streaming/video_nodes.py): the name of the video node this process is. Set by
# `manage.py video --node NAME`, which runs Daphne in the same process; empty for any other
# process, which serves every WHEP offer it gets itself (one video process, tests, `single`).
HUB_VIDEO_NODE = os.environ.get("HUB_VIDEO_NODE", "")
# How many times a WHEP offer may be sent on to the camera's holder before 503 (the holder
# changed while the offer travelled).
HUB_VIDEO_MAX_HOPS = int(os.environ.get("HUB_VIDEO_MAX_HOPS", "2"))

# Anchors of the access journal (partners/anchor.py, docs/security.md §4): the chain's head,
# signed with a key kept outside the database, appended to a file on a path apart from the
# database's data and copied to a syslog server, so that whoever holds the database cannot
# rewrite the journal unnoticed.
HUB_AUDIT_ANCHOR_KEY_PATH = Path(os.environ.get("HUB_AUDIT_ANCHOR_KEY_PATH",
                                                BASE_DIR / "var/keys/audit-anchor-ed25519.pem"))
HUB_AUDIT_ANCHOR_FILE = Path(os.environ.get("HUB_AUDIT_ANCHOR_FILE", BASE_DIR / "var/audit/anchors.jsonl"))
# chattr +a on the anchor file (root and a file system with the flag): nobody, root included,
# can then rewrite or remove it without clearing the flag first. Off by default in demo mode,
# where `rm -rf var` must keep working.
HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG = env_bool("HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG", not DEMO_MODE)
# Celery beat anchors this often if the journal moved, and at least every heartbeat.
HUB_AUDIT_ANCHOR_SECONDS = env_int("HUB_AUDIT_ANCHOR_SECONDS", 60)
HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS = env_int("HUB_AUDIT_ANCHOR_HEARTBEAT_SECONDS", 3600)
# The syslog server that keeps a copy of every anchor: tcp://host:port (empty: none).
HUB_AUDIT_SYSLOG = os.environ.get("HUB_AUDIT_SYSLOG", "")
HUB_AUDIT_SYSLOG_TIMEOUT_SECONDS = float(os.environ.get("HUB_AUDIT_SYSLOG_TIMEOUT_SECONDS", "3"))
CELERY_BEAT_SCHEDULE.update({
    "partners-anchor-audit": {"task": "partners.anchor_audit", "schedule": float(HUB_AUDIT_ANCHOR_SECONDS)},
})

# The map's background (docs/map.md). Sources, tried in this order by the pages: the tile URL
# (an XYZ template; Plan IGN v2 from the IGN's Géoplateforme by default, no key needed), then
# the PMTiles file the hub serves itself (closed networks). An empty value turns a source off;
# the Content-Security-Policy admits the tile URL's host and no other (config/security.py).
PLAN_IGN_V2_URL = (
    "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&STYLE=normal&FORMAT=image/png"
    "&TILEMATRIXSET=PM&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}")
HUB_MAP_TILE_URL = os.environ.get("HUB_MAP_TILE_URL", PLAN_IGN_V2_URL).strip()
HUB_MAP_TILE_ATTRIBUTION = os.environ.get(
    "HUB_MAP_TILE_ATTRIBUTION",
    "Plan IGN v2 © IGN (Licence Ouverte 2.0)" if HUB_MAP_TILE_URL == PLAN_IGN_V2_URL else "")
HUB_MAP_TILE_LABEL = os.environ.get(
    "HUB_MAP_TILE_LABEL", "Plan IGN" if HUB_MAP_TILE_URL == PLAN_IGN_V2_URL else "Fond de carte en ligne")
# Deepest zoom the tile source has (Plan IGN v2: 19); deeper, its tiles are enlarged.
HUB_MAP_TILE_MAX_ZOOM = env_int("HUB_MAP_TILE_MAX_ZOOM", 19)
# A PMTiles archive of raster tiles (PNG, JPEG or WebP) on the hub's disk, served with HTTP
# range requests at /api/geo/basemap.pmtiles. `make run` generates the demo one if missing.
# A relative path is taken from the checkout (`make run` uses var/basemap/territory.pmtiles).
HUB_MAP_PMTILES = BASE_DIR / os.environ["HUB_MAP_PMTILES"] if os.environ.get("HUB_MAP_PMTILES") else None
HUB_MAP_PMTILES_LABEL = os.environ.get("HUB_MAP_PMTILES_LABEL", "Fond de carte local")

# Addresses (docs/map.md): the national address base (BAN), through the Géoplateforme's
# geocoder, answers address searches and the address of a clicked point; when it is not set
# or does not answer within the timeout, our own data answers (the commune, the nearest
# camera site's address). After a failure, our data answers alone for a while: an operator
# typing on a closed network must not wait for the timeout at every key.
HUB_GEOCODER_URL = os.environ.get("HUB_GEOCODER_URL", "https://data.geopf.fr/geocodage").strip().rstrip("/")
HUB_GEOCODER_TIMEOUT_SECONDS = float(os.environ.get("HUB_GEOCODER_TIMEOUT_SECONDS", "2"))
HUB_GEOCODER_RETRY_SECONDS = env_int("HUB_GEOCODER_RETRY_SECONDS", 60)
# The places with a postal address our own fallback knows: the camera sites (named here
# rather than imported: geo depends on no other app of ours). The filter leaves out the
# nomadic cameras' depots, which are not where anything happens.
HUB_GEO_PLACES_MODEL = "cameras.Site"
HUB_GEO_PLACES_FILTER = {"nomadic_pool": False}
# Who may search addresses: the answers name camera sites, which only the centre's staff see.
HUB_GEO_ADDRESS_PERMISSIONS = ["partners.permissions.IsCentreStaff"]

# PTZ cameras (docs/video.md §7): ONVIF control, one operator at a time.
# The key that encrypts the cameras' ONVIF passwords at rest (Fernet), made on first use.
HUB_PTZ_KEY_PATH = Path(os.environ.get("HUB_PTZ_KEY_PATH", BASE_DIR / "var/keys/ptz-credentials.key"))
# Every ONVIF request has this deadline; a camera that does not answer is "injoignable".
HUB_PTZ_TIMEOUT_SECONDS = float(os.environ.get("HUB_PTZ_TIMEOUT_SECONDS", "2"))
# A lease without a command for this long lapses; the camera goes home this long after.
HUB_PTZ_LEASE_IDLE_SECONDS = env_int("HUB_PTZ_LEASE_IDLE_SECONDS", 120)
HUB_PTZ_HOME_AFTER_SECONDS = env_int("HUB_PTZ_HOME_AFTER_SECONDS", 300)
# Joystick commands sent to one camera at most this often; those in between are coalesced.
HUB_PTZ_MAX_COMMANDS_PER_SECOND = env_int("HUB_PTZ_MAX_COMMANDS_PER_SECOND", 10)
CELERY_BEAT_SCHEDULE["ptz-leases-sweep"] = {"task": "ptz.leases_sweep", "schedule": 5.0}
