"""The video wall in Chromium: an operator sends a camera to a tile of the shared wall from the
incident panel of the console, and the wall's screen (/mur/) shows it live, without a reload;
/mur/?cameras= takes camera codes and says which it could not show, and why."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request

import pytest
from django.contrib.gis.geos import Point

from cameras.choices import CameraKind
from incidents.services.incidents import incident_attach_camera, incident_create
from partners.audit import Action
from partners.models import AuditRecord
from partners.services import api_token_issue
from streaming.models import Viewing, WallTile
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.live_video import CHROMIUM_EXTRA_ARGS, hub, video_env, wait_until_quiet  # noqa: F401
from tests.factories import CENTRE, offset

LIVE_TIMEOUT = 10_000  # ms
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")


@pytest.fixture
def scene(transactional_db):
    factories.make_commune()
    camera = factories.make_camera(kind=CameraKind.PTZ, code="95428-s042-ptz",
                                   location=offset(CENTRE, bearing=90, metres=120), heading=270, angle=90,
                                   range_m=800)
    other = factories.make_camera(kind=CameraKind.PANORAMIC, code="95428-s042-pano",
                                  location=offset(CENTRE, bearing=90, metres=120), heading=270, angle=180,
                                  range_m=800)
    factories.make_authorisation(cameras=[camera, other])
    operator = factories.make_member(role="operator", username="claire")
    here = Point(CENTRE.x, CENTRE.y, srid=4326)
    incident = incident_create(member=operator, nature="rixe", location=here,
                               description="Rixe devant la gare")
    incident_attach_camera(incident=incident, camera=camera, member=operator)
    token, _ = api_token_issue(user=operator.user)
    return {"camera": camera, "other": other, "operator": operator, "incident": incident, "token": token}


@pytest.fixture(autouse=True)
def _server_quiet(scene, browser, hub):  # noqa: F811 - the hub of live_video
    yield
    for context in list(browser.contexts):
        context.close()
    wait_until_quiet(hub, scene["token"])


def playing(position: int) -> str:
    return (f"() => document.querySelector(\"#wall-grid .video-tile[data-position='{position}']\")"
            "?.dataset.state === 'playing'")


def test_a_camera_sent_from_the_console_appears_on_the_wall(scene, signed_in, csp_watch):
    camera = scene["camera"]
    context = signed_in(scene["operator"].user)
    csp_watch(context)
    wall = live(context.new_page(), "/mur/")
    wall.evaluate("window.__sameDocument = true")
    assert wall.locator("#wall-grid .wall-empty").count() == 16  # the main wall, 4 × 4, empty

    console = live(context.new_page(), "/console/")
    console.locator(f"#incident-list tr[data-reference='{scene['incident'].reference}']").click()
    console.locator("#wall-camera option", has_text=camera.code).wait_for(state="attached")
    console.locator("#wall-camera").select_option(label=camera.code)
    console.locator("#wall-tile").select_option("2")
    console.get_by_role("button", name="Envoyer au mur").click()
    sent = f"{camera.code} affichée sur la tuile 2"
    console.locator(".grants-section .form-message.ok", has_text=sent).wait_for(timeout=LIVE_TIMEOUT)
    assert list(WallTile.objects.values_list("position", "camera__code")) == [(2, camera.code)]
    # The console's list of tiles says what each shows now.
    console.locator("#wall-tile option", has_text=f"Tuile 2 — {camera.code}").wait_for(state="attached")

    # The wall follows, live: tile 2 plays the camera; the other tiles stay free.
    tile = wall.locator("#wall-grid .video-tile[data-position='2']")
    tile.and_(wall.locator(f"[data-code='{camera.code}']")).wait_for(timeout=LIVE_TIMEOUT)
    wall.wait_for_function(playing(2), timeout=LIVE_TIMEOUT)
    assert camera.name in tile.locator("h2").inner_text()
    assert wall.locator("#wall-grid .wall-empty").count() == 15
    assert wall.evaluate("window.__sameDocument") is True
    if SCREENSHOTS:
        wall.set_viewport_size({"width": 1920, "height": 1080})
        wall.screenshot(path=os.path.join(SCREENSHOTS, "wall.png"))
    assert csp_watch.violations(wall) == []


def test_the_wall_takes_camera_codes_and_says_what_it_cannot_show(scene, signed_in):
    page = signed_in(scene["operator"].user).new_page()
    page.goto(f"/mur/?cameras={scene['other'].code},95428-s999-ptz,{scene['camera'].pk}")
    page.wait_for_function(playing(1), timeout=LIVE_TIMEOUT)
    page.wait_for_function(playing(2), timeout=LIVE_TIMEOUT)
    codes = page.locator("#wall-grid .video-tile").evaluate_all("(tiles) => tiles.map((t) => t.dataset.code)")
    assert codes == [scene["other"].code, scene["camera"].code]
    refused = page.locator(".wall-refused")
    assert "Caméra non affichée" in refused.inner_text()
    assert refused.locator("li").inner_text() == "95428-s999-ptz — aucune caméra ne porte ce code"
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1920, "height": 1080})
        page.screenshot(path=os.path.join(SCREENSHOTS, "wall-codes.png"))


def set_tile(hub, token: str, position: int, camera) -> None:  # noqa: F811 - the hub of live_video
    """What the console does: a camera (or nothing) to a tile of the main wall, over the API."""
    request = urllib.request.Request(
        f"{hub.url}/api/streaming/walls/principal/tiles/", method="POST",
        data=json.dumps({"position": position, "camera": camera}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def view_ends(camera) -> list[str]:
    """The reasons of the ends of viewing of ``camera`` in the access journal, once it has one."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        reasons = list(AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END, object_id=str(camera.pk))
                       .values_list("reason", flat=True))
        if reasons:
            time.sleep(0.5)  # a second end, if one were coming, would come within this
            return list(AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END, object_id=str(camera.pk))
                        .values_list("reason", flat=True))
        time.sleep(0.1)
    return []


def test_a_camera_taken_off_the_wall_is_hung_up_once(scene, signed_in, hub):  # noqa: F811
    """The tile's player sends its DELETE before it closes the connection: the hub answers 204 and
    journals one end of the viewing, a hang-up (not a lost connection)."""
    camera = scene["camera"]
    set_tile(hub, scene["token"], 1, camera.code)
    wall = live(signed_in(scene["operator"].user).new_page(), "/mur/")
    wall.wait_for_function(playing(1), timeout=LIVE_TIMEOUT)
    hang_up = re.compile(r".*/api/streaming/whep/[0-9a-f]+$")
    with wall.expect_response(lambda r: r.request.method == "DELETE" and bool(hang_up.match(r.url))) as sent:
        set_tile(hub, scene["token"], 1, None)
    assert sent.value.status == 204
    wall.locator("#wall-grid .video-tile.wall-empty[data-position='1']").wait_for(timeout=LIVE_TIMEOUT)
    assert view_ends(camera) == ["hangup"]
    assert list(Viewing.objects.filter(camera=camera).values_list("end_reason", flat=True)) == ["hangup"]


def test_leaving_the_wall_ends_each_viewing_once(scene, signed_in, hub):  # noqa: F811
    """The page goes away (its DELETE, keepalive, races the connection's close): one end each."""
    camera = scene["camera"]
    set_tile(hub, scene["token"], 1, camera.code)
    page = live(signed_in(scene["operator"].user).new_page(), "/mur/")
    page.wait_for_function(playing(1), timeout=LIVE_TIMEOUT)
    page.close(run_before_unload=True)
    assert len(view_ends(camera)) == 1
    assert Viewing.objects.filter(camera=camera, ended_at__isnull=True).count() == 0
