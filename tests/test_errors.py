"""The API's error shape for faults that lose nothing: a deadlock, or the database pool exhausted,
is a retryable 503 (in JSON for the API, a French page otherwise)."""

import logging

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.test import AsyncClient, Client
from psycopg import errors

from config.errors import api_exception_handler, server_error
from incidents.models import Incident
from tests import factories
from tests.pool import exhausted_pool


def db_error(cause: Exception) -> OperationalError:
    try:
        raise OperationalError("deadlock detected") from cause
    except OperationalError as exc:
        return exc


def test_a_deadlock_is_answered_503_retry_in_json():
    response = api_exception_handler(db_error(errors.DeadlockDetected("deadlock detected")), {})
    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.data["error"] == "busy"


def test_other_database_errors_are_not_disguised():
    assert api_exception_handler(db_error(errors.UndefinedTable("no table")), {}) is None


# --- The database pool exhausted: 503, to be sent again; nothing written, logged once, counted.

BUSY = "Service momentanément saturé : réessayez dans quelques secondes."
POINT = {"type": "Point", "coordinates": [2.3225, 48.9895]}


def refused_so_far() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("hub_db_pool_exhausted_total", {"where": "http"}) or 0.0


@pytest.fixture
def signed_in_operator(transactional_db, area):
    member = factories.make_member(role="operator")
    browser = Client(raise_request_exception=False)  # as a server does: the answer, not the raise
    browser.force_login(member.user)
    return member, browser


def test_the_api_answers_503_in_french_json_with_retry_after(signed_in_operator, caplog):
    member, browser = signed_in_operator
    token_api = factories.TokenClient().as_member(member)
    before = refused_so_far()
    with caplog.at_level(logging.INFO), exhausted_pool():
        # A bearer token (the view's authentication meets it), then a session (a middleware does).
        answers = [token_api.get("/api/incidents/"), browser.get("/api/incidents/"),
                   token_api.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                                      "description": "Rixe, cinq individus"}),
                   browser.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                                    "description": "Rixe, cinq individus"},
                                content_type="application/json")]
    for answer in answers:
        assert answer.status_code == 503
        assert answer["Content-Type"] == "application/json"
        assert answer.json() == {"error": "saturated", "detail": BUSY}
        assert answer["Retry-After"] == "5"
    assert not Incident.objects.exists()  # the refused writes wrote nothing
    # Once each, as a warning: no error with a traceback from Django or DRF.
    warnings = [r for r in caplog.records if "database pool exhausted" in r.getMessage()]
    assert [r.levelno for r in warnings] == [logging.WARNING] * 4
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert refused_so_far() == before + 4
    # Counted in /metrics.
    scraped = browser.get("/metrics").content.decode()
    assert f'hub_db_pool_exhausted_total{{where="http"}} {before + 4}' in scraped
    # The pool free again, the same request succeeds.
    assert token_api.get("/api/incidents/").status_code == 200


@pytest.mark.parametrize("handler", ["wsgi", "asgi"])
def test_a_page_answers_503_with_a_short_french_page(signed_in_operator, caplog, handler):
    """Through Django's WSGI handler, and its ASGI one (what Daphne runs)."""
    _, browser = signed_in_operator
    if handler == "asgi":
        asgi = AsyncClient(raise_request_exception=False)
        asgi.cookies = browser.cookies
        get = async_to_sync(asgi.get)
    else:
        get = browser.get
    before = refused_so_far()
    with caplog.at_level(logging.INFO), exhausted_pool():
        answer = get("/console/")
    assert answer.status_code == 503
    assert answer["Retry-After"] == "5"
    assert answer["Content-Type"].startswith("text/html")
    page = answer.content.decode()
    assert '<html lang="fr">' in page
    assert "<h1>Service momentanément saturé</h1>" in page
    assert "rien n'a été enregistré" in page
    assert "site-menu" not in page  # the menu would have asked the database for the member
    assert [r.levelno for r in caplog.records if "database pool exhausted" in r.getMessage()] == [
        logging.WARNING]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert refused_so_far() == before + 1
    assert browser.get("/console/").status_code == 200


def test_other_server_errors_stay_500(rf):
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        answer = server_error(rf.get("/console/"))
    assert answer.status_code == 500 and "Retry-After" not in answer
