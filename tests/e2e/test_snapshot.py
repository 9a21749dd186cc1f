"""Browser: from an incident's panel an operator pours a capture of an associated, recorded camera into
the main courante (a camera that is not recorded is offered no "Capture"); the journal line shows the
picture as stored, which opens whole in a dialog that Échap closes (docs/recordings.md)."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from cameras.choices import CameraKind
from incidents.services.incidents import incident_attach_camera, incident_create
from recordings.models import Snapshot
from recordings.snapshots import snapshot_open
from tests import factories
from tests.e2e.test_console_map import LIVE_TIMEOUT, PASSWORD, open_console
from tests.e2e.test_requisitions import _storage_for_the_server  # noqa: F401 (autouse fixture)
from tests.factories import CENTRE, offset
from tests.recordings.test_export import record

pytestmark = pytest.mark.usefixtures("transactional_db")
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")


def test_an_operator_pours_a_capture_into_the_main_courante(_storage_for_the_server, hub, new_context,  # noqa: F811
                                                            settings, csp_watch):
    settings.HUB_RECORDINGS_DIR = _storage_for_the_server / "recordings"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    commune = factories.make_commune()
    camera = factories.make_camera(commune=commune, kind=CameraKind.FIXED, code="95428-s010-fixe",
                                   location=offset(CENTRE, bearing=180, metres=150), heading=0, angle=120,
                                   range_m=1500)
    unrecorded = factories.make_camera(commune=commune, kind=CameraKind.FIXED, code="95428-s011-fixe",
                                       location=offset(CENTRE, bearing=200, metres=300), heading=10,
                                       angle=120, range_m=1500)
    factories.make_authorisation(cameras=[camera, unrecorded])
    operator = factories.make_member(role="operator", username="claire", password=PASSWORD)
    incident = incident_create(member=operator, nature="rixe", location=CENTRE, description="Rixe")
    for each in (camera, unrecorded):
        incident_attach_camera(incident=incident, camera=each, member=operator)
    record(camera, segments=1)

    context = new_context()
    csp_watch(context)
    page = open_console(context, "claire")
    page.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    page.locator(f".camera-item[data-code='{camera.code}'] .attached").wait_for()

    # "Capture" is offered for the recorded camera only: the other one has no picture to give.
    capture = f"Verser une capture d'image de {camera.code} à la main courante"
    page.get_by_role("button", name=capture).wait_for(timeout=LIVE_TIMEOUT)
    assert page.locator(f".camera-item[data-code='{unrecorded.code}'] .attached").is_visible()
    not_offered = f"Verser une capture d'image de {unrecorded.code} à la main courante"
    assert page.get_by_role("button", name=not_offered).count() == 0

    page.get_by_role("button", name=capture).click()
    page.locator("#form-message", has_text=f"Capture de {camera.code}").wait_for(timeout=LIVE_TIMEOUT)
    snapshot = Snapshot.objects.get()
    assert (snapshot.camera, snapshot.incident, snapshot.created_by) == (camera, incident, operator.user)
    line = page.locator(".journal-entry.kind-camera", has_text="Capture d'image")
    line.wait_for(timeout=LIVE_TIMEOUT)
    assert camera.code in line.inner_text() and snapshot.sha256[:16] in line.inner_text()
    assert line.get_attribute("data-entry-id") == str(snapshot.journal_entry_id)

    # The line shows the picture as stored (a thumbnail that loaded), which opens whole.
    thumbnail = line.locator(".capture-thumb img")
    thumbnail.wait_for(timeout=LIVE_TIMEOUT)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    stored = page.evaluate("(img) => [img.naturalWidth, img.naturalHeight]", thumbnail.element_handle())
    with Image.open(snapshot_open(snapshot)) as picture:
        assert tuple(stored) == picture.size
    line.get_by_role("button", name=f"Agrandir la capture de {camera.code}").click()
    dialog = page.locator("dialog.capture-dialog[open]")
    dialog.wait_for()
    full = dialog.locator("img.capture-full")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=full.element_handle())
    assert full.get_attribute("src") == f"/api/streaming/snapshots/{snapshot.pk}/image"
    assert snapshot.sha256 in dialog.locator("figcaption").inner_text()
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.screenshot(path=os.path.join(SCREENSHOTS, "capture-dialog.png"))
    # Échap closes the picture, and only the picture: the incident stays open.
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.locator("#console.has-drawer").count() == 1 and line.is_visible()
    assert csp_watch.violations(page) == []
