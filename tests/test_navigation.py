"""The hub's list of pages (config/navigation.py): each role's menu holds exactly the pages its
views open, ``/`` and the end of signing in lead each role to its desk, the favicon answers."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.test import Client

from config.navigation import PAGES, pages_for
from partners.choices import AgencyKind
from tests import factories

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)


def _members() -> dict[str, object]:
    """One member of each kind the menu tells apart."""
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-nav")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-nav")
    driving = factories.make_unit(agency=pn, callsign="PS-NAV-1").member
    crf_team = factories.make_unit(agency=crf, callsign="CRF-NAV-1").member
    return {
        "operator": factories.make_member(role="operator"),
        "supervisor": factories.make_member(role="supervisor"),
        "admin": factories.make_member(role="admin"),
        "auditor": factories.make_member(role="auditor"),
        "agent_pn": factories.make_member(role="partner_agent", agency=pn),
        "agent_crf": factories.make_member(role="partner_agent", agency=crf),
        "unit_pn": driving,
        "unit_crf": crf_team,
        "unit_without_unit": factories.make_member(role="field_unit", agency=pn),
    }


CENTRE = {"console", "wall", "requisitions", "register", "sessions", "security"}
EXPECTED = {
    "operator": CENTRE,
    "supervisor": CENTRE | {"admin"},
    "admin": CENTRE | {"admin", "audit"},
    "auditor": {"register", "audit", "sessions", "security"},
    "agent_pn": {"portal", "feeds", "sessions", "security"},
    "agent_crf": {"portal", "alerts", "sessions", "security"},
    "unit_pn": {"tablet", "portal", "sessions", "security"},
    "unit_crf": {"tablet", "portal", "alerts", "sessions", "security"},
    "unit_without_unit": {"portal", "sessions", "security"},
}
DESKS = {
    "operator": "/console/", "supervisor": "/console/", "admin": "/console/",
    "auditor": "/registre/",
    "agent_pn": "/portail/incidents/", "agent_crf": "/portail/alertes/",
    "unit_pn": "/terrain/", "unit_crf": "/terrain/", "unit_without_unit": "/portail/incidents/",
}


def _client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


def _menu_keys(html: str) -> set[str]:
    return set(re.findall(r'data-page="([a-z-]+)"', html))


@pytest.mark.django_db
def test_each_role_is_offered_exactly_the_pages_its_views_open():
    members = _members()
    for name, member in members.items():
        client = _client(member)
        offered = {page.key for page in pages_for(client.get("/compte/sessions/").wsgi_request)}
        assert offered == EXPECTED[name], name
        for page in PAGES:
            answer = client.get(page.url)
            # A page not offered refuses (403) or sends elsewhere (302): it never opens.
            assert (answer.status_code == 200) == (page.key in offered), (name, page.key, answer.status_code)


@pytest.mark.django_db
def test_the_menu_of_a_page_shows_the_allowed_pages_and_marks_the_current_one():
    members = _members()
    for name, member in members.items():
        client = _client(member)
        html = client.get("/compte/securite/").content.decode()
        assert _menu_keys(html) == EXPECTED[name], name
        assert re.search(r'data-page="security" aria-current="page"', html)
        assert html.count('aria-current="page"') == 1
        assert member.user.get_username() in html and member.agency.name in html
        assert "Se déconnecter" in html


@pytest.mark.django_db
def test_home_sends_each_role_to_its_desk_and_the_signed_out_to_the_sign_in():
    answer = Client().get("/")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/login/"
    for name, member in _members().items():
        answer = _client(member).get("/")
        assert answer.status_code == 302 and answer["Location"] == DESKS[name], name


@pytest.mark.django_db
def test_a_field_unit_member_signs_in_straight_to_the_tablet():
    member = factories.make_unit(callsign="PS-NAV-2").member
    member.user.set_password(PASSWORD)
    member.user.save()
    client = Client()
    answer = client.post("/accounts/login/", {"username": member.user.username, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"] == "/terrain/"
    assert client.get("/terrain/").status_code == 200


@pytest.mark.django_db
def test_a_croix_rouge_agent_signs_in_to_the_alerts_desk():
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-nav-2")
    secret = pyotp.random_base32()
    member = factories.make_member(role="partner_agent", agency=crf, password=PASSWORD, totp_secret=secret)
    client = Client()
    answer = client.post("/accounts/login/", {"username": member.user.username, "password": PASSWORD})
    assert answer["Location"] == "/accounts/login/code/"
    answer = client.post("/accounts/login/code/", {"otp": pyotp.TOTP(secret).now()})
    assert answer.status_code == 302 and answer["Location"] == "/portail/alertes/"


@pytest.mark.django_db
def test_a_page_asked_for_before_signing_in_is_where_the_sign_in_leads():
    member = factories.make_member(role="operator", password=PASSWORD)
    client = Client()
    answer = client.post("/accounts/login/", {"username": member.user.username, "password": PASSWORD,
                                              "next": "/registre/"})
    assert answer["Location"] == "/registre/"


def test_the_favicon_is_served():
    answer = Client().get("/favicon.ico")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/x-icon"
    assert answer.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
