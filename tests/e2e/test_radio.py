"""Radio in real browsers: an operator sends a flash to a unit; the unit's tablet shows it and
acknowledges it; the operator's console shows the acknowledgement, live."""

from __future__ import annotations

import pytest

from incidents.models import RadioReceipt
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 10_000


def test_a_flash_is_shown_acknowledged_on_the_tablet_and_the_console_sees_it(hub, signed_in, csp_watch):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    operator = factories.make_member(role="operator", username="alice")
    unit = factories.make_unit(agency=pn, callsign="TV 12")

    tablet_context = signed_in(unit.member.user)
    csp_watch(tablet_context)
    tablet = live(tablet_context.new_page(), "/terrain/")
    console_context = signed_in(operator.user)
    csp_watch(console_context)
    console = live(console_context.new_page(), "/console/")

    console.locator("#unit-list li[data-callsign='TV 12']").wait_for(timeout=LIVE)
    console.get_by_label("Destinataire").select_option(f"unit:{unit.pk}")
    console.get_by_label("Précédence").select_option("flash")
    console.get_by_label("Message", exact=True).fill("TV 12, rappelez le CSU immédiatement")
    console.locator("#radio-form button[type='submit']").click()
    console.locator("#radio-log .radio-message.priority-flash[data-pending='TV 12']").wait_for(timeout=LIVE)

    flash = tablet.locator("#tablet-radio .radio-message.priority-flash.to-ack")
    flash.wait_for(timeout=LIVE)
    assert "rappelez le CSU immédiatement" in flash.inner_text()
    flash.get_by_role("button", name="Acquitter").click()

    acked = console.locator("#radio-log .radio-message.priority-flash[data-pending='']")
    acked.wait_for(timeout=LIVE)
    assert "Acquitté : TV 12" in acked.inner_text()
    tablet.wait_for_function("() => document.getElementById('tablet').dataset.queued === '0'")
    assert RadioReceipt.objects.get().acknowledged_by == unit.member.user
    for page in (tablet, console):
        assert csp_watch.violations(page) == []
