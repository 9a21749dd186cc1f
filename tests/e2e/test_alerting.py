"""What wakes a night operator, in real browsers: a flash from a field unit, an escalation and a
new Croix-Rouge alert make the page beep (Web Audio oscillators, seen through a wrapped
``OscillatorNode.start``), show the count in the header and in the tab's title, again and again
until someone acknowledges; acknowledging clears all three. Headless Chromium keeps audio
suspended until a click, as desktop browsers do: the page asks for that click once per session.
"""

from __future__ import annotations

import pytest

from incidents.services.alerts import alert_acknowledge, alert_raise
from incidents.services.radio import net_for_agency, radio_message_send
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.traffic_story import escalate_alert, escalate_radio
from tests.factories import CENTRE

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 20_000  # the machine running the suite may be busy: waiting longer costs nothing when it is not
DESKTOP = {"width": 1920, "height": 1080}
CONSOLE_TITLE = "Console opérateur — CSUi Plaine Vallée"
PROMPT = "Cliquez pour activer les alertes sonores"

# Keeps the page's AudioContext and records every oscillator started, with the context's state
# at that moment (a suspended context makes no sound).
SOUND_PROBE = """
window.__sounds = [];
const NativeAudioContext = window.AudioContext;
window.AudioContext = class extends NativeAudioContext {
  constructor(...args) { super(...args); window.__audio = this; }
};
const nativeStart = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__sounds.push({ frequency: this.frequency.value, state: this.context.state });
  return nativeStart.apply(this, args);
};
"""
AUDIBLE = "() => window.__sounds.filter((s) => s.state === 'running').length"


def page_with_probe(signed_in, user, path: str, *, desktop: bool = False):
    context = signed_in(user)
    context.add_init_script(SOUND_PROBE)
    page = context.new_page()
    if desktop:
        page.set_viewport_size(DESKTOP)
    return live(page, path)


def enable_sound(page) -> None:
    """The operator's first click, on the page's own request."""
    assert page.evaluate("window.__audio.state") == "suspended", "the browser did not block audio"
    page.get_by_role("button", name=PROMPT).click()
    page.wait_for_function("() => window.__audio.state === 'running'")
    assert page.locator("#sound-prompt").is_hidden()


def assert_ringing(page, count: int, title: str, *, beeps: int = 3) -> None:
    """``count`` alarms in the header and the title, and the page beeping (``beeps`` so far)."""
    page.locator(f"#alarm[data-alarm='{count}'][data-sound='ringing']").wait_for(timeout=LIVE)
    assert page.locator("#alarm-count").inner_text() == str(count)
    assert page.title() == f"({count}) {title}"
    page.wait_for_function(f"() => ({AUDIBLE})() >= {beeps}", timeout=LIVE)


def assert_quiet(page, title: str) -> None:
    page.locator("#alarm[data-alarm='0'][data-sound='off']").wait_for(timeout=LIVE)
    assert page.locator("#alarm-count").inner_text() == "0"
    assert page.title() == title


def test_a_flash_from_a_tablet_rings_on_the_console_until_the_centre_acknowledges(hub, signed_in):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    operator = factories.make_member(role="operator", username="alice")
    unit = factories.make_unit(agency=pn, callsign="TV 12")

    console = page_with_probe(signed_in, operator.user, "/console/", desktop=True)
    enable_sound(console)
    assert_quiet(console, CONSOLE_TITLE)

    tablet = live(signed_in(unit.member.user).new_page(), "/terrain/")
    tablet.get_by_label("Réseau").select_option(str(net_for_agency(pn).pk))
    tablet.get_by_label("Précédence").select_option("flash")
    tablet.get_by_label("Message", exact=True).fill("Agression en cours devant la gare, individu armé")
    tablet.get_by_role("button", name="Envoyer").click()

    row = console.locator("#radio-log .radio-message.priority-flash.to-ack")
    row.wait_for(timeout=LIVE)
    assert "Agression en cours devant la gare" in row.inner_text()
    # Two flash patterns at least: it keeps ringing while nobody answers.
    assert_ringing(console, 1, CONSOLE_TITLE, beeps=6)
    assert console.locator("#alarm-silence").inner_text() == "Couper le son"

    row.get_by_role("button", name="Acquitter").click()
    assert_quiet(console, CONSOLE_TITLE)
    console.locator("#radio-log .radio-message.priority-flash[data-pending='']").wait_for(timeout=LIVE)
    heard = console.evaluate(AUDIBLE)
    console.wait_for_timeout(3500)  # longer than the flash pattern's period
    assert console.evaluate(AUDIBLE) == heard, "still beeping after the acknowledgement"


def test_silencing_stops_the_sound_but_keeps_the_count_until_acknowledged(hub, signed_in):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    operator = factories.make_member(role="operator", username="alice")
    unit = factories.make_unit(agency=pn, callsign="TV 12")
    console = page_with_probe(signed_in, operator.user, "/console/", desktop=True)
    enable_sound(console)

    radio_message_send(member=unit.member, net=net_for_agency(pn), priority="urgent",
                       text="Demande de renfort rue de la Gare")
    assert_ringing(console, 1, CONSOLE_TITLE)
    console.get_by_role("button", name="Couper le son").click()
    console.locator("#alarm[data-alarm='1'][data-sound='silenced']").wait_for()
    assert console.title() == f"(1) {CONSOLE_TITLE}"
    heard = console.evaluate(AUDIBLE)

    # A new alarm rings again, silenced or not.
    radio_message_send(member=unit.member, net=net_for_agency(pn), priority="flash",
                       text="Coups de feu entendus")
    assert_ringing(console, 2, CONSOLE_TITLE, beeps=heard + 3)
    for row in console.locator("#radio-log .radio-message.to-ack").all():
        row.get_by_role("button", name="Acquitter").click()
    assert_quiet(console, CONSOLE_TITLE)


def test_escalations_ring_on_the_console_until_seen_or_acknowledged(hub, signed_in):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")
    operator = factories.make_member(role="operator", username="alice")
    desk = factories.make_member(role="partner_agent", agency=crf, username="crf-desk")
    unit = factories.make_unit(agency=pn, callsign="TV 12")
    console = page_with_probe(signed_in, operator.user, "/console/", desktop=True)
    enable_sound(console)

    # The centre's own flash waits for the unit: nothing to answer at the centre yet.
    flash = radio_message_send(member=operator, to_unit=unit, priority="flash", text="TV 12, rappelez le CSU")
    console.locator(f"#radio-log [data-message='{flash.pk}']").wait_for(timeout=LIVE)
    assert console.locator("#alarm").get_attribute("data-alarm") == "0"

    # Unanswered after every re-send: escalated to the supervisors, on the console.
    escalate_radio([flash])
    row = console.locator(f"#radio-log .radio-message.escalated[data-message='{flash.pk}']")
    row.wait_for(timeout=LIVE)
    assert "Escaladé au superviseur" in row.inner_text()
    assert_ringing(console, 1, CONSOLE_TITLE)
    row.get_by_role("button", name="Escalade vue").click()
    assert_quiet(console, CONSOLE_TITLE)

    # An alert the Croix-Rouge leaves unacknowledged: escalated, on the console, until they answer.
    alert = alert_raise(member=operator, location=CENTRE, description="Personne au sol, froid")
    escalate_alert(alert)
    console.locator(f"#console-alerts .alert-card.escalated[data-alert='{alert.pk}']").wait_for(timeout=LIVE)
    assert_ringing(console, 1, CONSOLE_TITLE)
    alert_acknowledge(alert=alert, member=desk)
    acknowledged = f"#console-alerts .alert-card[data-alert='{alert.pk}'][data-status='acknowledged']"
    console.locator(acknowledged).wait_for(timeout=LIVE)
    assert_quiet(console, CONSOLE_TITLE)

    # An escalation marked as seen stays seen on this console after a reload.
    console.reload()
    console.locator("#connection[data-state='open']").wait_for(timeout=LIVE)
    console.locator(f"#radio-log .radio-message.escalated[data-message='{flash.pk}']").wait_for(timeout=LIVE)
    assert console.locator("#alarm").get_attribute("data-alarm") == "0"
    assert console.title() == CONSOLE_TITLE


def test_a_new_alert_rings_on_the_croix_rouge_desk_and_tablet_until_acknowledged(hub, signed_in):
    factories.make_commune()
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")
    operator = factories.make_member(role="operator", username="alice")
    desk_member = factories.make_member(role="partner_agent", agency=crf, username="crf-desk")
    unit = factories.make_unit(agency=crf, callsign="MARAUDE 1")
    desk = page_with_probe(signed_in, desk_member.user, "/portail/alertes/")
    desk_title = desk.title()
    enable_sound(desk)
    tablet = page_with_probe(signed_in, unit.member.user, "/terrain/")
    tablet_title = tablet.title()
    enable_sound(tablet)
    assert_quiet(desk, desk_title)

    alert = alert_raise(member=operator, location=CENTRE, address="Parvis de la gare",
                        description="Homme âgé allongé sur un banc, peu couvert", conditions=["cold"])
    card = desk.locator(f"#alert-list .alert-card[data-alert='{alert.pk}'][data-status='raised']")
    card.wait_for(timeout=LIVE)
    assert_ringing(desk, 1, desk_title)
    assert_ringing(tablet, 1, tablet_title)

    card.get_by_role("button", name="Prendre en compte").click()
    assert_quiet(desk, desk_title)
    assert_quiet(tablet, tablet_title)


def test_the_sound_prompt_appears_once_per_session_when_the_browser_blocks_audio(hub, signed_in):
    factories.make_commune()
    operator = factories.make_member(role="operator", username="alice")
    console = page_with_probe(signed_in, operator.user, "/console/", desktop=True)
    prompt = console.locator("#sound-prompt")
    assert console.evaluate("window.__audio.state") == "suspended"
    assert prompt.is_visible()
    assert "le son" in prompt.inner_text() and PROMPT in prompt.inner_text()

    console.get_by_role("button", name=PROMPT).click()
    console.wait_for_function("() => window.__audio.state === 'running'")
    assert prompt.is_hidden()

    # Same session, page reloaded: the browser suspends audio again, the page does not ask again;
    # the first click anywhere turns the sound back on.
    console.reload()
    console.locator("#connection[data-state='open']").wait_for(timeout=LIVE)
    assert console.evaluate("window.__audio.state") == "suspended"
    assert prompt.is_hidden()
    console.locator(".topbar h1").click()
    console.wait_for_function("() => window.__audio.state === 'running'")
    assert prompt.is_hidden()

    # Another session asks again.
    other = page_with_probe(signed_in, operator.user, "/console/", desktop=True)
    assert other.locator("#sound-prompt").is_visible()
