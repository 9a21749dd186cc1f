"""Driving a PTZ camera from the operator console, in Chromium, against ipycam (a virtual ONVIF
camera this project did not write, tests/ptz/virtual.py) on loopback: its RTSP picture goes
through the hub's video pipeline to the browser over WHEP, the hub drives it over ONVIF.

An operator takes the camera and drags the joystick on the picture: the picture the browser
shows changes, and the page measures the latency. A second operator sees « pris par … ». A
supervisor takes it over: the first operator is told at once. « Viser l'incident » turns the
camera to the preset that sees the incident, and that preset's privacy mask is black in the
picture the browser shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from cameras.choices import CameraKind
from cameras.services import mask_create
from incidents.services.incidents import incident_create
from partners.audit import Action
from partners.models import AuditRecord
from partners.services import api_token_issue
from ptz.models import PtzEndpoint
from tests import factories
from tests.e2e.conftest import live
from tests.e2e.live_video import CHROMIUM_EXTRA_ARGS, hub, video_env, wait_until_quiet  # noqa: F401
from tests.e2e.readability import contrast_failures, overflow_failures
from tests.factories import CENTRE, offset
from tests.ptz.virtual import VirtualPtzCamera, store_preset

LIVE = 15_000  # ms
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
LEFT_QUARTER = [[0, 0], [0.25, 0], [0.25, 1], [0, 1]]

# The picture the browser shows in the PTZ panel, drawn to a canvas at its own size: a small
# grey thumbnail (to compare two moments) and the brightest pixel of two boxes, one inside the
# preset's mask (the left quarter) and one on the scene beside it.
READ_PICTURE = """() => {
  const video = document.querySelector('.ptz-panel video');
  if (!video || !video.videoWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  const w = canvas.width, h = canvas.height;
  const box = (x0, y0, x1, y1) => {
    const data = ctx.getImageData(x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h).data;
    let max = 0, sum = 0, n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const m = Math.max(data[i], data[i + 1], data[i + 2]);
      max = Math.max(max, m); sum += m; n += 1;
    }
    return {max, mean: sum / n};
  };
  const thumb = [];
  const small = document.createElement('canvas');
  small.width = 64; small.height = 36;
  const sctx = small.getContext('2d', {willReadFrequently: true});
  sctx.drawImage(video, 0, 0, 64, 36);
  const data = sctx.getImageData(0, 0, 64, 36).data;
  for (let i = 0; i < data.length; i += 4) thumb.push((data[i] + data[i + 1] + data[i + 2]) / 3);
  return {width: w, height: h, thumb, inside: box(0.03, 0.1, 0.22, 0.9), outside: box(0.4, 0.1, 0.95, 0.9)};
}"""


def difference(a: list[float], b: list[float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


@pytest.fixture
def virtual(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is missing: `make test` installs it (scripts/bootstrap.sh)")
    camera = VirtualPtzCamera(workdir=tmp_path, size="320x180", fps=15)
    yield camera
    camera.stop()


@pytest.fixture
def scene(transactional_db, virtual):
    factories.make_commune()
    camera = factories.make_camera(kind=CameraKind.PTZ, code="95428-s020-ptz", location=CENTRE, heading=0,
                                   angle=60, range_m=400,
                                   presets=[{"number": 1, "name": "Parvis", "heading": 90, "angle": 40,
                                             "range_m": 150}])
    camera.stream_uri = virtual.rtsp_url
    camera.save(update_fields=["stream_uri"])
    factories.make_authorisation(cameras=[camera])
    token = store_preset(virtual.onvif_port, pan=0.5, tilt=-0.2, zoom=0.4, name="Parvis")
    endpoint = PtzEndpoint(camera=camera, host="127.0.0.1", port=virtual.onvif_port,
                           preset_tokens={"1": token}, pan_zero_heading=0, pan_degrees=360)
    endpoint.set_password("")
    endpoint.save()
    mask_create(camera=camera, polygon=LEFT_QUARTER, label="Fenêtres", preset=camera.presets.get(number=1))
    people = {}
    for key, role, username, first, last in (("operator", "operator", "claire", "Claire", "Dubois"),
                                             ("second", "operator", "damien", "Damien", "Roux"),
                                             ("supervisor", "supervisor", "sophie", "Sophie", "Leroy")):
        member = factories.make_member(role=role, username=username)
        member.user.first_name, member.user.last_name = first, last
        member.user.save()
        people[key] = member
    # 80 m east of the dome: inside the field of its preset 1 « Parvis ».
    incident = incident_create(member=people["operator"], nature="rixe",
                               location=offset(CENTRE, bearing=90, metres=80),
                               description="Rixe sur le parvis")
    api_token, _ = api_token_issue(user=people["operator"].user)
    return {"camera": camera, "incident": incident, "token": api_token, "virtual": virtual, **people}


@pytest.fixture(autouse=True)
def _server_quiet(scene, browser, hub):  # noqa: F811 - the hub of live_video
    yield
    for context in list(browser.contexts):
        context.close()
    wait_until_quiet(hub, scene["token"])


def open_ptz(context, scene):
    """The console, the incident's panel, « Piloter » on the dome: its panel, playing."""
    page = live(context.new_page(), "/console/")
    page.locator(f"#incident-list tr[data-reference='{scene['incident'].reference}']").click()
    page.get_by_role("button", name=f"Piloter la caméra {scene['camera'].code}").click()
    panel = page.locator(f".ptz-panel[data-camera='{scene['camera'].pk}']")
    panel.wait_for()
    panel.locator(".video-tile[data-state='playing']").wait_for(timeout=LIVE)
    panel.locator(".ptz-holder:not(:text('…'))").wait_for()
    return page, panel


def picture(page):
    page.wait_for_function(f"({READ_PICTURE})() !== null", timeout=LIVE)
    return page.evaluate(READ_PICTURE)


def wait_picture(page, predicate, *, timeout: float = 8.0, what: str = ""):
    """Poll the picture shown until ``predicate(picture)``; fail with the last one seen."""
    import time

    deadline = time.monotonic() + timeout
    seen = picture(page)
    while not predicate(seen):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: the picture shown never did (last: inside {seen['inside']}, "
                        f"outside {seen['outside']})")
        page.wait_for_timeout(150)
        seen = picture(page)
    return seen


def readable(page, what: str) -> None:
    """Every text of the PTZ panel at 4.5:1 at least, none running out of its box."""
    checked, failures = contrast_failures(page, ".ptz-panel")
    failures += overflow_failures(page, ".ptz-panel")
    assert checked > 10 and not failures, f"{what}: {failures}"


def test_operators_drive_take_over_and_aim_at_the_incident_with_its_masks(scene, signed_in, csp_watch):
    context = signed_in(scene["operator"].user)
    csp_watch(context)
    first, first_panel = open_ptz(context, scene)
    moves: list[dict] = []  # the joystick commands the page sends
    first.on("request", lambda request: moves.append(json.loads(request.post_data or "{}"))
             if request.url.endswith("/move/") else None)
    assert first_panel.locator(".ptz-holder").inner_text() == "libre"
    assert first_panel.get_by_role("button", name="Viser l'incident").is_disabled()  # no lease yet

    # Operator A takes the camera.
    first_panel.get_by_role("button", name="Prendre la main").click()
    first_panel.locator(".ptz-holder", has_text="vous avez la main").wait_for()
    assert first_panel.get_by_role("button", name="Rendre la main").is_visible()

    # A second operator sees who has it, and cannot drive it.
    second, second_panel = open_ptz(signed_in(scene["second"].user), scene)
    second_panel.locator(".ptz-holder", has_text="pris par Claire Dubois").wait_for()
    assert second_panel.get_by_role("button", name="Viser l'incident").is_disabled()

    # A zooms in with the keyboard (+ held down): the picture A sees changes, the page says how
    # soon after the command. (ipycam's PTZ is digital: at zoom 0 its crop is the whole picture,
    # and only once zoomed in does a pan show.)
    wide = picture(first)
    stage = first_panel.locator(".ptz-stage")
    stage.focus()
    first.keyboard.down("+")
    first.wait_for_timeout(800)
    first.keyboard.up("+")
    wait_picture(first, lambda seen: difference(seen["thumb"], wide["thumb"]) > 8,
                 what="zooming in should change the picture")
    latency = first_panel.locator(".ptz-latency")
    first.wait_for_function(
        "() => /^latence : \\d+ ms$/.test(document.querySelector('.ptz-latency').innerText)", timeout=LIVE)
    zoom_ms = int(latency.get_attribute("data-ms"))  # the first command also opens the hub's ONVIF client
    measured = int(latency.get_attribute("data-measured"))
    first_panel.locator(".ptz-position[data-moving='false']", has_text="hors préréglage").wait_for(
        timeout=LIVE)
    zoomed = first_panel.locator(".ptz-position").inner_text()
    assert not zoomed.endswith("zoom 0,00 · hors préréglage"), zoomed

    # A drags the joystick on the picture, to the right: the camera pans, the picture changes.
    first.wait_for_timeout(500)
    before = picture(first)
    moves.clear()
    box = stage.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    first.mouse.move(x, y)
    first.mouse.down()
    first.mouse.move(x + box["width"] * 0.15, y, steps=40)
    first.wait_for_timeout(1000)
    first.mouse.up()
    wait_picture(first, lambda seen: difference(seen["thumb"], before["thumb"]) > 8,
                 what="the drag should change the picture")
    # 40 pointer moves, coalesced in the page (the last one wins): fewer commands, the stop last.
    first.wait_for_function("() => document.querySelector('.ptz-position').dataset.moving === 'false'")
    assert 2 <= len(moves) < 40, moves
    assert moves[-1] == {"pan": 0, "tilt": 0, "zoom": 0}, moves
    assert any(move["pan"] > 0 for move in moves), moves
    first.wait_for_function("(n) => Number(document.querySelector('.ptz-latency').dataset.measured) > n",
                            arg=measured, timeout=LIVE)
    assert re.fullmatch(r"latence : \d+ ms", latency.inner_text()), latency.inner_text()
    drag_ms = int(latency.get_attribute("data-ms"))
    print(f"PTZ latency, command → changed picture in the browser: first {zoom_ms} ms, drag {drag_ms} ms")
    first_panel.locator(".ptz-position[data-moving='false']", has_text="hors préréglage").wait_for(
        timeout=LIVE)
    first.wait_for_function("(zoomed) => document.querySelector('.ptz-position').textContent !== zoomed",
                            arg=zoomed, timeout=LIVE)  # the pan read back moved
    assert AuditRecord.objects.filter(action=Action.PTZ_MOVE, actor=scene["operator"].user).exists()

    # A supervisor takes it over; A is told at once, the second operator sees the new holder.
    boss, boss_panel = open_ptz(signed_in(scene["supervisor"].user), scene)
    boss_panel.locator(".ptz-holder", has_text="pris par Claire Dubois").wait_for()
    boss_panel.get_by_role("button", name="Reprendre la main").click()
    boss_panel.locator(".ptz-holder", has_text="vous avez la main").wait_for()
    first_panel.locator(".ptz-message", has_text="Sophie Leroy a repris la main").wait_for()
    first_panel.locator(".ptz-holder", has_text="pris par Sophie Leroy").wait_for()
    assert first_panel.get_by_role("button", name="Viser l'incident").is_disabled()
    second_panel.locator(".ptz-holder", has_text="pris par Sophie Leroy").wait_for()
    readable(first, "the panel of the operator who lost the camera")
    assert AuditRecord.objects.filter(action=Action.PTZ_TAKEOVER, actor=scene["supervisor"].user).exists()

    # « Viser l'incident »: the preset that sees it, and its mask black in the browser.
    boss_panel.get_by_role("button", name="Viser l'incident").click()
    boss_panel.locator(".ptz-message", has_text="Caméra tournée vers l'incident (préréglage 1)").wait_for(
        timeout=LIVE)
    boss_panel.locator(".ptz-position", has_text="préréglage 1").wait_for()
    seen = wait_picture(boss, lambda seen: seen["inside"]["max"] < 40 and seen["outside"]["mean"] > 40,
                        what="the mask of preset 1 should be black")
    assert seen["inside"]["max"] < 40, seen["inside"]
    assert boss_panel.locator(".ptz-presets button[data-preset='1']").get_attribute("aria-pressed") == "true"
    readable(boss, "the panel of the supervisor driving")
    # The other consoles follow the position the camera was read back at.
    first_panel.locator(".ptz-position", has_text="préréglage 1").wait_for()
    assert re.search(r"latence : \d+ ms", boss_panel.locator(".ptz-latency").inner_text())
    assert csp_watch.violations(first) == []
    if SCREENSHOTS:
        boss.screenshot(path=os.path.join(SCREENSHOTS, "console_ptz_1280.png"))
        first.screenshot(path=os.path.join(SCREENSHOTS, "console_ptz_taken_over_1280.png"))
        boss.set_viewport_size({"width": 1920, "height": 1080})
        boss.wait_for_timeout(500)
        boss.screenshot(path=os.path.join(SCREENSHOTS, "console_ptz.png"))


def test_a_camera_that_does_not_answer_is_said_unreachable_and_the_lease_stays(scene, signed_in):
    page, panel = open_ptz(signed_in(scene["operator"].user), scene)
    panel.get_by_role("button", name="Prendre la main").click()
    panel.locator(".ptz-holder", has_text="vous avez la main").wait_for()
    scene["virtual"].stop()  # the camera goes silent (its ONVIF service and its RTSP stream)

    panel.get_by_role("button", name="Position d'origine").click()
    panel.locator(".ptz-message", has_text="Caméra injoignable").wait_for(timeout=LIVE)
    panel.locator(".ptz-position", has_text="caméra injoignable").wait_for(timeout=LIVE)
    assert panel.get_attribute("data-reachable") == "false"
    # The lease stays: the operator keeps the camera for when it answers again.
    assert panel.locator(".ptz-holder").inner_text() == "vous avez la main"
    assert panel.get_by_role("button", name="Rendre la main").is_visible()
    # Its picture stopped too: the panel says so and offers to open it again.
    panel.get_by_role("button", name="Reconnecter l'image").wait_for(timeout=LIVE)
    assert panel.locator(".video-tile").get_attribute("data-state") in {"cut", "unavailable", "error"}
    assert "renvoi d'images" not in panel.locator(".video-message").inner_text()  # not a partner's grant
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "console_ptz_unreachable_1280.png"))
