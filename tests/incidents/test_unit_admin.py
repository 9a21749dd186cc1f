"""Field units in the admin site: the supervisors' screen for them. Same services, rights and
refusals as the API; the member is searched among the agency's free field-unit members."""

from __future__ import annotations

import pytest
from django.test import Client

from incidents.models import Unit
from partners.choices import AgencyKind
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(area):
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    gn = factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    supervisor = factories.make_member(role="supervisor", username="superviseur")
    browser = Client()
    browser.force_login(supervisor.user)
    return {
        "pn": pn, "gn": gn, "browser": browser,
        "tv12": factories.make_member(role="field_unit", agency=pn, username="tablette-tv12"),
        "tv13": factories.make_member(role="field_unit", agency=pn, username="tablette-tv13"),
        "gn3": factories.make_member(role="field_unit", agency=gn, username="tablette-gn3"),
        "agent": factories.make_member(role="partner_agent", agency=pn, username="agent-pn"),
    }


def drivers(browser: Client, agency, unit=None, term: str = "") -> list[str]:
    answer = browser.get("/admin/incidents/unit/drivers/", {
        "app_label": "incidents", "model_name": "unit", "field_name": "member", "term": term,
        "agency": agency.pk, "unit": unit.pk if unit else ""})
    assert answer.status_code == 200, answer.content[:300]
    return [row["text"] for row in answer.json()["results"]]


def test_the_member_is_searched_among_the_agencys_free_field_units(scene):
    browser = scene["browser"]
    driven = factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    # Neither the partner agent, nor a GN member, nor one who already drives a unit.
    assert drivers(browser, scene["pn"]) == ["tablette-tv13"]
    assert drivers(browser, scene["gn"]) == ["tablette-gn3"]
    assert drivers(browser, scene["pn"], term="tv12") == []
    # On the unit's own page, its driver is offered too.
    assert drivers(browser, scene["pn"], unit=driven) == ["tablette-tv12", "tablette-tv13"]
    assert drivers(browser, factories.make_agency(kind=AgencyKind.CSU, code="csu")) == []

    page = browser.get("/admin/incidents/unit/add/").content.decode()
    assert 'class="unit-driver-autocomplete"' in page and "js/admin-unit.js" in page
    assert "tablette-tv13" not in page and "tablette-gn3" not in page  # no list of accounts in the page


def test_a_supervisor_creates_hands_over_and_retires_a_unit_in_the_admin(scene):
    browser = scene["browser"]
    added = browser.post("/admin/incidents/unit/add/", {
        "callsign": "tv 12", "agency": scene["pn"].pk, "member": scene["tv12"].pk, "_save": "Enregistrer"})
    assert added.status_code == 302, added.content.decode()[:3000]
    unit = Unit.objects.get(callsign="TV 12")
    assert unit.member == scene["tv12"]
    assert Event.objects.filter(type="unit.updated").latest("id").data["changes"] == ["created", "member"]

    listing = browser.get("/admin/incidents/unit/").content.decode()
    for text in ("Indicatif", "Service", "Membre (tablette)", "Statut", "En service", "TV 12",
                 "tablette-tv12"):
        assert text in listing, text
    assert browser.get("/admin/incidents/unit/?retired=yes").content.decode().count("tablette-tv12") == 0

    url = f"/admin/incidents/unit/{unit.pk}/change/"
    form = {"callsign": "TV 12", "agency": scene["pn"].pk, "member": scene["tv13"].pk, "_save": "Enregistrer"}
    assert browser.post(url, form).status_code == 302
    unit.refresh_from_db()
    assert unit.member == scene["tv13"]

    assert browser.post(url, {**form, "retired": "on"}).status_code == 302
    unit.refresh_from_db()
    assert unit.retired and unit.member is None
    assert "TV 12" in browser.get("/admin/incidents/unit/?retired=yes").content.decode()
    assert browser.post(url, {**form, "member": "", "retired": ""}).status_code == 302
    unit.refresh_from_db()
    assert not unit.retired
    # History stays: no deleting a unit.
    assert browser.get(f"/admin/incidents/unit/{unit.pk}/delete/").status_code == 403


@pytest.mark.parametrize(("form", "message"), [
    ({"callsign": "TV 21", "member": "gn3"}, "tablette-gn3 appartient à : Agency gn-test"),
    ({"callsign": "TV 20", "member": "tv12"}, "tablette-tv12 a déjà la tablette de TV 12"),
    ({"callsign": "tv 12", "member": ""}, "L&#x27;indicatif TV 12 est déjà pris"),
    ({"callsign": "TV 20", "member": "agent"}, "choix valide"),  # only field units are choices
])
def test_a_refusal_shows_on_the_form_and_nothing_is_written(scene, form, message):
    browser = scene["browser"]
    factories.make_unit(agency=scene["pn"], callsign="TV 12", member=scene["tv12"])
    units, events = Unit.objects.count(), Event.objects.count()
    body = {"callsign": form["callsign"], "agency": scene["pn"].pk,
            "member": scene[form["member"]].pk if form["member"] else "", "_save": "Enregistrer"}
    page = browser.post("/admin/incidents/unit/add/", body)
    assert page.status_code == 200
    html = page.content.decode()
    assert "errornote" in html and message in html
    assert (Unit.objects.count(), Event.objects.count()) == (units, events)


def test_units_are_the_supervisors_not_the_operators(scene):
    operator = Client()
    operator.force_login(factories.make_member(role="operator").user)
    assert operator.get("/admin/incidents/unit/").status_code == 302  # the admin is not theirs
    assert scene["browser"].get("/admin/").content.decode().count("Unités de terrain") == 1
