"""The client's address: what the throttles count and the journal records.

``X-Forwarded-For`` is written by whoever sends the request. Only the proxies listed in
``HUB_TRUSTED_PROXIES`` are believed, and only for the entries they appended: the client
is the rightmost address that no trusted proxy wrote.
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from partners.audit import Action
from partners.auth import client_address
from partners.models import AuditRecord


def address(remote: str, forwarded: str | None = None) -> str | None:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


@pytest.mark.parametrize("production", [False, True])
def test_without_trusted_proxies_the_header_is_ignored(settings, production):
    settings.PRODUCTION = production
    settings.HUB_TRUSTED_PROXIES = []
    assert address("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert address("198.51.100.7", "not-an-address, 10.0.0.1") == "198.51.100.7"


@pytest.mark.parametrize(("remote", "forwarded", "client"), [
    # The proxy appended the address it saw; whatever the client wrote before it is ignored.
    ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
    ("10.0.0.2", "1.1.1.1, 203.0.113.9", "203.0.113.9"),
    ("10.0.0.2", "1.1.1.1, 203.0.113.9, 10.0.0.7", "203.0.113.9"),  # two proxies of ours
    ("10.0.0.2", " 203.0.113.9 ,10.0.0.7", "203.0.113.9"),
    ("10.0.0.2", "2001:db8::1", "2001:db8::1"),
    ("10.0.0.2", "garbage, 203.0.113.9", "203.0.113.9"),
    # A request from outside the proxies: its header is the client's own writing.
    ("203.0.113.50", "10.0.0.7, 198.51.100.1", "203.0.113.50"),
    # Only proxies of ours all along (a health check from the proxy itself).
    ("10.0.0.2", "10.0.0.7", "10.0.0.7"),
    ("10.0.0.2", "", "10.0.0.2"),
    # A trusted proxy that wrote something that is not an address: the last hop we can vouch for.
    ("10.0.0.2", "1.1.1.1, not-an-address", "10.0.0.2"),
    ("10.0.0.2", "1.1.1.1, 999.1.1.1, 10.0.0.7", "10.0.0.7"),
])
def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote(settings, remote, forwarded, client):
    settings.HUB_TRUSTED_PROXIES = ["10.0.0.0/8", "::1"]
    assert address(remote, forwarded) == client


def failed_token_requests(anon_api, count: int, *, remote: str, forwarded=lambda i: f"203.0.113.{i}"):
    """``count`` failed sign-ins, each for another account and with another first
    ``X-Forwarded-For`` entry; their statuses."""
    return [anon_api.post("/api/auth/token/", {"username": f"nobody-{i}", "password": "guess"},
                          format="json", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded(i)).status_code
            for i in range(count)]


@pytest.mark.django_db
def test_a_forged_forwarded_for_neither_escapes_the_throttle_nor_reaches_the_journal(anon_api, settings):
    """The probe: in production, 40 failed token requests with a changing first entry were all
    401, and the journal recorded the forged addresses."""
    settings.PRODUCTION = True
    settings.HUB_TRUSTED_PROXIES = []
    statuses = failed_token_requests(anon_api, 40, remote="198.51.100.7")
    limit = settings.HUB_LOGIN_MAX_FAILURES_PER_ADDRESS
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    addresses = set(AuditRecord.objects.filter(action=Action.LOGIN_FAILED).values_list("address", flat=True))
    assert addresses == {"198.51.100.7"}


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_real_client_is_throttled_and_journalled(anon_api, operator, settings):
    settings.HUB_TRUSTED_PROXIES = ["10.0.0.2"]
    settings.HUB_LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    statuses = failed_token_requests(anon_api, 8, remote="10.0.0.2",
                                     forwarded=lambda i: f"192.0.2.{i}, 203.0.113.9")
    assert statuses == [401] * 5 + [429] * 3
    assert set(AuditRecord.objects.filter(action=Action.LOGIN_FAILED).values_list("address", flat=True)) == {
        "203.0.113.9"}
    # Another client behind the same proxy is not held back by the first one's failures.
    answer = anon_api.post("/api/auth/token/", {"username": operator.user.username,
                                                "password": "correct horse battery"},
                           format="json", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.20")
    assert answer.status_code == 201
    assert AuditRecord.objects.get(action=Action.TOKEN_ISSUED).address == "198.51.100.20"


@pytest.mark.parametrize(("remote", "secure"), [("10.0.0.2", True), ("203.0.113.50", False)])
def test_https_is_believed_only_from_a_trusted_proxy(settings, client, db, remote, secure):
    """In production a request is secure (no redirect to HTTPS, secure cookies) when our proxy
    says it came over HTTPS; a client that writes the header itself gets the redirect."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.HUB_TRUSTED_PROXIES = ["10.0.0.0/8"]
    answer = client.get("/healthz", REMOTE_ADDR=remote, HTTP_X_FORWARDED_PROTO="https")
    assert (answer.status_code != 301) is secure
    if not secure:
        assert answer["Location"].startswith("https://")
