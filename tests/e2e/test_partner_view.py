"""Sharing, live, in real browsers: an incident an operator creates on the map appears on
another operator's console at once, and on the portal of the partner agency it is shared
with, never on the portal of another agency."""

from __future__ import annotations

import os

import pytest

from incidents.models import Incident
from partners.choices import AgencyKind
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)
LIVE_TIMEOUT = 10_000  # ms
EMPTY_PORTAL = "Aucun incident partagé avec votre service pour le moment."


def screenshot(page, name: str) -> None:
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


def live(page, path: str):
    """Open ``path`` and wait until its event stream is connected."""
    page.goto(path)
    page.locator("#connection[data-state='open']").wait_for(timeout=LIVE_TIMEOUT)
    page.evaluate("window.__sameDocument = true")  # gone if the page is ever reloaded
    return page


def console_of(new_context, csp_watch, username: str):
    """An operator's console, logged in through the login page (operators have no second factor)."""
    context = new_context()
    csp_watch(context)
    page = context.new_page()
    page.goto("/accounts/login/?next=/console/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/console/")
    live(page, "/console/")
    page.locator(".commune-label span", has_text="Montmorency").wait_for()
    return page


def portal_of(signed_in, csp_watch, member):
    """A partner agent's portal. Partner agents sign in with a second factor: the session is
    opened by the test instead (see the ``signed_in`` fixture)."""
    context = signed_in(member.user)
    csp_watch(context)
    page = live(context.new_page(), "/portail/incidents/")
    page.locator("#incidents-empty", has_text=EMPTY_PORTAL).wait_for()
    return page


def rows(page):
    return page.locator("#incident-list tr")


def test_a_shared_incident_appears_live_on_the_right_screens_only(hub, new_context, signed_in, csp_watch):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    gn = factories.make_agency(kind=AgencyKind.GN, code="gn-domont")
    factories.make_member(role="operator", username="alice", password=PASSWORD)
    factories.make_member(role="operator", username="bruno", password=PASSWORD)
    agent_pn = factories.make_member(role="partner_agent", agency=pn, username="agent-pn")
    agent_gn = factories.make_member(role="partner_agent", agency=gn, username="agent-gn")

    bruno = console_of(new_context, csp_watch, "bruno")
    pn_portal = portal_of(signed_in, csp_watch, agent_pn)
    gn_portal = portal_of(signed_in, csp_watch, agent_gn)
    alice = console_of(new_context, csp_watch, "alice")

    # Alice clicks the map and opens an incident.
    box = alice.locator("#map").bounding_box()
    alice.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.6)
    assert alice.locator("#f-where").inner_text() == "Commune : Montmorency"
    alice.get_by_label("Nature").select_option("malaise")
    alice.get_by_label("Priorité").select_option(label="Urgente")
    alice.get_by_label("Description").fill("Personne au sol devant la pharmacie")
    alice.get_by_role("button", name="Créer l'incident").click()
    alice.locator("#form-message").filter(has_text="créé").wait_for(timeout=LIVE_TIMEOUT)
    incident = Incident.objects.get()
    reference = incident.reference
    selector = f"#incident-list tr[data-reference='{reference}']"

    # Bruno's console: on the list and on the map, without a reload.
    bruno.locator(selector).wait_for(timeout=LIVE_TIMEOUT)
    assert bruno.locator(selector).locator("td").all_inner_texts()[1:] == [
        reference, "Malaise / personne blessée", "Montmorency", "Urgente", "Ouvert"]
    bruno.locator(".incident-marker.priority-1").wait_for()

    # Not shared yet: no partner sees it (their API says so too).
    assert rows(pn_portal).count() == 0
    assert pn_portal.request.get("/api/incidents/").json() == []

    # Alice shares it with the national police from the incident panel.
    assert alice.locator("#panel-title").inner_text() == reference
    alice.get_by_label("Partager avec").select_option("pn-montmorency")
    alice.get_by_role("button", name="Partager", exact=True).click()
    alice.locator(".share-list li[data-agency='pn-montmorency']").wait_for()
    alice.locator(".journal-entry.kind-shared").wait_for()

    # The police portal: the incident appears live, with its journal; bruno sees the share.
    pn_portal.locator(selector).wait_for(timeout=LIVE_TIMEOUT)
    assert pn_portal.locator(selector).locator("td").all_inner_texts()[1:4] == [
        reference, "Malaise / personne blessée", "Montmorency"]
    pn_portal.locator(".incident-marker.priority-1").wait_for()
    bruno.locator(f"{selector} .shared[data-agencies='pn-montmorency']").wait_for(timeout=LIVE_TIMEOUT)

    # The agent opens it and adds a note: the operator's open panel shows it at once.
    pn_portal.locator(selector).click()
    pn_portal.locator("#panel-title", has_text=reference).wait_for()
    pn_portal.locator(".journal-entry.kind-shared").wait_for()
    assert pn_portal.locator(".camera-list").count() == 0  # a partner never gets the suggestions
    pn_portal.get_by_label("Ajouter une note à la main courante").fill("Équipage PN sur place")
    pn_portal.get_by_role("button", name="Ajouter").click()
    pn_portal.locator(".journal-entry.kind-note", has_text="Équipage PN sur place").wait_for()
    note = alice.locator(".journal-entry.kind-note", has_text="Équipage PN sur place")
    note.wait_for(timeout=LIVE_TIMEOUT)
    assert note.locator(".journal-author").inner_text() == "agent-pn"
    screenshot(pn_portal, "partner_portal.png")
    screenshot(alice, "console_shared.png")

    # The gendarmerie saw nothing of it, live or over the API.
    assert rows(gn_portal).count() == 0
    assert gn_portal.locator("#incidents-empty").inner_text() == EMPTY_PORTAL
    assert gn_portal.request.get("/api/incidents/").json() == []
    assert gn_portal.request.get(f"/api/incidents/{incident.pk}/").status == 404

    # Alice stops sharing: it leaves the police portal, which says why.
    alice.get_by_role("button", name="Retirer le partage avec Agency pn-montmorency").click()
    pn_portal.locator(selector).wait_for(state="detached", timeout=LIVE_TIMEOUT)
    assert pn_portal.locator("#portal-notice").inner_text() == (
        f"L'incident {reference} n'est plus partagé avec votre service.")
    assert pn_portal.locator("#panel-title").count() == 0
    assert pn_portal.request.get("/api/incidents/").json() == []

    assert rows(gn_portal).count() == 0
    for page in (alice, bruno, pn_portal, gn_portal):
        assert page.evaluate("window.__sameDocument") is True
        assert csp_watch.violations(page) == []


def test_the_portal_is_for_partner_agents(hub, new_context, signed_in):
    operator = factories.make_member(role="operator", username="alice", password=PASSWORD)
    auditor = factories.make_member(role="auditor", username="audit")

    page = signed_in(operator.user).new_page()
    page.goto("/portail/incidents/")
    assert page.url.endswith("/console/")  # the centre's staff have the console

    response = signed_in(auditor.user).new_page().goto("/portail/incidents/")
    assert response is not None and response.status == 403

    anonymous = new_context().new_page()
    anonymous.goto("/portail/incidents/")
    assert "/accounts/login/?next=/portail/incidents/" in anonymous.url
