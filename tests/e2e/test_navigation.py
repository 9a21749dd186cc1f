"""Finding one's way in Chromium: each role's menu shows the pages it may open and each of them
opens (no 404, no script error, nothing the Content-Security-Policy refuses), ``/`` leads each
role to its desk, a field unit signs in straight to its tablet, the favicon answers, long texts
fold with "lire la suite"."""

from __future__ import annotations

import pyotp
import pytest

from incidents.services.incidents import incident_create, incident_share
from incidents.services.journal import journal_append
from partners.choices import AgencyKind
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)
LONG = ("Rixe entre une dizaine de personnes devant l'entrée de la gare, deux blessés légers au sol. "
        "Un individu en blouson rouge et casquette noire s'éloigne à pied vers la rue de la Gare en "
        "direction du centre commercial ; un second, blouson kaki, a pris un scooter noir sans plaque "
        "vers Soisy. Témoin sur place qui a filmé la scène avec son téléphone, à recontacter. ") * 2


def _people():
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-nav")
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-nav")
    return {
        "operator": factories.make_member(role="operator"),
        "auditor": factories.make_member(role="auditor"),
        "agent_pn": factories.make_member(role="partner_agent", agency=pn),
        "agent_crf": factories.make_member(role="partner_agent", agency=crf),
        "unit_pn": factories.make_unit(agency=pn, callsign="PS NAV 1").member,
    }


# What each one's menu offers (data-page keys) and where "/" leads.
MENUS = {
    "operator": ({"console", "wall", "requisitions", "register", "sessions", "security"}, "/console/"),
    "auditor": ({"register", "audit", "sessions", "security"}, "/registre/"),
    "agent_pn": ({"portal", "feeds", "sessions", "security"}, "/portail/incidents/"),
    "agent_crf": ({"portal", "alerts", "sessions", "security"}, "/portail/alertes/"),
    "unit_pn": ({"tablet", "portal", "sessions", "security"}, "/terrain/"),
}


def _watch(page, hub_url: str) -> list[str]:
    """Every 404, failed request and script error of ``page``, as it happens."""
    problems: list[str] = []
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status == 404 and r.url.startswith(hub_url) else None)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
    return problems


@pytest.mark.parametrize("name", MENUS)
def test_each_role_sees_its_pages_in_the_menu_and_each_opens(hub, signed_in, csp_watch, name):
    member = _people()[name]
    expected, desk = MENUS[name]
    context = signed_in(member.user)
    csp_watch(context)
    page = context.new_page()
    problems = _watch(page, hub.url)
    page.goto("/")
    page.wait_for_url(f"**{desk}")
    menu = page.locator("nav.site-menu a[data-page]")
    offered = {menu.nth(i).get_attribute("data-page"): menu.nth(i).get_attribute("href")
               for i in range(menu.count())}
    assert set(offered) == expected, name
    assert page.locator("nav.site-menu").get_by_text(member.user.get_username()).is_visible()
    assert page.locator("nav.site-menu").get_by_role("button", name="Se déconnecter").is_visible()
    for key, href in offered.items():
        if key == "audit":  # a CSV file, downloaded
            answer = page.request.get(href)
            assert answer.status == 200 and answer.headers["content-type"].startswith("text/csv")
            continue
        answer = page.goto(href)
        assert answer.status == 200, (name, key, answer.status)
        current = page.locator("nav.site-menu a[aria-current='page']")
        assert current.count() == 1 and current.get_attribute("data-page") == key, (name, key)
        page.wait_for_load_state("networkidle")
        assert csp_watch.violations(page) == [], (name, key)
    # Pages outside the menu answer "no" (403 or elsewhere), never open.
    for refused in {"/console/", "/mur/", "/requisitions/", "/terrain/", "/portail/alertes/"} - {
            href for href in offered.values()}:
        answer = page.goto(refused)
        assert answer.status == 403 or not page.url.endswith(refused), (name, refused)
    # The refusals just asked for; the CSP's reports are csp_watch's (its probe is one of them).
    problems = [p for p in problems if "403" not in p and "Content Security Policy" not in p]
    assert problems == [], (name, problems)
    context.close()


def test_home_sends_the_signed_out_to_the_sign_in_and_a_field_unit_signs_in_to_its_tablet(
        hub, new_context):
    factories.make_commune()
    member = factories.make_unit(callsign="PS NAV 2").member
    member.user.set_password(PASSWORD)
    member.user.save()
    page = new_context().new_page()
    page.goto("/")
    page.wait_for_url("**/accounts/login/")
    page.get_by_label("Identifiant").fill(member.user.get_username())
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/terrain/")
    assert page.locator("#tablet-callsign").inner_text() == "PS NAV 2"
    assert page.locator("nav.site-menu a[aria-current='page']").inner_text() == "Tablette"


def test_a_partner_agent_signs_in_with_the_code_to_the_portal(hub, new_context):
    secret = pyotp.random_base32()
    agency = factories.make_agency(kind=AgencyKind.GN, code="gn-nav")
    member = factories.make_member(role="partner_agent", agency=agency, password=PASSWORD, totp_secret=secret)
    page = new_context().new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Identifiant").fill(member.user.get_username())
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/portail/incidents/")
    page.get_by_role("link", name="Flux vidéo").click()
    page.wait_for_url("**/portail/flux/")


def test_the_favicon_answers_on_every_page(hub, signed_in):
    operator = factories.make_member(role="operator")
    page = signed_in(operator.user).new_page()
    page.goto("/console/")
    icon = page.locator("link[rel='icon']").get_attribute("href")
    assert page.request.get(icon).status == 200
    answer = page.request.get("/favicon.ico")
    assert answer.status == 200 and answer.headers["content-type"] == "image/x-icon"
    assert answer.body()[:4] == b"\x00\x00\x01\x00"


def test_long_texts_fold_with_lire_la_suite(hub, signed_in):
    factories.make_commune()
    operator = factories.make_member(role="operator")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-fold")
    incident = incident_create(member=operator, nature="rixe", location=factories.CENTRE,
                               description=LONG)
    incident_share(incident=incident, agency_code=pn.code, member=operator)
    journal_append(incident=incident, member=operator, text="Patrouille sur place.")
    page = signed_in(operator.user).new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto("/console/")
    page.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    description = page.locator(".panel-description")
    description.wait_for()
    toggle = page.locator(".panel-description + button.fold-toggle")
    toggle.wait_for()
    folded = description.bounding_box()["height"]
    assert toggle.inner_text() == "lire la suite"
    toggle.click()
    assert toggle.inner_text() == "réduire"
    assert toggle.get_attribute("aria-expanded") == "true"
    assert description.bounding_box()["height"] > folded * 1.5
    toggle.click()
    assert toggle.inner_text() == "lire la suite"
    assert description.bounding_box()["height"] == pytest.approx(folded, abs=1)
    # A short text is not folded: no button under it.
    short = page.locator(".journal-text", has_text="Patrouille sur place.")
    short.wait_for()
    assert page.locator('.journal-text:has-text("Patrouille sur place.") + button.fold-toggle').is_hidden()
