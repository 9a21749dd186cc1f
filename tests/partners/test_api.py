"""Bearer tokens for programs: ``POST /api/auth/token/`` and their use on the API."""

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from partners.models import ApiToken
from tests.factories import make_member

TOKEN = "/api/auth/token/"
PROTECTED = "/api/cameras/"


def client_with(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def obtain(client: APIClient, username: str, password: str):
    return client.post(TOKEN, {"username": username, "password": password}, format="json")


@pytest.fixture
def alice(db):
    return make_member(role="operator", username="alice", password="s3cret-horse")


@pytest.mark.django_db
def test_good_credentials_give_a_token_usable_as_bearer(area, anon_api, alice, settings):
    response = obtain(anon_api, "alice", "s3cret-horse")

    assert response.status_code == 201
    body = response.json()
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    expires = dt.datetime.fromisoformat(body["expires_at"])
    ttl = dt.timedelta(hours=settings.HUB_API_TOKEN_TTL_HOURS)
    assert timezone.now() + ttl - dt.timedelta(minutes=5) < expires <= timezone.now() + ttl
    assert client_with(body["token"]).get(PROTECTED).status_code == 200
    # Only a digest is kept: the raw token is nowhere in the database.
    assert not ApiToken.objects.filter(digest=body["token"]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "password"), [
    ("alice", "wrong"),
    ("alice", "S3CRET-HORSE"),
    ("nobody", "s3cret-horse"),
])
def test_bad_credentials_are_401(anon_api, alice, username, password):
    response = obtain(anon_api, username, password)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_credentials"
    assert "token" not in response.json()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_inactive_account_gets_no_token(anon_api, alice):
    alice.user.is_active = False
    alice.user.save()
    assert obtain(anon_api, "alice", "s3cret-horse").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"username": "alice"}, {"password": "x"}, {}])
def test_incomplete_request_names_the_missing_field(anon_api, alice, body):
    response = anon_api.post(TOKEN, body, format="json")
    assert response.status_code == 400
    missing = {"username", "password"} - set(body)
    assert missing <= set(response.json()["detail"])


@pytest.mark.django_db
def test_revoked_token_is_refused(area, anon_api, alice):
    token = obtain(anon_api, "alice", "s3cret-horse").json()["token"]
    client = client_with(token)
    assert client.get(PROTECTED).status_code == 200

    assert client.post("/api/auth/token/revoke/").status_code == 204

    response = client.get(PROTECTED)
    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


@pytest.mark.django_db
def test_revoking_one_token_leaves_the_others(area, anon_api, alice):
    first = obtain(anon_api, "alice", "s3cret-horse").json()["token"]
    second = obtain(anon_api, "alice", "s3cret-horse").json()["token"]
    client_with(first).post("/api/auth/token/revoke/")
    assert client_with(first).get(PROTECTED).status_code == 401
    assert client_with(second).get(PROTECTED).status_code == 200


@pytest.mark.django_db
def test_expired_token_is_refused(area, anon_api, alice):
    token = obtain(anon_api, "alice", "s3cret-horse").json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client_with(token).get(PROTECTED).status_code == 401


@pytest.mark.django_db
def test_token_of_a_deactivated_account_stops_working(area, anon_api, alice):
    token = obtain(anon_api, "alice", "s3cret-horse").json()["token"]
    alice.user.is_active = False
    alice.user.save()
    assert client_with(token).get(PROTECTED).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer made-up-token", "Bearer", "Bearer two words"])
def test_unknown_or_malformed_bearer_is_401(area, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(PROTECTED).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/cameras/", "/api/cameras/coverage/?lat=48.9883&lon=2.3222",
                                  "/api/geo/communes/"])
def test_anonymous_gets_nothing(area, anon_api, path):
    response = anon_api.get(path)
    assert response.status_code in {401, 403}
    assert response.json()["error"] in {"not_authenticated", "forbidden"}
