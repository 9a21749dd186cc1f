"""Addresses filled rather than typed, in a real browser: a click on the console's map fills
the address (the national address base, here a stand-in on loopback, or the centre's own
data when it is down), a searched address moves the point; the partners' portal shows
the address and the commune, not coordinates."""

from __future__ import annotations

import os

import pytest

from cameras.models import Site
from geo.models import Commune
from incidents.models import Incident
from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live
from tests.factories import CENTRE, offset
from tests.geo.ban_standin import BanStandIn
from tests.geo.conftest import gare_addresses

pytestmark = pytest.mark.usefixtures("transactional_db")

GARE = "12 Rue de la Gare 95160 Montmorency"


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


@pytest.fixture(scope="module")
def ban():
    standin = BanStandIn(gare_addresses()).start()
    yield standin
    standin.stop()


@pytest.fixture(autouse=True)
def _ban_answers(ban):
    ban.mode = "ok"


@pytest.fixture(scope="module")
def hub_env(ban) -> dict[str, str]:
    # No rest after a failure: each test sets the stand-in's mode for itself.
    return {"HUB_GEOCODER_URL": ban.url, "HUB_GEOCODER_TIMEOUT_SECONDS": "1",
            "HUB_GEOCODER_RETRY_SECONDS": "0"}


def console(signed_in, csp_watch):
    factories.make_commune()
    operator = factories.make_member(role="operator")
    context = signed_in(operator.user)
    csp_watch(context)
    page = live(context.new_page(), "/console/")
    page.locator(".commune-label span", has_text="Montmorency").wait_for()
    return page


def click_map(page, x: float, y: float) -> None:
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)


def test_a_click_on_the_map_fills_the_address(hub, signed_in, csp_watch, ban):
    page = console(signed_in, csp_watch)
    address = page.get_by_label("Adresse (facultatif)")
    assert address.input_value() == ""

    click_map(page, 0.47, 0.42)  # north-west of the centre, nearest to the rue de la Gare
    page.wait_for_function(f"() => document.getElementById('f-address').value === {GARE!r}")
    assert page.locator("#f-address-hint").inner_text() == "Adresse : Base Adresse Nationale."
    # The Croix-Rouge alert is placed at the same point: its place is proposed too.
    assert page.get_by_label("Lieu précis (repère)").input_value() == GARE
    path, params = ban.requests[-1]
    assert path == "/reverse"
    latitude, longitude = page.get_by_label("Latitude"), page.get_by_label("Longitude")
    assert (float(params["lat"]), float(params["lon"])) == (
        float(latitude.input_value()), float(longitude.input_value()))
    screenshot(page, "geocoding-click.png")

    page.get_by_label("Nature").select_option("incendie")
    page.get_by_label("Description").fill("Feu de poubelle")
    page.get_by_role("button", name="Créer l'incident").click()
    page.locator("#form-message").filter(has_text="créé").wait_for()
    assert Incident.objects.get().address == GARE
    assert csp_watch.violations(page) == []


def test_what_the_operator_typed_is_never_replaced(hub, signed_in, csp_watch, ban):
    page = console(signed_in, csp_watch)
    ban.mode = "slow"  # the answer comes after the operator typed
    click_map(page, 0.47, 0.42)
    page.get_by_label("Adresse (facultatif)").fill("devant la boulangerie")
    ban.mode = "ok"
    click_map(page, 0.55, 0.55)  # another point: its answer comes at once
    page.wait_for_function(
        "() => document.getElementById('f-address-hint').textContent === 'Adresse : Base Adresse Nationale.'")
    assert page.get_by_label("Adresse (facultatif)").input_value() == "devant la boulangerie"
    assert page.get_by_label("Lieu précis (repère)").input_value() == GARE  # nobody typed there


def test_a_search_for_a_field_the_operator_left_shows_nothing(hub, signed_in, csp_watch, ban):
    page = console(signed_in, csp_watch)
    field = page.get_by_label("Adresse (facultatif)")
    field.fill("avenue fo")  # a search would propose « 3 Avenue Foch … »
    page.get_by_label("Description").focus()  # left at once, before the search went
    page.wait_for_timeout(1500)  # well past the search's delay and its answer
    assert page.locator("#f-address-suggestions").is_hidden()
    assert field.get_attribute("aria-expanded") == "false"


def test_a_searched_address_moves_the_point(hub, signed_in, csp_watch, ban):
    page = console(signed_in, csp_watch)
    field = page.get_by_label("Adresse (facultatif)")
    field.press_sequentially("avenue fo", delay=30)
    options = page.locator("#f-address-suggestions").get_by_role("option")
    options.first.wait_for()
    assert options.all_inner_texts() == ["3 Avenue Foch 95160 Montmorency"]
    assert field.get_attribute("aria-expanded") == "true"
    screenshot(page, "geocoding-search.png")
    field.press("ArrowDown")
    assert field.get_attribute("aria-activedescendant") == "f-address-suggestions-0"
    field.press("Enter")

    foch = offset(CENTRE, bearing=90, metres=600)
    assert field.input_value() == "3 Avenue Foch 95160 Montmorency"
    assert float(page.get_by_label("Latitude").input_value()) == round(foch.y, 6)
    assert float(page.get_by_label("Longitude").input_value()) == round(foch.x, 6)
    assert page.locator("#f-where").inner_text() == "Commune : Montmorency"
    assert options.count() == 0 or page.locator("#f-address-suggestions").is_hidden()
    assert page.get_by_label("Lieu précis (repère)").input_value() == "3 Avenue Foch 95160 Montmorency"

    # The Croix-Rouge form's place is searched the same way, and moves the same point.
    page.locator("summary", has_text="Signaler à la Croix-Rouge").click()  # opens the form
    place = page.get_by_label("Lieu précis (repère)")
    place.fill("")
    place.press_sequentially("12 rue de la", delay=30)
    page.locator("#alert-address-suggestions").get_by_role("option", name=GARE).click()
    gare = offset(CENTRE, bearing=0, metres=150)
    assert float(page.get_by_label("Latitude").input_value()) == round(gare.y, 6)
    assert place.input_value() == GARE
    assert csp_watch.violations(page) == []


def test_when_the_national_base_is_down_the_centre_data_fills_it(hub, signed_in, csp_watch, ban):
    page = console(signed_in, csp_watch)
    Site.objects.create(code="s-gare", name="Gare", commune=Commune.objects.get(), location=CENTRE,
                        address="5 place de la Gare, 95160 Montmorency")
    ban.mode = "down"
    click_map(page, 0.47, 0.42)
    hint = page.locator("#f-address-hint")
    hint.filter(has_text="injoignable").wait_for()
    assert hint.inner_text() == "Base Adresse Nationale injoignable : adresses tirées des données du centre."
    value = page.get_by_label("Adresse (facultatif)").input_value()
    assert value.startswith("Vers 5 place de la Gare, 95160 Montmorency (site de caméras à "), value
    assert value.endswith(" m)")
    screenshot(page, "geocoding-fallback.png")

    # Searching still works, from the centre's data.
    page.get_by_label("Adresse (facultatif)").fill("")
    page.get_by_label("Adresse (facultatif)").press_sequentially("place de la gar", delay=30)
    page.locator("#f-address-suggestions").get_by_role(
        "option", name="5 place de la Gare, 95160 Montmorency").wait_for()
    assert csp_watch.violations(page) == []


def test_the_portal_shows_the_address_and_the_commune_not_coordinates(hub, signed_in, csp_watch):
    factories.make_commune()
    operator = factories.make_member(role="operator")
    agency = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    incident = incident_create(member=operator, nature="incendie", location=CENTRE,
                               description="Feu de poubelle", address=GARE)
    incident_share(incident=incident, agency_code=agency.code, member=operator)
    agent = factories.make_member(role="partner_agent", agency=agency)
    context = signed_in(agent.user)
    csp_watch(context)
    page = live(context.new_page(), "/portail/incidents/")
    page.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    facts = page.locator("#incident-view .panel-facts")
    facts.wait_for()
    terms = facts.locator("dt").all_inner_texts()
    assert "Position" not in terms
    assert facts.locator("dt:text-is('Lieu') + dd").inner_text() == GARE  # its commune, once
    assert "48.98" not in page.locator("#incident-view").inner_text()
    screenshot(page, "geocoding-portal.png")
    assert csp_watch.violations(page) == []
