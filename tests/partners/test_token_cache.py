"""The bearer token's lookup is cached (partners.selectors.user_for_token) and never outlives a
change: a revoked token, a deactivated account, a changed role are refused or honoured at once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from partners.models import ApiToken, Member
from partners.services import api_token_issue, api_token_revoke
from tests.factories import make_member

CENTRE_ONLY = "/api/cameras/"  # centre staff only (IsCentreStaff)
ANYONE = "/api/incidents/"  # any signed-in member


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def token_queries(client: APIClient, path: str) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        status = client.get(path).status_code
    return status, [q["sql"] for q in ctx.captured_queries
                    if "partners_apitoken" in q["sql"] or "partners_member" in q["sql"]]


@pytest.fixture
def operator(db):
    return make_member(role="operator", username="olga")


@pytest.mark.django_db
def test_a_token_used_again_reads_neither_token_nor_member(area, operator):
    raw, _ = api_token_issue(user=operator.user)
    client = client_with(raw)
    status, first = token_queries(client, CENTRE_ONLY)
    assert status == 200 and first, "the first use reads the database"
    status, again = token_queries(client, CENTRE_ONLY)
    assert status == 200
    assert again == [], "served from the cache"


@pytest.mark.django_db
def test_a_revoked_token_is_refused_at_once(area, operator):
    raw, _ = api_token_issue(user=operator.user)
    other, _ = api_token_issue(user=operator.user)
    client = client_with(raw)
    assert client.get(CENTRE_ONLY).status_code == 200  # cached now
    assert client_with(other).get(CENTRE_ONLY).status_code == 200

    assert client.post("/api/auth/token/revoke/").status_code in {200, 204}
    assert client.get(CENTRE_ONLY).status_code == 401
    assert client_with(other).get(CENTRE_ONLY).status_code == 200, "the user's other token still works"


@pytest.mark.django_db
def test_a_token_revoked_by_the_service_or_in_the_admin_is_refused_at_once(area, operator):
    raw, token = api_token_issue(user=operator.user)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    assert api_token_revoke(raw=raw)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 401

    raw, token = api_token_issue(user=operator.user)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    token.revoked_at = timezone.now()  # what the admin's form saves
    token.save()
    assert client_with(raw).get(CENTRE_ONLY).status_code == 401

    raw, token = api_token_issue(user=operator.user)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    token.expires_at = timezone.now() - dt.timedelta(seconds=1)
    token.save()
    assert client_with(raw).get(CENTRE_ONLY).status_code == 401


@pytest.mark.django_db
def test_a_deactivated_or_deleted_account_is_refused_at_once(area, operator):
    raw, _ = api_token_issue(user=operator.user)
    client = client_with(raw)
    assert client.get(CENTRE_ONLY).status_code == 200
    operator.user.is_active = False
    operator.user.save()
    assert client.get(CENTRE_ONLY).status_code == 401

    other = make_member(role="operator", username="oscar")
    raw, _ = api_token_issue(user=other.user)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    other.user.delete()
    assert client_with(raw).get(CENTRE_ONLY).status_code == 401


@pytest.mark.django_db
def test_a_changed_role_or_agency_counts_at_once(area, operator):
    raw, _ = api_token_issue(user=operator.user)
    client = client_with(raw)
    assert client.get(CENTRE_ONLY).status_code == 200
    operator.role = "auditor"
    operator.save()
    assert client.get(CENTRE_ONLY).status_code == 403, "no longer centre staff"
    operator.role = "operator"
    operator.save()
    assert client.get(CENTRE_ONLY).status_code == 200

    Member.objects.get(pk=operator.pk).delete()
    assert client.get(CENTRE_ONLY).status_code == 403, "no member profile any more"


@pytest.mark.django_db
def test_the_cache_away_the_database_answers(area, operator, monkeypatch):
    from django.core.cache import cache

    def away(*args, **kwargs):
        raise ConnectionError("redis away")

    raw, _ = api_token_issue(user=operator.user)
    monkeypatch.setattr(cache, "get_many", away)
    monkeypatch.setattr(cache, "add", away)
    monkeypatch.setattr(cache, "set", away)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    assert api_token_revoke(raw=raw)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 401
    assert ApiToken.objects.filter(revoked_at__isnull=False).count() == 1


@pytest.mark.django_db
def test_the_cache_holds_no_password_hash_and_saving_the_account_keeps_the_password(area):
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from partners.selectors import user_for_token

    member = make_member(role="operator", username="paula", password="correct horse battery")
    raw, token = api_token_issue(user=member.user)
    assert client_with(raw).get(CENTRE_ONLY).status_code == 200
    entry = cache.get(f"hub-token:{token.digest}")
    assert entry is not None and "password" not in entry["user"].__dict__

    user = user_for_token(raw)
    assert user is not None
    user.first_name = "Paula"
    user.save()  # a save of the cached account writes only what it holds
    fresh = get_user_model().objects.get(pk=member.user.pk)
    assert fresh.first_name == "Paula" and fresh.check_password("correct horse battery")
