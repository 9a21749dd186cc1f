"""``/metrics`` (config/metrics.py, realtime/metrics.py): what a supervisor's Prometheus reads.

Each series is checked by doing what it counts and reading ``/metrics`` before and after, as
Prometheus would: through the view, parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from channels.db import database_sync_to_async
from django.db import transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from config.topology import Topology
from realtime import services
from realtime.models import Event, RelayState
from realtime.selectors import latest_event_id
from tests.realtime import helpers
from tests.realtime.processes import BASE_DIR, _stop, database_url, free_port
from tests.realtime.test_relay_process import wait_for_line
from tests.realtime.test_services import group, publish_committed

OUTSIDER = "203.0.113.7"


def scrape(client: Client | None = None, **headers) -> dict[tuple[str, tuple], float]:
    """``/metrics`` read as Prometheus reads it: ``{(sample name, sorted labels): value}``."""
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- Requests by route


@pytest.mark.django_db
def test_a_request_counts_under_its_route_pattern_never_its_raw_path():
    client = Client()
    before = scrape()
    assert client.get("/healthz").status_code == 200
    refused = client.get("/api/incidents/424242/").status_code
    assert refused in {401, 403}
    assert client.get(f"/nowhere-{uuid.uuid4().hex}").status_code == 404
    after = scrape()

    def delta(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("hub_http_requests_total", route="/healthz", method="GET", status="200") == 1
    assert delta("hub_http_requests_total", route="/api/incidents/<int:pk>/", method="GET",
                 status=str(refused)) == 1
    assert delta("hub_http_requests_total", route="unmatched", method="GET", status="404") >= 1
    # Latency: one more observation in the route's histogram.
    assert delta("hub_http_request_duration_seconds_count", route="/healthz", method="GET") == 1
    # Bounded labels: no raw path, no id, ever.
    routes = {dict(labels).get("route") for name, labels in after if name == "hub_http_requests_total"}
    assert not any("424242" in r or "nowhere" in r for r in routes if r), routes


@pytest.mark.django_db
def test_the_text_parses_and_carries_every_series_of_the_hub():
    response = Client().get("/metrics")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"hub_http_requests", "hub_http_request_duration_seconds", "hub_ws_frames_sent",
            "hub_ws_clients", "hub_ws_gaps", "hub_layer_over_capacity", "hub_relay_events_sent",
            "hub_outbox_up", "hub_outbox_newest_id", "hub_relay_sent_id", "hub_relay_lag_events",
            "hub_relay_lag_seconds", "hub_celery_broker_up", "hub_celery_queue_length",
            "process_cpu_seconds"} <= names, names


# --- Who may read it


@pytest.mark.django_db
def test_refused_from_outside_even_through_our_proxy_and_let_in_with_the_token(settings):
    settings.HUB_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.HUB_METRICS_TOKEN = "t" * 40
    client = Client()
    refused = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("Les métriques se lisent depuis le serveur")
    assert b"hub_http_requests" not in refused.content
    # Forwarded by HAProxy (loopback, trusted) for a client outside: that client's request.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDER).status_code == 403
    # A forged X-Forwarded-For from outside does not make it loopback.
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    # A wrong token is no token.
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER,
                      HTTP_AUTHORIZATION="Bearer " + "u" * 40).status_code == 403
    # The token, from anywhere; the machine itself and the proxy's own address, without it.
    scrape(client, REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer " + "t" * 40)
    scrape(client, REMOTE_ADDR="127.0.0.1")
    scrape(client, REMOTE_ADDR="::1")


@pytest.mark.django_db
def test_without_a_token_setting_no_bearer_opens_it(settings):
    settings.HUB_METRICS_TOKEN = ""
    assert Client().get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ").status_code == 403


class _Backend(http.server.BaseHTTPRequestHandler):
    """Stands for a Daphne process behind HAProxy: answers 200 to every GET."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_haproxy_as_make_run_configures_it_does_not_route_metrics_from_outside(tmp_path):
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = free_port()
    topology = Topology(port=port, api=1, ws=1, api_ports=[backend.server_port],
                        ws_ports=[backend.server_port], video_ports=[backend.server_port])
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(topology.haproxy_cfg())
    haproxy = subprocess.Popen(["haproxy", "-W", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        for _ in range(100):  # HAProxy listening, and the backend marked up by its checks
            try:
                if status("/healthz") == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            threading.Event().wait(0.1)
        assert status("/healthz") == 200
        for path in ("/metrics", "/metrics?x=1", "//metrics", "/%6Detrics", "/metrics/"):
            assert status(path) == 403, path
        assert status("/metricsx") == 200  # only /metrics itself is kept in
    finally:
        haproxy.terminate()
        haproxy.wait(5)
        backend.shutdown()


# --- The event bus


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_client_shows_under_its_agency_and_its_frames_are_counted(connect):
    crew = await database_sync_to_async(helpers.people)()
    agent = crew["pn"]
    read = database_sync_to_async(scrape)
    before = await read()
    connected, client = await connect(agent.user)
    assert connected
    during = await read()
    assert value(during, "hub_ws_clients", agency="pn-test") == value(before, "hub_ws_clients",
                                                                       agency="pn-test") + 1
    marker = await database_sync_to_async(helpers.marker)(agent)
    assert (await client.frame())["id"] == marker
    after_event = await read()
    assert value(after_event, "hub_ws_frames_sent_total", kind="live") == \
        value(during, "hub_ws_frames_sent_total", kind="live") + 1
    # The pong the connect fixture waited for is a control frame.
    assert value(during, "hub_ws_frames_sent_total", kind="control") > \
        value(before, "hub_ws_frames_sent_total", kind="control")
    await client.close()
    gone = await read()
    assert value(gone, "hub_ws_clients", agency="pn-test") == value(before, "hub_ws_clients",
                                                                     agency="pn-test")


@pytest.mark.django_db
def test_relay_lag_is_what_the_outbox_holds_unsent():
    services.relay()
    RelayState.objects.update_or_create(pk=1, defaults={"published_through": latest_event_id()})
    settled = scrape()
    assert value(settled, "hub_outbox_up") == 1
    assert value(settled, "hub_relay_lag_events") == 0
    assert value(settled, "hub_relay_lag_seconds") == 0
    # A write rolled back leaves a hole in the ids; then two events committed (here: written)
    # and not yet relayed.
    with contextlib.suppress(RuntimeError), transaction.atomic():
        Event.objects.create(type="test.lag", data={}, audience=["centre"])
        raise RuntimeError("rolled back")
    for _ in range(2):
        Event.objects.create(type="test.lag", data={}, audience=["centre"])
    waiting = scrape()
    assert value(waiting, "hub_relay_lag_events") == 2
    # Ids have holes (earlier rolled-back writes used some): the lag counts events, not ids.
    assert value(waiting, "hub_outbox_newest_id") == Event.objects.latest("id").id
    assert value(waiting, "hub_relay_sent_id") < value(waiting, "hub_outbox_newest_id")
    assert value(waiting, "hub_relay_lag_seconds") >= 0
    services.relay()
    sent = scrape()
    assert value(sent, "hub_relay_lag_events") == 0
    assert value(sent, "hub_relay_events_sent_total") == value(waiting, "hub_relay_events_sent_total") + 2


@pytest.mark.django_db
def test_over_capacity_notices_of_the_channel_layer_are_counted():
    before = scrape()
    # What channels_redis logs when a group send finds channels full (their message dropped).
    logging.getLogger("channels_redis.core").info("%s of %s channels over capacity in group %s",
                                                  3, 40, "agency.pn-test")
    after = scrape()
    assert value(after, "hub_layer_over_capacity_total") == value(before, "hub_layer_over_capacity_total") + 3


@pytest.mark.django_db
def test_celery_queue_length_is_the_length_of_the_queue_in_redis(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = queue = f"metrics-test-{uuid.uuid4().hex}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        assert value(scrape(), "hub_celery_queue_length", queue=queue) == 0
        broker.rpush(queue, "a", "b", "c")
        samples = scrape()
        assert value(samples, "hub_celery_broker_up") == 1
        assert value(samples, "hub_celery_queue_length", queue=queue) == 3
    finally:
        broker.delete(queue)
        broker.close()


def read_port(port: int) -> dict[tuple[str, tuple], float]:
    """``/metrics`` of a process of its own (the relay's prometheus-client server)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def wait_for_port(port: int, timeout: float = 30) -> dict[tuple[str, tuple], float]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read_port(port)
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_the_relay_process_serves_its_own_metrics_active_or_standby(tmp_path, settings):
    settings.HUB_RELAY_INLINE = False
    ports = [free_port(), free_port()]
    env = dict(os.environ, DATABASE_URL=database_url(), DJANGO_SETTINGS_MODULE="config.settings",
               HUB_RELAY_INLINE="0", PYTHONUNBUFFERED="1")
    relays = []
    try:
        for n, port in enumerate(ports):
            with (tmp_path / f"relay-{n}.log").open("wb") as out:
                relays.append(subprocess.Popen(
                    [sys.executable, "manage.py", "relay", "--idle", "30", "--metrics-port", str(port)],
                    cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT))
            wait_for_line(tmp_path / f"relay-{n}.log", "relay: active" if n == 0 else "relay: standby")
        active, standby = wait_for_port(ports[0]), wait_for_port(ports[1])
        assert value(active, "hub_relay_active") == 1 and value(standby, "hub_relay_active") == 0
        rows = publish_committed((1, group()), (2, group()))
        deadline = time.monotonic() + 10
        while value(read_port(ports[0]), "hub_relay_events_sent_total") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        sent = read_port(ports[0])
        assert value(sent, "hub_relay_events_sent_total") == 2
        assert value(sent, "hub_relay_sent_id") == rows[-1].id
        assert value(sent, "hub_relay_lag_events") == 0
        assert value(read_port(ports[1]), "hub_relay_events_sent_total") == 0
    finally:
        for relay in relays:
            _stop(relay)


def test_the_process_topology_gives_each_relay_its_own_metrics_port():
    topology = Topology(port=8000)
    procfile = topology.procfile(haproxy_cfg="var/haproxy.cfg")
    assert "relay: python manage.py relay --metrics-port 10300" in procfile
    assert "relay_standby: python manage.py relay --metrics-port 10301" in procfile
    ports = [*topology.api_ports, *topology.ws_ports, *topology.video_ports, *topology.relay_metrics_ports]
    assert len(set(ports)) == len(ports)


def test_the_deployment_guide_shows_the_haproxy_configuration_make_run_writes():
    rendered = Topology(port=8000).haproxy_cfg()
    body = "\n".join(line for line in rendered.splitlines() if not line.startswith("#")).strip()
    guide = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    assert body in guide, "docs/deployment.md: paste Topology(port=8000).haproxy_cfg() again"
