"""Shell commands for administrators: ``list_agencies`` and ``create_member``."""

import datetime as dt
import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from partners.choices import AgencyKind
from partners.models import Member
from tests.factories import make_agency

User = get_user_model()


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def agencies(db):
    return [make_agency(kind=AgencyKind.CSU, code="csu"),
            make_agency(kind=AgencyKind.PN, code="pn-montmorency"),
            make_agency(kind=AgencyKind.PM, code="pm-montmorency", commune_insee="95428"),
            make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")]


@pytest.mark.django_db
def test_list_agencies_prints_code_kind_and_name(agencies):
    lines = [line for line in run("list_agencies").splitlines() if line.strip()]

    rows = [re.split(r"\s{2,}", line.strip()) for line in lines]
    assert sorted(tuple(r) for r in rows) == sorted((a.code, a.kind, a.name) for a in agencies)


@pytest.mark.django_db
def test_list_agencies_with_no_agency_prints_nothing(db):
    assert run("list_agencies").strip() == ""


def create(*extra: str, username: str = "bob", agency: str = "pn-montmorency",
           role: str = "partner_agent") -> str:
    return run("create_member", "--username", username, "--password", "Un-mot-de-passe-long",
               "--agency", agency, "--role", role, *extra)


@pytest.mark.django_db
def test_create_member_with_role_agency_totp_and_habilitation(agencies):
    out = create("--totp-secret", "jbsw y3dp ehpk 3pxp", "--habilitation", "HAB-PN-042",
                 "--habilitation-authority", "Préfecture du Val-d'Oise",
                 "--habilitation-until", "2027-06-30", "--email", "bob@example.org")

    member = Member.objects.select_related("user", "agency").get(user__username="bob")
    assert "bob" in out
    assert member.agency.code == "pn-montmorency"
    assert member.role == "partner_agent"
    assert member.totp_secret == "JBSWY3DPEHPK3PXP"
    assert member.habilitation_reference == "HAB-PN-042"
    assert member.habilitation_authority == "Préfecture du Val-d'Oise"
    assert member.habilitation_valid_until == dt.date(2027, 6, 30)
    assert member.habilitation_valid_from is not None
    assert member.user.email == "bob@example.org"
    assert member.user.check_password("Un-mot-de-passe-long")
    assert not member.user.is_staff


@pytest.mark.django_db
def test_created_member_can_get_a_token(agencies, anon_api):
    create(role="operator", agency="csu")
    response = anon_api.post("/api/auth/token/", {"username": "bob", "password": "Un-mot-de-passe-long"},
                             format="json")
    assert response.status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "agency"), [("operator", "csu"), ("supervisor", "csu"),
                                              ("auditor", "csu"), ("admin", "csu"),
                                              ("field_unit", "pm-montmorency"),
                                              ("partner_agent", "crf-plaine-vallee")])
def test_every_role_can_be_created(agencies, role, agency):
    create(role=role, agency=agency)
    assert Member.objects.get(user__username="bob").role == role


@pytest.mark.django_db
@pytest.mark.parametrize(("extra", "kwargs", "message"), [
    ((), {"agency": "pn-nowhere"}, "pn-nowhere"),
    ((), {"role": "chief"}, "role"),
    ((), {"role": "operator", "agency": "pn-montmorency"}, "CSU"),
    (("--totp-secret", "not base32!"), {}, "base32"),
    (("--totp-secret", "ABC18"), {}, "base32"),
    (("--habilitation", "HAB-1", "--habilitation-until", "30/06/2027"), {}, "date"),
    (("--habilitation-until", "2027-06-30"), {}, "--habilitation"),
])
def test_bad_input_is_a_command_error_and_creates_nobody(agencies, extra, kwargs, message):
    users_before = User.objects.count()
    with pytest.raises(CommandError, match=message):
        create(*extra, **kwargs)
    assert User.objects.count() == users_before
    assert not Member.objects.exists()


@pytest.mark.django_db
def test_existing_username_is_refused_and_kept(agencies):
    create()
    with pytest.raises(CommandError, match="existe déjà"):
        create(agency="csu", role="operator")
    member = Member.objects.get(user__username="bob")
    assert (member.agency.code, member.role) == ("pn-montmorency", "partner_agent")
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_supervisors_manage_authorisations_and_masks_in_the_admin_operators_do_not():
    from django.test import Client

    from tests import factories

    supervisor = factories.make_member(role="supervisor", password="pw-123456789")
    operator = factories.make_member(role="operator", password="pw-123456789")
    assert supervisor.user.has_perm("cameras.change_authorisation")
    assert supervisor.user.has_perm("cameras.delete_privacymask")
    assert not operator.user.has_perm("cameras.change_authorisation")
    client = Client()
    client.force_login(supervisor.user)
    assert client.get("/admin/cameras/authorisation/").status_code == 200
    client.force_login(operator.user)
    assert client.get("/admin/cameras/authorisation/").status_code == 302  # not staff: to the login
