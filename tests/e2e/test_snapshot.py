"""Browser: from an incident's panel an operator pours a capture of an associated camera into the
main courante; the picture is the camera's latest recorded one, masked (docs/recordings.md)."""

from __future__ import annotations

import pytest

from cameras.choices import CameraKind
from incidents.services import incident_attach_camera, incident_create
from streaming.models import Snapshot
from tests import factories
from tests.e2e.test_console_map import LIVE_TIMEOUT, PASSWORD, open_console
from tests.e2e.test_requisitions import _storage_for_the_server  # noqa: F401 (autouse fixture)
from tests.factories import CENTRE, offset
from tests.streaming.test_export import record

pytestmark = pytest.mark.usefixtures("transactional_db")


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
    incident = incident_create(author=operator.user, nature="rixe", location=CENTRE, description="Rixe")
    for each in (camera, unrecorded):
        incident_attach_camera(incident=incident, camera=each, author=operator.user)
    record(camera, segments=1)

    context = new_context()
    csp_watch(context)
    page = open_console(context, "claire")
    page.locator(f"#incident-list tr[data-reference='{incident.reference}']").click()
    page.locator(f".camera-item[data-code='{camera.code}'] .attached").wait_for()

    page.get_by_role("button", name=f"Verser une capture d'image de {camera.code} à la main courante").click()
    page.locator("#form-message", has_text=f"Capture de {camera.code}").wait_for(timeout=LIVE_TIMEOUT)
    snapshot = Snapshot.objects.get()
    assert (snapshot.camera, snapshot.incident, snapshot.created_by) == (camera, incident, operator.user)
    line = page.locator(".journal-entry.kind-camera", has_text="Capture d'image")
    line.wait_for(timeout=LIVE_TIMEOUT)
    assert camera.code in line.inner_text() and snapshot.sha256[:16] in line.inner_text()

    # A camera with no recording: the operator is told why, nothing is written.
    label = f"Verser une capture d'image de {unrecorded.code} à la main courante"
    page.get_by_role("button", name=label).click()
    message = page.locator("#form-message", has_text=f"Capture de {unrecorded.code} impossible")
    message.wait_for(timeout=LIVE_TIMEOUT)
    assert "Aucun enregistrement de cette caméra" in message.inner_text()
    assert Snapshot.objects.count() == 1
