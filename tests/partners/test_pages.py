"""Signing in through the pages: the second factor cannot be skipped, sessions end everywhere."""

import time

import pyotp
import pytest
from django.test import Client

from partners.audit import Action
from partners.middleware import ACTIVE
from partners.models import AuditRecord, Member, UserSession
from tests import factories

PASSWORD = "correct horse battery"
SECRET = pyotp.random_base32()


@pytest.fixture
def agent(db):
    return factories.make_member(role="partner_agent", totp_secret=SECRET, password=PASSWORD)


def sign_in(client, member, password=PASSWORD):
    return client.post("/accounts/login/", {"username": member.user.username, "password": password})


def is_signed_in(client) -> bool:
    return client.get("/compte/sessions/").status_code == 200


@pytest.mark.django_db
def test_an_operator_lands_on_the_console(operator):
    client = Client()
    response = sign_in(client, operator)
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert is_signed_in(client)
    assert AuditRecord.objects.filter(action=Action.LOGIN, actor=operator.user).exists()


@pytest.mark.django_db
def test_a_wrong_password_says_so_and_signs_nobody_in(operator):
    client = Client()
    response = sign_in(client, operator, password="nope")
    assert response.status_code == 401
    assert "incorrect" in response.content.decode()
    assert not is_signed_in(client)


@pytest.mark.django_db
def test_the_second_factor_cannot_be_skipped(agent):
    client = Client()
    response = sign_in(client, agent)
    assert response["Location"] == "/accounts/login/code/"
    # Calling the next pages directly, without the code, gets nothing.
    assert not is_signed_in(client)
    assert client.get("/api/incidents/").status_code in (401, 403)
    assert client.post("/accounts/login/code/", {"otp": "000000"}).status_code == 401
    assert not is_signed_in(client)
    response = client.post("/accounts/login/code/", {"otp": pyotp.TOTP(SECRET).now()})
    assert response.status_code == 302
    assert is_signed_in(client)
    assert client.get("/api/incidents/").status_code == 200


@pytest.mark.django_db
def test_a_first_sign_in_enrols_the_authenticator_and_shows_recovery_codes(db):
    member = factories.make_member(role="supervisor", password=PASSWORD)
    client = Client()
    assert sign_in(client, member)["Location"] == "/accounts/login/enrol/"
    page = client.get("/accounts/login/enrol/")
    assert page.status_code == 200 and b"data:image/svg+xml" in page.content
    secret = client.session["hub_pending_login"]["secret"]
    assert client.post("/accounts/login/enrol/", {"otp": "123456"}).status_code == 200  # wrong: form again
    assert not is_signed_in(client)
    done = client.post("/accounts/login/enrol/", {"otp": pyotp.TOTP(secret).now()})
    assert b"recovery-codes" in done.content
    assert Member.objects.get(pk=member.pk).totp_secret == secret
    assert member.recovery_codes.count() == 10
    assert is_signed_in(client)


@pytest.mark.django_db
def test_after_logout_the_old_cookie_gets_nothing(operator):
    client = Client()
    sign_in(client, operator)
    stolen = client.cookies["sessionid"].value
    assert client.post("/accounts/logout/").status_code == 302
    thief = Client()
    thief.cookies["sessionid"] = stolen
    assert not is_signed_in(thief)
    assert thief.get("/api/incidents/").status_code in (401, 403)
    assert UserSession.objects.get(session_key=stolen).ended_at is not None


@pytest.mark.django_db
def test_a_member_sees_and_ends_their_other_sessions(operator):
    office, tablet = Client(), Client()
    sign_in(office, operator)
    sign_in(tablet, operator)
    page = office.get("/compte/sessions/")
    assert page.content.decode().count("data-session=") == 2
    tablet_session = UserSession.objects.get(session_key=tablet.cookies["sessionid"].value)
    office.post("/compte/sessions/", {"session_id": tablet_session.pk})
    assert not is_signed_in(tablet)
    assert is_signed_in(office)


@pytest.mark.django_db
def test_an_idle_session_expires(operator, settings):
    client = Client()
    sign_in(client, operator)
    assert is_signed_in(client)
    session = client.session
    session[ACTIVE] = time.time() - settings.HUB_SESSION_IDLE_MINUTES * 60 - 5
    session.save()
    assert not is_signed_in(client)


@pytest.mark.django_db
def test_the_admin_login_cannot_skip_the_second_factor(db):
    supervisor = factories.make_member(role="supervisor", password=PASSWORD, totp_secret=SECRET)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": supervisor.user.username,
                                                          "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/admin/").status_code == 302
    sign_in(client, supervisor)
    client.post("/accounts/login/code/", {"otp": pyotp.TOTP(SECRET).now()})
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_codes_asked_again_share_the_sign_in_lock_and_are_journalled(agent, settings):
    """The probe: 40 wrong codes on « Double authentification » were all accepted as tries
    (no lock, no journal line), and the next right one issued new recovery codes."""
    from partners.auth import recovery_codes_generate
    from partners.models import RecoveryCode

    client = Client()
    sign_in(client, agent)
    assert client.post("/accounts/login/code/", {"otp": pyotp.TOTP(SECRET).now()}).status_code == 302
    recovery = recovery_codes_generate(member=agent)
    before = set(RecoveryCode.objects.filter(member=agent).values_list("digest", flat=True))
    totp = pyotp.TOTP(SECRET)
    right_now = {totp.at(time.time() + drift) for drift in (-60, -30, 0, 30, 60)}
    wrong = [code for code in (f"{n:06d}" for n in range(100)) if code not in right_now][:40]

    statuses = [client.post("/compte/securite/", {"otp": code}).status_code for code in wrong]
    limit = settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT
    assert statuses == [401] * limit + [429] * (40 - limit)
    page = client.post("/compte/securite/", {"otp": recovery[0]})  # a right code, once locked
    assert page.status_code == 429 and "Trop de tentatives" in page.content.decode()
    assert set(RecoveryCode.objects.filter(member=agent, used_at__isnull=True)
               .values_list("digest", flat=True)) == before, "no new codes, none spent"

    journal = AuditRecord.objects.filter(actor_username=agent.user.username)
    failures = journal.filter(action=Action.LOGIN_FAILED)
    assert failures.count() == limit
    assert all("code" in reason for reason in failures.values_list("reason", flat=True))
    assert journal.filter(action=Action.LOGIN_LOCKED).count() == 1
    # The same lock holds the sign-in page.
    locked = Client().post("/accounts/login/", {"username": agent.user.username, "password": PASSWORD})
    assert "Trop de tentatives" in locked.content.decode()


@pytest.mark.django_db
def test_a_right_code_renews_the_recovery_codes_and_is_journalled(agent):
    from partners.auth import recovery_codes_generate

    client = Client()
    sign_in(client, agent)
    client.post("/accounts/login/code/", {"otp": pyotp.TOTP(SECRET).now()})
    old = recovery_codes_generate(member=agent)
    page = client.post("/compte/securite/", {"otp": old[0]})
    assert page.status_code == 200 and b"recovery-codes" in page.content
    assert AuditRecord.objects.filter(actor=agent.user, action="recovery_codes_renewed").count() == 1
    # The old set is gone.
    fresh = Client()
    sign_in(fresh, agent)
    assert fresh.post("/accounts/login/code/", {"otp": old[1]}).status_code == 401
