"""The operator console in a real browser: what another session creates appears live, without reload."""

from __future__ import annotations

import os
import re

import pyotp
import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from incidents.models import Incident
from incidents.services.incidents import incident_create
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)
LIVE_TIMEOUT = 10_000  # ms: an event normally arrives in well under a second


def log_in(page, username: str) -> None:
    """Open the console as an anonymous visitor, get sent to the login form, log in."""
    page.goto("/console/")
    assert re.search(r"/accounts/login/\?next=/console/$", page.url), page.url
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/console/")


def open_console(new_context, username: str):
    page = new_context().new_page()
    log_in(page, username)
    connection = page.locator("#connection")
    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'",
                           timeout=LIVE_TIMEOUT)
    assert connection.inner_text() == "connecté"
    # Survives only if the page is never reloaded: live updates must not come from a reload.
    page.evaluate("window.__sameDocument = true")
    return page


def rows(page):
    return page.locator("#incident-list tr")


def paris_hhmm(incident: Incident) -> str:
    return timezone.localtime(incident.created_at).strftime("%H:%M")


def test_incident_created_by_another_operator_appears_live(hub, new_context):
    factories.make_commune()
    factories.make_member(role="operator", username="alice", password=PASSWORD)
    factories.make_member(role="operator", username="bruno", password=PASSWORD)

    console = open_console(new_context, "alice")
    assert console.locator("#incidents-empty").inner_text() == "Aucun incident en cours."
    assert rows(console).count() == 0

    # Another operator, in another browser profile, opens an incident with the console's form.
    other = new_context().new_page()
    log_in(other, "bruno")
    other.locator("#f-nature option[value='rixe']").wait_for(state="attached")
    other.get_by_label("Nature").select_option("rixe")
    other.get_by_label("Priorité").select_option(label="Urgente")
    other.get_by_label("Description").fill("Rixe devant la gare, quatre individus")
    assert other.get_by_label("Latitude").input_value() == "48.9883"
    assert other.get_by_label("Longitude").input_value() == "2.3222"
    other.get_by_role("button", name="Créer l'incident").click()
    message = other.locator("#form-message")
    message.filter(has_text="créé").wait_for(timeout=LIVE_TIMEOUT)

    incident = Incident.objects.get()
    assert incident.reported_by.username == "bruno"
    assert message.inner_text() == f"Incident {incident.reference} créé."

    row = console.locator(f"#incident-list tr[data-reference='{incident.reference}']")
    row.wait_for(timeout=LIVE_TIMEOUT)
    cells = row.locator("td").all_inner_texts()
    assert cells == [paris_hhmm(incident), incident.reference, "Rixe", "Montmorency", "Urgente", "Ouvert"]
    assert console.locator("#incidents-empty").is_hidden()
    assert console.locator("#incident-count").inner_text() == "(1)"
    assert console.evaluate("window.__sameDocument") is True
    assert console.locator("#connection").inner_text() == "connecté"

    if os.environ.get("CONSOLE_SCREENSHOT"):
        console.screenshot(path=os.environ["CONSOLE_SCREENSHOT"])


def test_snapshot_then_api_creations_live_and_resume_after_a_server_restart(hub, new_context, api):
    factories.make_commune()
    factories.make_member(role="operator", username="alice", password=PASSWORD)
    program = factories.make_member(role="operator", username="passerelle")
    before = incident_create(member=program, nature="vol", priority=2,
                             location=Point(2.3222, 48.9883, srid=4326),
                             description="Vol à l'arraché, rue de la Gare")

    console = open_console(new_context, "alice")
    rows(console).first.wait_for()
    assert rows(console).count() == 1  # the snapshot over REST
    assert rows(console).first.get_attribute("data-reference") == before.reference

    # A program with a bearer token, in this process: the event crosses Redis to Daphne.
    answer = api.as_member(program).post("/api/incidents/", {
        "nature": "incendie", "priority": 1, "description": "Feu de poubelle, place du marché",
        "location": {"type": "Point", "coordinates": [2.3230, 48.9890]}})
    assert answer.status_code == 201, answer.content
    created = answer.json()["reference"]
    console.locator(f"#incident-list tr[data-reference='{created}']").wait_for(timeout=LIVE_TIMEOUT)
    assert [r.get_attribute("data-reference") for r in rows(console).all()] == [created, before.reference]

    # The server goes away; what is created meanwhile arrives once it is back (resume).
    hub.stop()
    console.wait_for_function("() => document.getElementById('connection').dataset.state === 'reconnecting'",
                              timeout=LIVE_TIMEOUT)
    assert console.locator("#connection").inner_text() == "reconnexion…"
    during = incident_create(member=program, nature="malaise",
                             location=Point(2.3222, 48.9883, srid=4326),
                             description="Personne au sol, arrêt de bus")
    hub.start()
    console.locator(f"#incident-list tr[data-reference='{during.reference}']").wait_for(timeout=30_000)
    console.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'",
                              timeout=LIVE_TIMEOUT)
    assert console.locator("#connection").inner_text() == "connecté"
    assert [r.get_attribute("data-reference") for r in rows(console).all()] == [
        during.reference, created, before.reference]
    assert console.evaluate("window.__sameDocument") is True


def test_console_is_reserved_to_centre_staff(hub, new_context):
    secret = pyotp.random_base32()
    factories.make_member(role="partner_agent", username="agent-pn", password=PASSWORD, totp_secret=secret)
    page = new_context().new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Identifiant").fill("agent-pn")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/accounts/login/code/")  # a partner agent signs in with a second factor
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/portail/incidents/")  # partners land on their portal, not the console
    response = page.goto("/console/")
    assert response is not None and response.status == 403
