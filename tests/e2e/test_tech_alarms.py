"""The centre's technical alarms on the operator console, in a real browser: the object store
going down (through the recorder's own path) shows in the header in French, live, stays on a
reload, and goes when the store answers again; a camera no recorder holds is listed; the strip is
readable (contrast at least 4.5:1) and nothing in the header is cut at 1920×1080 or 1280×800.

E2E_SCREENSHOTS=/some/folder keeps a picture of the console with two alarms.
"""

from __future__ import annotations

import os

import pytest
from django.db import transaction
from django.utils import timezone

from realtime import audiences
from realtime.events import local_iso
from realtime.services import publish
from recordings import objects
from recordings.models import StoreOutage
from streaming.events import CameraRecorded, CameraRef, CameraUnrecorded
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.readability import contrast_failures, overflow_failures

pytestmark = pytest.mark.usefixtures("transactional_db")

LIVE = 20_000  # ms: the machine running the suite may be busy
DESKTOP = {"width": 1920, "height": 1080}
TABLET = {"width": 1280, "height": 800}


def test_storage_and_recording_alarms_show_live_in_french_and_clear(hub, signed_in):
    factories.make_commune()
    operator = factories.make_member(role="operator")
    camera = factories.make_camera(code="95014-s001-f1")
    page = signed_in(operator.user).new_page()
    page.set_viewport_size(DESKTOP)
    live(page, "/console/", timeout=LIVE)
    strip = page.locator("#tech-alarms")
    assert strip.is_hidden()

    # The recorder fails an upload: the outage is opened and announced.
    objects._alarm("upload of 95014-s001-f1/1.mp4: connection refused")
    since = timezone.localtime(StoreOutage.objects.get().started_at).strftime("%H:%M")
    storage = strip.locator("[data-alarm='storage']")
    storage.wait_for(timeout=LIVE)
    assert storage.inner_text() == f"Stockage des enregistrements indisponible depuis {since}"

    # No recorder node holds a camera with a recording plan.
    ref = CameraRef(id=camera.pk, code=camera.code, name=camera.name)
    with transaction.atomic():
        publish(CameraUnrecorded(camera=ref, role="record", since=local_iso(timezone.now()), node="rec-2"),
                audience=audiences.centre())
    unrecorded = strip.locator("[data-alarm='unrecorded']")
    unrecorded.wait_for(timeout=LIVE)
    assert unrecorded.inner_text() == "Enregistrement interrompu : 1 caméra sans enregistreur (95014-s001-f1)"

    checked, failures = contrast_failures(page, "#tech-alarms")
    assert checked >= 2
    failures += overflow_failures(page, ".topbar")
    box, viewport = strip.bounding_box(), page.viewport_size
    assert box and viewport and box["x"] + box["width"] <= viewport["width"]
    assert not failures, "\n".join(failures)
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, "console-tech-alarms.png"))
    # On a 1280×800 screen the alarms wrap in the header; nothing is cut either.
    page.set_viewport_size(TABLET)
    assert not overflow_failures(page, ".topbar")
    if folder:
        page.screenshot(path=os.path.join(folder, "console-tech-alarms-1280.png"))

    # The camera is held again: its alarm goes, the other stays.
    with transaction.atomic():
        publish(CameraRecorded(camera=ref, role="record", node="rec-1"), audience=audiences.centre())
    strip.locator("[data-alarm='unrecorded']").wait_for(state="detached", timeout=LIVE)
    assert strip.locator("li").count() == 1

    # A reload shows the outage still in force (from the server, not from the events).
    live(page, "/console/", timeout=LIVE)
    assert strip.locator("[data-alarm='storage']").inner_text() == (
        f"Stockage des enregistrements indisponible depuis {since}")

    # The store answers again: the strip goes.
    objects._recovered(3)
    strip.wait_for(state="hidden", timeout=LIVE)
    assert strip.locator("li").count() == 0
