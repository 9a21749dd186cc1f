"""Renvoi d'images from the operator console, in Chromium: an operator grants a camera to the police
from the incident panel; the agent's feeds page plays it without a reload; a second operator's
console shows the grant and who watches it; the operator ends it with a reason and the agent's
picture is gone and the page says it was stopped, and why (how fast: benchmarks/video_cuts.py). A
refusal is the hub's own French message, on the page."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from cameras.choices import CameraKind
from incidents.services.incidents import incident_attach_camera, incident_create, incident_share
from partners.choices import AgencyKind
from partners.services import api_token_issue
from streaming.models import Grant
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.live_video import CHROMIUM_EXTRA_ARGS, hub, video_env, wait_until_quiet  # noqa: F401
from tests.factories import CENTRE, offset

# Grants may be asked for up to three days, so that one can overrun an authorisation that ends
# tonight whatever the hour.
EXTRA_ENV = {"HUB_GRANT_MAX_MINUTES": str(3 * 24 * 60)}
LIVE_TIMEOUT = 10_000  # ms
BUSY_TIMEOUT = 20_000  # ms: a wait for a state on a busy machine, ends as soon as it is there
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")


@pytest.fixture
def scene(transactional_db):
    factories.make_commune()
    camera = factories.make_camera(kind=CameraKind.FIXED, code="95428-s010-fixe",
                                   location=offset(CENTRE, bearing=180, metres=150), heading=0, angle=120,
                                   range_m=1500)
    short = factories.make_camera(kind=CameraKind.FIXED, code="95428-s011-fixe",
                                  location=offset(CENTRE, bearing=200, metres=300), heading=10, angle=120,
                                  range_m=1500)
    factories.make_authorisation(cameras=[camera], recipients=["PN", "GN"])
    # This one's authorisation ends tonight.
    factories.make_authorisation(cameras=[short], recipients=["PN"], valid_until=timezone.localdate())
    operator = factories.make_member(role="operator", username="claire")
    second = factories.make_member(role="operator", username="damien")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    agent = factories.make_member(role="partner_agent", agency=pn, username="agent-pn",
                                  habilitation_reference="HAB-E2E",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    agent.user.first_name, agent.user.last_name = "Julie", "Martin"
    agent.user.save()
    here = Point(CENTRE.x, CENTRE.y, srid=4326)
    incident = incident_create(member=operator, nature="rixe", location=here,
                               description="Rixe devant la gare")
    for each in (camera, short):
        incident_attach_camera(incident=incident, camera=each, member=operator)
    incident_share(incident=incident, agency_code=pn.code, member=operator)
    token, _ = api_token_issue(user=operator.user)
    return {"camera": camera, "short": short, "operator": operator, "second": second, "agent": agent,
            "incident": incident, "token": token}


@pytest.fixture(autouse=True)
def _server_quiet(scene, browser, hub):  # noqa: F811 - the hub of live_video
    """After each test: close the pages, and wait until the server hung every viewer up and closed
    its pipelines before the database is emptied for the next test."""
    yield
    for context in list(browser.contexts):
        context.close()
    wait_until_quiet(hub, scene["token"])


def open_incident(page, incident):
    page.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    page.locator(".grants-section").wait_for()
    # The cameras' facts are in: the form offers the attached cameras by their codes.
    page.locator("#grant-camera option", has_text="95428-s010-fixe").wait_for(state="attached")
    return page.locator(".grants-section")


def test_an_operator_grants_a_camera_from_the_console_and_revokes_it(scene, signed_in, csp_watch):
    camera, incident = scene["camera"], scene["incident"]
    partner_context = signed_in(scene["agent"].user)
    csp_watch(partner_context)
    feeds = live(partner_context.new_page(), "/portail/flux/")
    feeds.evaluate("window.__sameDocument = true")
    feeds.locator("#feeds-empty").filter(has_text="Aucun renvoi d'images en cours").wait_for()

    operator_context = signed_in(scene["operator"].user)
    csp_watch(operator_context)
    console = live(operator_context.new_page(), "/console/")
    section = open_incident(console, incident)
    other = live(signed_in(scene["second"].user).new_page(), "/console/")
    other_section = open_incident(other, incident)
    assert section.locator(".grant-none").inner_text() == "Aucun renvoi d'images en cours."

    # The form: the incident's cameras, the services it is shared with (police only: video-capable).
    console.locator("#grant-camera").select_option(label="95428-s010-fixe (associée)")
    police = console.get_by_role("radio", name="Agency pn-montmorency")
    assert police.is_checked()
    assert console.get_by_label("Durée (minutes)").input_value() == "30"
    console.get_by_label("Motif", exact=True).fill("Suivi des individus vers la gare")
    console.get_by_role("button", name="Renvoyer les images").click()
    done = "Images de 95428-s010-fixe renvoyées à Agency pn-montmorency"
    section.locator(".form-message.ok", has_text=done).wait_for(timeout=LIVE_TIMEOUT)
    grant = Grant.objects.get()
    assert (grant.camera, grant.agency.code, grant.incident, grant.reason) == (
        camera, "pn-montmorency", incident, "Suivi des individus vers la gare")
    assert round((grant.expires_at - grant.created_at).total_seconds()) == 30 * 60

    # The agent's page plays it, without a reload.
    tile = feeds.locator(f".video-tile[data-camera='{camera.pk}']")
    tile.wait_for(timeout=LIVE_TIMEOUT)
    feeds.wait_for_function(f"() => document.querySelector(\".video-tile[data-camera='{camera.pk}']\")"
                            ".dataset.state === 'playing'", timeout=LIVE_TIMEOUT)
    assert "Suivi des individus vers la gare" in tile.locator(".video-sub").inner_text()
    assert feeds.evaluate("window.__sameDocument") is True

    # Both consoles show the grant, counting down, and who watches it.
    for where in (section, other_section):
        item = where.locator(f".grant[data-grant-id='{grant.pk}']")
        item.wait_for(timeout=LIVE_TIMEOUT)
        assert "Agency pn-montmorency" in item.inner_text()
        item.locator(".grant-viewers", has_text="1 regarde : Julie Martin").wait_for(timeout=LIVE_TIMEOUT)
        countdown = item.locator(".grant-countdown").inner_text()
        assert countdown.startswith("expire dans "), countdown
    if SCREENSHOTS:
        console.set_viewport_size({"width": 1920, "height": 1080})
        section.scroll_into_view_if_needed()
        console.screenshot(path=os.path.join(SCREENSHOTS, "console-grants.png"))
        feeds.set_viewport_size({"width": 1920, "height": 1080})
        feeds.screenshot(path=os.path.join(SCREENSHOTS, "feeds-live.png"))

    # Extended in one click: 30 more minutes; the other console and the agent's page follow.
    item = section.locator(f".grant[data-grant-id='{grant.pk}']")
    before = grant.expires_at
    extend = "Prolonger de 30 minutes le renvoi de 95428-s010-fixe à Agency pn-montmorency"
    item.get_by_role("button", name=extend).click()
    section.locator(".form-message.ok", has_text="prolongé jusqu'à").wait_for(timeout=LIVE_TIMEOUT)
    grant.refresh_from_db()
    assert grant.expires_at - before >= dt.timedelta(minutes=29)
    until = f"jusqu'à {timezone.localtime(grant.expires_at):%H:%M}"
    other_item = other_section.locator(f".grant[data-grant-id='{grant.pk}']", has_text=until)
    other_item.wait_for(timeout=LIVE_TIMEOUT)
    tile.locator(".video-sub", has_text=until).wait_for(timeout=LIVE_TIMEOUT)

    # Ended from the console, with a reason: the agent's picture goes, and the page says it was
    # stopped by the centre, and why. The wait ends as soon as it is gone; how fast the picture is
    # cut is measured by benchmarks/video_cuts.py, not here.
    item = section.locator(f".grant[data-grant-id='{grant.pk}']")
    item.get_by_role("button", name="Mettre fin au renvoi de 95428-s010-fixe à Agency pn-montmorency").click()
    console.get_by_label("Motif de la fin du renvoi (transmis à Agency pn-montmorency)").fill(
        "Individus interpellés")
    item.get_by_role("button", name="Confirmer la fin du renvoi").click()
    feeds.wait_for_function(
        f"""() => {{
          const tile = document.querySelector(".video-tile[data-camera='{camera.pk}']");
          return tile && !tile.querySelector("video") && tile.dataset.endReason === "revoked";
        }}""", timeout=BUSY_TIMEOUT)
    message = tile.locator(".video-message").inner_text()
    assert message.startswith("Renvoi d'images arrêté par le centre à "), message
    assert message.endswith("Motif : Individus interpellés"), message
    grant.refresh_from_db()
    assert (grant.revoke_reason, grant.end_reason) == ("Individus interpellés", "revoked")
    # The other console follows: no grant in progress, the ended one listed with its reason.
    other_section.locator(".grant-none").wait_for(timeout=LIVE_TIMEOUT)
    other_section.locator(".grants-ended li", has_text="Individus interpellés").wait_for(
        state="attached", timeout=LIVE_TIMEOUT)
    if SCREENSHOTS:
        feeds.screenshot(path=os.path.join(SCREENSHOTS, "feeds-ended.png"))
    assert csp_watch.violations(feeds) == [] and csp_watch.violations(console) == []


def test_a_refused_grant_shows_the_hub_s_french_message(scene, signed_in):
    console = live(signed_in(scene["operator"].user).new_page(), "/console/")
    section = open_incident(console, scene["incident"])
    console.locator("#grant-camera").select_option(label="95428-s011-fixe (associée)")
    until = section.locator(".grant-until").inner_text()
    assert f"Autorisation préfectorale jusqu'au {timezone.localdate():%d/%m/%Y} inclus." in until
    # More than a day: past tonight's end of the authorisation, whatever the hour.
    console.get_by_label("Durée (minutes)").fill(str(25 * 60))
    console.get_by_label("Motif", exact=True).fill("Suivi")
    console.get_by_role("button", name="Renvoyer les images").click()
    error = section.locator(".form-message.error")
    error.wait_for(timeout=LIVE_TIMEOUT)
    text = error.inner_text()
    assert text.startswith(
        f"Renvoi refusé : L'autorisation préfectorale de la caméra 95428-s011-fixe est valable jusqu'au "
        f"{timezone.localdate():%d/%m/%Y} inclus : un renvoi d'images ne peut pas aller au-delà ("), text
    assert not Grant.objects.exists()


def test_no_video_service_no_form_and_never_the_croix_rouge(scene, signed_in):
    here = Point(CENTRE.x, CENTRE.y, srid=4326)
    incident = incident_create(member=scene["operator"], nature="detresse", location=here,
                               description="Personne en détresse")
    incident_attach_camera(incident=incident, camera=scene["camera"], member=scene["operator"])
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-plaine-vallee")
    incident_share(incident=incident, agency_code=crf.code, member=scene["operator"])
    console = live(signed_in(scene["operator"].user).new_page(), "/console/")
    console.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    hint = console.locator(".grant-hint")
    hint.wait_for(timeout=LIVE_TIMEOUT)
    assert "partagez d'abord l'incident" in hint.inner_text()
    assert "La Croix-Rouge ne reçoit jamais d'images" in hint.inner_text()
    assert console.locator("#grant-camera").count() == 0
    # Shared with the police meanwhile, by another console: the form comes, with the police only.
    incident_share(incident=incident, agency_code="pn-montmorency", member=scene["second"])
    console.get_by_role("radio", name="Agency pn-montmorency").wait_for(timeout=LIVE_TIMEOUT)
    assert console.locator(".grant-agencies input").count() == 1


def test_closing_the_incident_ends_the_partner_s_feed_and_says_so(scene, signed_in):
    from incidents.services.incidents import incident_transition
    from streaming.services import grant_create

    camera, incident = scene["camera"], scene["incident"]
    grant_create(camera=camera, agency_code="pn-montmorency", incident=incident,
                 granted_by=scene["operator"].user, minutes=30, reason="Suivi")
    feeds = live(signed_in(scene["agent"].user).new_page(), "/portail/flux/")
    feeds.wait_for_function(f"() => document.querySelector(\".video-tile[data-camera='{camera.pk}']\")"
                            "?.dataset.state === 'playing'", timeout=LIVE_TIMEOUT)
    incident_transition(incident=incident, status="closed", member=scene["operator"])
    tile = feeds.locator(f".video-tile[data-camera='{camera.pk}'][data-end-reason='incident_closed']")
    tile.wait_for(timeout=LIVE_TIMEOUT)
    assert tile.locator("video").count() == 0
    message = tile.locator(".video-message").inner_text()
    assert message.startswith("Renvoi d'images arrêté à ") and message.endswith(
        f"l'incident {incident.reference} est terminé."), message
