"""The operator console's map in a real browser: create an incident by clicking the map,
then work it from its panel (suggested cameras, status, a stale version)."""

from __future__ import annotations

import os
import re

import pytest
from django.contrib.gis.geos import Point
from django.db.models import F

from cameras.choices import CameraKind
from incidents.models import Incident
from tests import factories
from tests.factories import CENTRE, offset

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)
LIVE_TIMEOUT = 10_000  # ms


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


def open_console(context, username: str):
    """Log in through the login page (operators have no second factor) and wait for the map."""
    page = context.new_page()
    page.goto("/console/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/console/")
    page.locator("#connection[data-state='open']").wait_for(timeout=LIVE_TIMEOUT)
    page.locator(".commune-label span", has_text="Montmorency").wait_for()  # the map is fitted to the area
    page.evaluate("window.__sameDocument = true")
    return page


def click_map(page, x: float, y: float) -> None:
    """Click the map canvas at a fraction of its width and height."""
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * x, box["y"] + box["height"] * y)


def test_an_operator_creates_an_incident_by_clicking_the_map(hub, new_context, csp_watch):
    commune = factories.make_commune()
    # A PTZ dome 400 m east of the centre, looking north: it must turn to see the incident.
    ptz = factories.make_camera(commune=commune, kind=CameraKind.PTZ, code="95428-s001-ptz",
                                location=offset(CENTRE, bearing=90, metres=400), heading=0,
                                angle=60, range_m=1500)
    factories.make_authorisation(cameras=[ptz])
    # A fixed camera south of the centre looking north, without any prefectoral authorisation.
    fixed = factories.make_camera(commune=commune, kind=CameraKind.FIXED, code="95428-s002-fixe",
                                  location=offset(CENTRE, bearing=180, metres=200), heading=0,
                                  angle=120, range_m=1500)
    factories.make_member(role="operator", username="alice", password=PASSWORD)

    context = new_context()
    csp_watch(context)
    camera_answers: list[int] = []
    context.on("response",
               lambda r: camera_answers.append(r.status) if "/api/cameras/?bbox=" in r.url else None)
    page = open_console(context, "alice")

    # The camera layer: both cameras on the map, the unauthorised one flagged.
    page.locator(".camera-marker").first.wait_for()
    assert page.locator(".camera-marker").count() == 2
    assert page.locator(".camera-marker.camera-unauthorised").count() == 1
    assert camera_answers[0] == 200
    # Back to this screen: the layer is asked again with its ETag, and has not changed.
    with page.expect_response(lambda r: "/api/cameras/?bbox=" in r.url) as answer:
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    assert answer.value.status == 304
    assert answer.value.request.headers["if-none-match"].startswith('"')
    assert set(camera_answers[1:]) == {304}  # asked again (refreshes), never sent again
    assert page.locator(".camera-marker").count() == 2  # the cached layer, still drawn

    # A click on the map, north-west of the centre: the form takes the point.
    click_map(page, 0.45, 0.40)
    lat = float(page.get_by_label("Latitude").input_value())
    lon = float(page.get_by_label("Longitude").input_value())
    assert commune.boundary.contains(Point(lon, lat, srid=4326))
    assert (lat, lon) != (48.9883, 2.3222)
    assert page.locator("#f-where").inner_text() == "Commune : Montmorency"
    # The address of the point is proposed (as it comes, a moment after the click); the operator
    # types a more precise one over it.
    page.locator("#f-address[data-autofilled]").wait_for(timeout=LIVE_TIMEOUT)
    assert "Montmorency" in page.get_by_label("Adresse").input_value()
    page.get_by_label("Nature").select_option("incendie")
    page.get_by_label("Priorité").select_option(label="Haute")
    page.get_by_label("Adresse").fill("12 rue de la Gare")
    page.get_by_label("Description").fill("Feu de poubelle contre une façade")
    page.get_by_role("button", name="Créer l'incident").click()
    page.locator("#form-message").filter(has_text="créé").wait_for(timeout=LIVE_TIMEOUT)

    incident = Incident.objects.get()
    assert incident.reported_by.username == "alice"
    assert (round(incident.location.y, 6), round(incident.location.x, 6)) == (lat, lon)
    assert (incident.nature.code, incident.priority, incident.address) == ("incendie", 2, "12 rue de la Gare")
    assert page.locator("#form-message").inner_text() == f"Incident {incident.reference} créé."

    # On the list and on the map, and its panel open.
    row = page.locator(f"#incident-list tr[data-reference='{incident.reference}']")
    row.wait_for()
    assert row.locator("td").all_inner_texts()[1:] == [
        incident.reference, "Incendie", "Montmorency", "Haute", "Ouvert"]
    marker = page.locator(".incident-marker.priority-2")
    assert marker.count() == 1
    assert "selected" in marker.get_attribute("class")
    assert page.locator("#panel-title").inner_text() == incident.reference

    # The suggested cameras, best first, the unauthorised one flagged, the dome's bearing to turn to.
    items = page.locator(".camera-item")
    items.first.wait_for()
    assert [i.get_attribute("data-code") for i in items.all()] == [fixed.code, ptz.code]
    assert items.nth(0).locator(".flag-unauthorised").inner_text() == "NON AUTORISÉE"  # CSS uppercase
    assert re.search(r"orienter à 3\d\d° NO", items.nth(1).inner_text()), items.nth(1).inner_text()
    page.get_by_role("button", name=f"Associer la caméra {ptz.code}").click()
    items.nth(1).locator(".attached").wait_for()
    page.locator(".journal-entry.kind-camera").wait_for()
    assert list(incident.cameras.values_list("code", flat=True)) == [ptz.code]
    screenshot(page, "console_map.png")

    # Engage it: the status follows on the panel, the list and the marker.
    page.get_by_role("button", name="Engager").click()
    page.locator("#form-message", has_text="Statut : Engagé.").wait_for()
    incident.refresh_from_db()
    assert incident.status == "engaged"
    page.locator(f"#incident-view[data-version='{incident.version}']").wait_for(state="attached")
    assert page.get_by_role("button", name="Engager").count() == 0  # no longer offered
    page.locator(".status-pill.status-engaged").wait_for()
    row.locator(".status-engaged").wait_for()
    page.locator(".incident-marker.status-engaged").wait_for()

    # Someone changes it while the request to close it is on its way (before this console
    # can hear of it): refused with a clear message, reloaded, and the second try goes through.
    def changed_meanwhile(route):
        Incident.objects.filter(pk=incident.pk).update(version=F("version") + 1)
        route.continue_()

    page.route(f"**/api/incidents/{incident.pk}/transitions/", changed_meanwhile, times=1)
    page.get_by_role("button", name="Clore").click()
    page.get_by_label("Clore : commentaire pour la main courante").fill("Feu éteint par les pompiers")
    page.get_by_role("button", name="Confirmer la clôture").click()
    page.locator("#form-message", has_text="modifié entre-temps").wait_for()
    current = Incident.objects.get(pk=incident.pk)
    assert (current.status, current.version) == ("engaged", incident.version + 1)
    page.locator(f"#incident-view[data-version='{current.version}']").wait_for(state="attached")
    page.get_by_role("button", name="Confirmer la clôture").click()  # still open: try again
    page.locator(".status-pill.status-closed").wait_for()
    closed = Incident.objects.get(pk=incident.pk)
    assert closed.status == "closed"
    assert closed.journal.filter(kind="closed", text__endswith="Feu éteint par les pompiers").exists()
    row.wait_for(state="detached")  # a closed incident leaves the list of those in progress
    assert page.locator("#incidents-empty").inner_text() == "Aucun incident en cours."

    assert csp_watch.violations(page) == []
    assert page.evaluate("window.__sameDocument") is True
