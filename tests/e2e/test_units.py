"""Field units in real browsers: a supervisor creates one in the admin and hands it to a
field-unit member, who then has its tablet; a demo tablet signs in and acknowledges; the
Croix-Rouge desk sends one of its available teams, and the choice follows the teams live."""

from __future__ import annotations

import pytest

from incidents.models import RadioReceipt, Unit
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 10_000
PASSWORD = "correct horse battery"


def test_a_unit_created_in_the_admin_gives_its_member_the_tablet(hub, signed_in, csp_watch):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    factories.make_agency(kind=AgencyKind.GN, code="gn-domont")
    supervisor = factories.make_member(role="supervisor", username="superviseur")
    driver = factories.make_member(role="field_unit", agency=pn, username="tablette-tv12")
    factories.make_member(role="field_unit", agency=pn, username="tablette-tv13")

    member_context = signed_in(driver.user)
    before = member_context.new_page()
    assert before.goto("/terrain/").status == 403  # no unit yet

    admin = signed_in(supervisor.user).new_page()
    admin.goto("/admin/incidents/unit/add/")
    admin.get_by_label("Indicatif").fill("tv 12")
    admin.get_by_label("Service").select_option(label=pn.name)
    # The member is searched, among the PN's field units only.
    admin.locator(".field-member .select2-selection").click()
    admin.locator(".select2-search__field").fill("tablette")
    options = admin.locator(".select2-results__option:not(.loading-results)")
    options.first.wait_for(timeout=LIVE)
    admin.wait_for_function(
        "() => document.querySelectorAll('.select2-results__option.loading-results').length === 0")
    assert sorted(options.all_inner_texts()) == ["tablette-tv12", "tablette-tv13"]
    admin.locator(".select2-results__option", has_text="tablette-tv12").click()
    admin.get_by_role("button", name="Enregistrer", exact=True).click()
    admin.locator("#result_list").wait_for(timeout=LIVE)
    row = admin.locator("#result_list tbody tr", has_text="TV 12")
    assert "tablette-tv12" in row.inner_text() and "Disponible" in row.inner_text()
    unit = Unit.objects.get(callsign="TV 12")
    assert unit.member == driver

    csp_watch(member_context)
    tablet = live(member_context.new_page(), "/terrain/")
    assert tablet.locator("h1 #tablet-callsign").inner_text() == "TV 12"
    nets = tablet.locator("#reply-net option").all_inner_texts()
    assert "Ligne directe TV 12" in nets and "Interservices" in nets
    assert csp_watch.violations(tablet) == []

    # Retired in the admin: the tablet is told at once, and loses the page.
    admin.goto(f"/admin/incidents/unit/{unit.pk}/change/")
    admin.get_by_label("Retirée").check()
    admin.get_by_role("button", name="Enregistrer", exact=True).click()
    admin.locator("#result_list").wait_for(timeout=LIVE)
    tablet.locator("#tablet-notice", has_text="retirée du service").wait_for(timeout=LIVE)
    assert tablet.goto("/terrain/").status == 403


def test_a_demo_tablet_signs_in_sees_its_nets_and_acknowledges(hub, new_context, csp_watch):
    from geo.models import Commune
    from geo.services import demo_communes_ensure
    from incidents.demo import demo_units_ensure
    from incidents.services.radio import nets_ensure, radio_message_send
    from partners.demo import DEMO_PASSWORD, demo_agencies_ensure

    demo_communes_ensure()
    demo_agencies_ensure(communes=list(Commune.objects.values_list("insee_code", "name")))
    demo_units_ensure(password=DEMO_PASSWORD)
    nets_ensure()
    operator = factories.make_member(role="operator", username="operateur")
    unit = Unit.objects.get(callsign="PS MONTMORENCY 1")

    context = new_context()
    csp_watch(context)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Identifiant").fill("tablette-ps-montmorency-1")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    tablet = live(page, "/terrain/")
    assert tablet.locator("#tablet-callsign").inner_text() == "PS MONTMORENCY 1"
    nets = tablet.locator("#reply-net option").all_inner_texts()
    assert {"Interservices", "Ligne directe PS MONTMORENCY 1",
            "Réseau Police nationale — commissariat de Montmorency"} <= set(nets)

    radio_message_send(member=operator, to_unit=unit, text="PS Montmorency 1, rappelez le CSU",
                       priority="flash")
    flash = tablet.locator("#tablet-radio .radio-message.to-ack", has_text="rappelez le CSU")
    flash.wait_for(timeout=LIVE)
    flash.get_by_role("button", name="Acquitter").click()
    tablet.locator("#tablet-radio .radio-message[data-pending='']").wait_for(timeout=LIVE)
    tablet.wait_for_function("() => document.getElementById('tablet').dataset.queued === '0'")
    receipt = RadioReceipt.objects.get(unit=unit)
    assert receipt.acknowledged_at is not None and receipt.acknowledged_by == unit.member.user
    assert csp_watch.violations(tablet) == []


def test_the_croix_rouge_desk_sends_one_of_its_available_teams(hub, signed_in, csp_watch):
    from incidents.services.alerts import alert_raise
    from incidents.services.units import unit_status_set

    factories.make_commune()
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")
    operator = factories.make_member(role="operator", username="operateur")
    desk_member = factories.make_member(role="partner_agent", agency=crf, username="crf-desk")
    first = factories.make_unit(agency=crf, callsign="CRF MARAUDE 1")
    second = factories.make_unit(agency=crf, callsign="CRF MARAUDE 2")
    unit_status_set(unit=second, status="unavailable", member=operator)
    alert_raise(member=operator, location=factories.CENTRE, description="Homme âgé sur un banc",
                address="Parvis de la gare")

    context = signed_in(desk_member.user)
    csp_watch(context)
    desk = live(context.new_page(), "/portail/alertes/")
    card = desk.locator("#alert-list .alert-card[data-status='raised']")
    card.wait_for(timeout=LIVE)
    team = card.get_by_label("Équipe")
    assert team.locator("option").all_inner_texts() == ["CRF MARAUDE 1"]  # the unavailable one is not offered
    card.get_by_role("button", name="Engager l'équipe").click()
    desk.locator("#alert-list .alert-card[data-status='taken_charge']", has_text="CRF MARAUDE 1").wait_for(
        timeout=LIVE)

    # A second alert: its only team is on its way to the first, so none is offered...
    alert_raise(member=operator, location=factories.CENTRE, description="Femme et enfant sous la pluie")
    other = desk.locator("#alert-list .alert-card[data-status='raised']", has_text="sous la pluie")
    other.locator(".no-team", has_text="Aucune équipe disponible").wait_for(timeout=LIVE)
    assert other.get_by_role("button", name="Engager l'équipe").count() == 0
    # ... until the other one becomes available, live.
    unit_status_set(unit=second, status="available", member=operator)
    other.get_by_label("Équipe").wait_for(timeout=LIVE)
    assert other.get_by_label("Équipe").locator("option").all_inner_texts() == ["CRF MARAUDE 2"]
    first.refresh_from_db()
    assert first.status == "en_route"
    assert csp_watch.violations(desk) == []
