"""A distress alert in real browsers: the operator raises it from the console; the Croix-Rouge
desk shows it at once, acknowledges it and sends a team; the console follows."""

from __future__ import annotations

import pytest

from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 10_000


def test_an_alert_raised_on_the_console_appears_live_on_the_croix_rouge_desk(hub, signed_in, csp_watch):
    factories.make_commune()
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-95")
    operator = factories.make_member(role="operator", username="alice")
    desk_member = factories.make_member(role="partner_agent", agency=crf, username="crf-desk")
    factories.make_unit(agency=crf, callsign="MARAUDE 1")

    desk_context = signed_in(desk_member.user)
    csp_watch(desk_context)
    desk = live(desk_context.new_page(), "/portail/alertes/")
    desk.locator("#alerts-empty", has_text="Aucune alerte").wait_for(timeout=LIVE)
    console_context = signed_in(operator.user)
    csp_watch(console_context)
    console = live(console_context.new_page(), "/console/")

    console.locator("summary", has_text="Signaler à la Croix-Rouge").click()  # opens the form
    console.get_by_label("Lieu précis (repère)").fill("Parvis de la gare")
    console.get_by_label("Signalement (personne, situation)").fill(
        "Homme âgé allongé sur un banc, peu couvert")
    console.get_by_label("Grand froid").check()
    console.locator("#alert-form button[type='submit']").click()
    console.locator("#alert-notice", has_text="transmise à la Croix-Rouge").wait_for(timeout=LIVE)

    card = desk.locator("#alert-list .alert-card[data-status='raised']")
    card.wait_for(timeout=LIVE)
    text = card.inner_text()
    assert "Homme âgé allongé sur un banc" in text and "Parvis de la gare" in text and "Grand froid" in text
    card.get_by_role("button", name="Prendre en compte").click()
    desk.locator("#alert-list .alert-card[data-status='acknowledged']").wait_for(timeout=LIVE)
    desk.get_by_role("button", name="Engager l'équipe").click()
    desk.locator("#alert-list .alert-card[data-status='taken_charge']",
                 has_text="MARAUDE 1").wait_for(timeout=LIVE)
    console.locator("#console-alerts .alert-card[data-status='taken_charge']").wait_for(timeout=LIVE)
    # Nothing on the desk page names a camera.
    assert "caméra" not in desk.content().lower() and "camera" not in desk.content().lower()
    for page in (desk, console):
        assert csp_watch.violations(page) == []
