"""``/metrics``: this process's figures in Prometheus' text format (docs/deployment.md, "Supervision").

Each process serves its own (no shared multiprocess directory): every Daphne process on its
own port, the relay processes on ``--metrics-port``. Prometheus scrapes each of them; HAProxy
refuses ``/metrics`` from outside.

- HTTP requests and their latency by route *pattern* (``/api/incidents/<int:pk>/``, never the
  raw path: the number of series stays bounded), method and status (:class:`RequestMetrics`);
- the event bus (:mod:`realtime.metrics`): frames sent, WebSocket clients by agency, the
  channel layer's "over capacity", the relay's lag;
- the requests and sockets refused because the database pool had no connection to give
  (``hub_db_pool_exhausted``, :mod:`config.errors`);
- the Celery queue's length (Redis ``LLEN``), read when scraped;
- the process itself (CPU, memory, open files: prometheus_client's default collectors).

Who may read it: the machine itself (loopback), the hub's proxies (``HUB_TRUSTED_PROXIES``),
or whoever presents ``Authorization: Bearer <HUB_METRICS_TOKEN>``. The address is the
client's as :func:`partners.auth.client_address` tells it: a request HAProxy forwards from
outside is the outside client's, not HAProxy's.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_network

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from partners.auth import client_address
from realtime import metrics as realtime_metrics  # noqa: F401  (registers the bus's series)

REQUESTS = Counter("hub_http_requests", "HTTP requests answered by this process, by route pattern "
                   "(unmatched: no route; static: static files), method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("hub_http_request_duration_seconds", "Time from Django receiving a request to its "
                    "answer, by route pattern and method (Daphne's own share not included).",
                    ["route", "method"],
                    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0))

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(request: HttpRequest) -> str:
    """The route pattern that answered ``request``: bounded, whatever paths clients send."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route is not None:
        return "/" + match.route
    if request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


class RequestMetrics:
    """First of the middleware: counts and times every answer, including those the other
    middleware give themselves (a refused body, a static file)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(route, method, str(response.status_code)).inc()
        LATENCY.labels(route, method).observe(elapsed)
        return response


class CeleryQueue(Collector):
    """The length of Celery's queue in its Redis broker, read when scraped."""

    def __init__(self) -> None:
        self._client: redis.Redis | None = None

    def client(self) -> redis.Redis:
        if self._client is None:
            self._client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1,
                                                socket_connect_timeout=1)
        return self._client

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: registering must not reach Redis.
        yield GaugeMetricFamily("hub_celery_broker_up", "hub_celery_broker_up")
        yield GaugeMetricFamily("hub_celery_queue_length", "hub_celery_queue_length", labels=["queue"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queue = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
        up = GaugeMetricFamily("hub_celery_broker_up", "1 when this scrape could read Celery's queue "
                               "in Redis, 0 when not.")
        try:
            waiting = int(self.client().llen(queue))
        except (redis.RedisError, OSError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        length = GaugeMetricFamily("hub_celery_queue_length", "Tasks waiting in Celery's queue for a "
                                   "worker (Redis LLEN).", labels=["queue"])
        length.add_metric([queue], waiting)
        yield length


REGISTRY.register(CeleryQueue())


def may_read(request: HttpRequest) -> bool:
    """Loopback, a proxy of ours, or the metrics token (docs/deployment.md, "Supervision")."""
    token = settings.HUB_METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    address = client_address(request)
    if address is None:
        return False
    try:
        client = ip_address(address)
    except ValueError:
        return False
    if client.is_loopback:
        return True
    return any(client in ip_network(proxy, strict=False) for proxy in settings.HUB_TRUSTED_PROXIES)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """``GET /metrics`` — this process's series, for Prometheus."""
    if not may_read(request):
        return JsonResponse({"error": "forbidden", "detail": gettext(
            "The metrics are read from the server itself, a proxy of the hub or with the metrics "
            "token.")}, status=403, json_dumps_params={"ensure_ascii": False})
    # Prometheus' text format; OpenMetrics when the scraper asks for it (Accept), as Prometheus does.
    encode, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(encode(REGISTRY), content_type=content_type)
