"""Radio traffic, units and alerts are readable on every page that shows them: every piece of
text, as the browser renders it, has a contrast of at least 4.5:1 with what is behind it (WCAG
AA), for every priority in every state (waiting for an acknowledgement, acknowledged, re-sent,
escalated; rows hovered and selected), every unit status and every alert status; and nothing
runs past the edge of its card (a 40-character callsign, a plate number, a long address).

E2E_SCREENSHOTS=/some/folder keeps a picture of each page.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import live
from tests.e2e.readability import contrast_failures, overflow_failures
from tests.e2e.traffic_story import LONG_CALLSIGN, build_traffic

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 20_000  # the machine running the suite may be busy: waiting longer costs nothing when it is not
DESKTOP = {"width": 1920, "height": 1080}
MAP = ".leaflet-container"  # map labels are drawn with a halo: not measured here

UNIT_STATUSES = ("available", "en_route", "on_scene", "unavailable")
OPEN_ALERTS = ("raised", "acknowledged", "taken_charge")
PRIORITIES = ("routine", "urgent", "flash")


def screenshot(page, name: str) -> None:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


def wait_all(page, selectors: list[str]) -> None:
    """Every state the test is about is on the screen before anything is measured."""
    for selector in selectors:
        page.locator(selector).first.wait_for(state="attached", timeout=LIVE)


def readability(page, root: str = "body", *, at_least: int) -> list[str]:
    checked, failures = contrast_failures(page, root, exclude=MAP)
    assert checked >= at_least, f"only {checked} pieces of text measured under {root}"
    return failures + overflow_failures(page, root, exclude=MAP)


def radio_states(log: str, *, mine: bool = True) -> list[str]:
    states = [f"{log} .radio-message.priority-{p}[data-pending='']" for p in PRIORITIES]
    if mine:
        states += [f"{log} .radio-message.priority-{p}.to-ack" for p in PRIORITIES]
    states += [f"{log} .radio-message.priority-{p}.escalated" for p in ("urgent", "flash")]
    return states


def test_console_traffic_units_and_alerts_are_readable(hub, signed_in):
    traffic = build_traffic(incidents=True)
    page = signed_in(traffic.operator.user).new_page()
    page.set_viewport_size(DESKTOP)
    live(page, "/console/")
    wait_all(page, [
        *radio_states("#radio-log"),
        *(f"#unit-list [data-status='{s}']" for s in UNIT_STATUSES),
        f"#unit-list [data-callsign='{LONG_CALLSIGN}']",
        *(f"#console-alerts .alert-card[data-status='{s}']" for s in OPEN_ALERTS),
        "#console-alerts .alert-card.escalated",
        "#incident-list tr",
    ])
    traffic.resend_now()
    page.locator("#radio-log .radio-message .radio-resend").first.wait_for(state="attached", timeout=LIVE)

    failures = readability(page, at_least=80)
    row = page.locator("#incident-list tr").first
    row.hover()
    failures += [f"(hovered) {f}" for f in readability(page, "#incident-list", at_least=5)]
    row.locator("button.open").click()
    page.locator("#incident-view:not([hidden]) .journal-entry").first.wait_for(timeout=LIVE)
    page.mouse.move(0, 0)
    failures += [f"(selected) {f}" for f in readability(page, "#incident-list, #drawer", at_least=10)]
    # The clicks above let the page make sound: the header rings now.
    page.locator("#alarm[data-sound='ringing']").wait_for(timeout=LIVE)
    failures += [f"(ringing) {f}" for f in readability(page, ".topbar", at_least=4)]
    screenshot(page, "console-traffic.png")
    page.locator("summary", has_text="Signaler à la Croix-Rouge").click()
    page.get_by_label("Grand froid").check()
    page.get_by_label("Lieu précis (repère)").hover()
    failures += [f"(alert form) {f}" for f in readability(page, "#alert-compose", at_least=10)]
    screenshot(page, "console-alert-form.png")
    assert not failures, "\n".join(failures)


def test_tablet_traffic_and_alerts_are_readable(hub, signed_in):
    traffic = build_traffic()
    page = live(signed_in(traffic.crf_unit.member.user).new_page(), "/terrain/")
    wait_all(page, [
        *radio_states("#tablet-radio"),
        *(f"#tablet-alerts .alert-card[data-status='{s}']" for s in OPEN_ALERTS),
        "#tablet-alerts .alert-card.escalated",
    ])
    traffic.resend_now()
    page.locator("#tablet-radio .radio-message .radio-resend").first.wait_for(state="attached", timeout=LIVE)

    failures = readability(page, at_least=40)
    button = page.locator("#status-buttons button[data-status='on_scene']")
    button.hover()
    failures += [f"(hovered) {f}" for f in readability(page, "#status-buttons", at_least=4)]
    screenshot(page, "tablet-traffic.png")
    assert not failures, "\n".join(failures)


def test_croix_rouge_desk_alerts_are_readable(hub, signed_in):
    traffic = build_traffic()
    page = live(signed_in(traffic.crf_desk.user).new_page(), "/portail/alertes/")
    wait_all(page, [
        *(f"#alert-list .alert-card[data-status='{s}']"
          for s in ("raised", "acknowledged", "taken_charge", "closed")),
        "#alert-list .alert-card.escalated",
    ])
    failures = readability(page, at_least=30)
    screenshot(page, "crf-desk.png")
    assert not failures, "\n".join(failures)


def test_partner_portal_incidents_and_radio_extracts_are_readable(hub, signed_in):
    traffic = build_traffic(incidents=True)
    page = signed_in(traffic.pn_agent.user).new_page()
    page.set_viewport_size(DESKTOP)
    live(page, "/portail/incidents/")
    wait_all(page, [f"#incident-list tr.priority-{p}" for p in (1, 2, 3)]
             + [f"#incident-list tr.status-{s}" for s in ("open", "engaged", "closed", "cancelled")])
    failures = readability(page, at_least=30)
    first = traffic.incidents[0]
    row = page.locator(f"#incident-list tr[data-id='{first.pk}']")
    row.hover()
    failures += [f"(hovered) {f}" for f in readability(page, "#incident-list", at_least=5)]
    row.locator("button.open").click()
    page.locator("#incident-view .journal-entry.kind-radio").first.wait_for(timeout=LIVE)
    page.mouse.move(0, 0)
    failures += [f"(selected) {f}" for f in readability(page, "#incident-list, #drawer", at_least=10)]
    screenshot(page, "portal.png")
    assert not failures, "\n".join(failures)
