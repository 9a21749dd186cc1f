"""Signing in over the API: second factor, recovery codes, throttling, and the audit trail."""

import pyotp
import pytest
from django.utils import timezone

from partners.audit import Action
from partners.auth import recovery_codes_generate
from partners.models import ApiToken, AuditRecord
from tests import factories

SECRET = pyotp.random_base32()
PASSWORD = "correct horse battery"


@pytest.fixture
def agent(db):
    return factories.make_member(role="partner_agent", totp_secret=SECRET, password=PASSWORD,
                                 habilitation_reference="HAB-PN-7")


def token(anon_api, username, password=PASSWORD, **extra):
    return anon_api.post("/api/auth/token/", {"username": username, "password": password, **extra},
                         format="json")


@pytest.mark.django_db
def test_a_partner_agent_needs_the_second_factor(anon_api, agent):
    response = token(anon_api, agent.user.username)
    assert response.status_code == 401 and response.json()["error"] == "otp_required"
    assert not ApiToken.objects.exists()
    response = token(anon_api, agent.user.username, otp=pyotp.TOTP(SECRET).now())
    assert response.status_code == 201


@pytest.mark.django_db
def test_an_operator_signs_in_with_a_password_alone(anon_api, operator):
    assert token(anon_api, operator.user.username).status_code == 201


@pytest.mark.django_db
def test_a_one_time_code_cannot_be_replayed(anon_api, agent):
    code = pyotp.TOTP(SECRET).now()
    assert token(anon_api, agent.user.username, otp=code).status_code == 201
    again = token(anon_api, agent.user.username, otp=code)
    assert again.status_code == 401 and again.json()["error"] == "bad_otp"


@pytest.mark.django_db
def test_a_wrong_code_is_refused(anon_api, agent):
    response = token(anon_api, agent.user.username, otp="000000")
    assert response.status_code == 401 and response.json()["error"] == "bad_otp"


@pytest.mark.django_db
def test_a_recovery_code_works_once(anon_api, agent):
    codes = recovery_codes_generate(member=agent)
    assert token(anon_api, agent.user.username, otp=codes[0]).status_code == 201
    assert token(anon_api, agent.user.username, otp=codes[0]).status_code == 401
    assert token(anon_api, agent.user.username, otp=codes[1]).status_code == 201


@pytest.mark.django_db
def test_a_password_flood_locks_the_account_and_is_audited(anon_api, operator, settings):
    username = operator.user.username
    for _ in range(settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT):
        assert token(anon_api, username, password="guess").status_code == 401
    locked = token(anon_api, username)  # even the right password
    assert locked.status_code == 429 and locked.json()["error"] == "locked"
    actions = list(AuditRecord.objects.filter(actor_username=username).values_list("action", flat=True))
    assert actions.count(Action.LOGIN_FAILED) == settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT
    assert Action.LOGIN_LOCKED in actions


@pytest.mark.django_db
def test_a_flood_from_one_address_is_throttled_across_accounts(anon_api, operator, settings):
    settings.HUB_LOGIN_MAX_FAILURES_PER_ADDRESS = 3
    for i in range(3):
        token(anon_api, f"nobody-{i}", password="guess")
    assert token(anon_api, operator.user.username).status_code == 429


@pytest.mark.django_db
def test_a_revoked_token_no_longer_works(api, operator):
    api.as_member(operator)
    assert api.get("/api/natures/").status_code == 200
    assert api.post("/api/auth/token/revoke/").status_code == 204
    assert api.get("/api/natures/").status_code == 401
    assert AuditRecord.objects.filter(action=Action.TOKEN_REVOKED).exists()


@pytest.mark.django_db
def test_an_expired_token_no_longer_works(api, operator):
    api.as_member(operator)
    ApiToken.objects.update(expires_at=timezone.now())
    assert api.get("/api/natures/").status_code == 401
