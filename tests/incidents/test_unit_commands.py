"""``create_unit`` from the shell, and the demo's units: two per partner agency, each with its
tablet account, idempotent, printed by ``demo_accounts``."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from incidents.demo import demo_unit_accounts, demo_units_ensure
from incidents.models import Unit
from partners.choices import AgencyKind, Role
from partners.demo import DEMO_PASSWORD, demo_agencies_ensure, pm_code
from partners.models import Agency, Member
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_unit", *args, stdout=out)
    return out.getvalue()


def test_create_unit_creates_once_and_refuses_a_taken_callsign(area):
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    driver = factories.make_member(role="field_unit", agency=pn, username="tablette-tv12")

    assert "Created TV 12 (pn-test, tablet: tablette-tv12)" in run(
        "--callsign", "tv 12", "--agency", "pn-test", "--member", "tablette-tv12")
    unit = Unit.objects.get(callsign="TV 12")
    assert (unit.agency, unit.member) == (pn, driver)
    events = Event.objects.count()

    # The same again (with or without the member): nothing changes.
    assert "already exists" in run("--callsign", "TV 12", "--agency", "pn-test", "--member", "tablette-tv12")
    assert "already exists" in run("--callsign", "TV 12", "--agency", "pn-test")
    assert Unit.objects.count() == 1 and Event.objects.count() == events

    refusals = [
        (["--callsign", "TV 12", "--agency", "gn-test"], "already taken by a unit of pn-test"),
        (["--callsign", "GN 3", "--agency", "gn-nowhere"], "No agency has the code 'gn-nowhere'"),
        (["--callsign", "GN 3", "--agency", "gn-test", "--member", "nobody"], "No member has the username"),
        (["--callsign", "GN 3", "--agency", "gn-test", "--member", "tablette-tv12"], "tablette-tv12"),
        (["--callsign", "GN 3", "--agency", "csu"], "No agency"),
    ]
    for args, message in refusals:
        with pytest.raises(CommandError, match=message):
            run(*args)
    assert Unit.objects.count() == 1 and Event.objects.count() == events


@pytest.fixture
def demo_agencies(demo_communes):
    from geo.models import Commune

    demo_agencies_ensure(communes=list(Commune.objects.order_by("insee_code")
                                       .values_list("insee_code", "name")))
    return Agency.objects.exclude(kind=AgencyKind.CSU)


def counts() -> dict[str, int]:
    return {"units": Unit.objects.count(), "members": Member.objects.count(),
            "users": get_user_model().objects.count(), "events": Event.objects.count()}


def test_the_demo_gives_every_partner_agency_two_units_with_their_tablets_once(demo_agencies, settings):
    created = demo_units_ensure(password=DEMO_PASSWORD)
    partners = list(demo_agencies)
    assert created == 2 * len(partners)
    for agency in partners:
        units = Unit.objects.filter(agency=agency, retired_at__isnull=True, member__isnull=False)
        assert units.count() == 2, agency.code
        for unit in units.select_related("member__user", "member__agency"):
            assert unit.member.role == Role.FIELD_UNIT and unit.member.agency == agency
            assert unit.member.user.check_password(DEMO_PASSWORD)
    assert Unit.objects.filter(agency__code="crf-plaine-vallee").count() == 2
    assert Unit.objects.filter(agency__code=pm_code("Montmorency"), callsign="PM MONTMORENCY 1").exists()
    assert Unit.objects.filter(agency__kind=AgencyKind.PN).count() == 4  # two commissariats

    before = counts()
    assert demo_units_ensure(password=DEMO_PASSWORD) == 0
    assert counts() == before

    # A demo tablet account signs in with the password alone and opens its tablet.
    browser = Client()
    signed = browser.post("/accounts/login/",
                          {"username": "tablette-crf-maraude-1", "password": DEMO_PASSWORD})
    assert signed.status_code == 302, signed.content.decode()[:500]
    page = browser.get("/terrain/")
    assert page.status_code == 200 and "CRF MARAUDE 1" in page.content.decode()


def test_make_run_prints_the_tablets_one_line_per_agency(demo_agencies, settings):
    settings.DEMO_MODE = True
    demo_units_ensure(password=DEMO_PASSWORD)
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    text = out.getvalue()
    lines = [line.split() for line in text.splitlines()]
    tablets = {words[0]: words[1:] for words in lines if words and words[-1].startswith("tablette-")}
    assert set(tablets) == set(demo_agencies.values_list("code", flat=True))
    assert tablets["crf-plaine-vallee"] == ["tablette-crf-maraude-1,", "tablette-crf-maraude-2"]
    assert tablets["pn-montmorency"] == ["tablette-ps-montmorency-1,", "tablette-ps-montmorency-2"]
    assert len(demo_unit_accounts()) == len(tablets)
