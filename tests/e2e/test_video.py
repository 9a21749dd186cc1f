"""Live video in Chromium: a partner agent plays a granted feed over WHEP from a real Daphne,
sees the privacy mask black in the pixels on screen, loses the images when the grant is
revoked (how fast: benchmarks/video.py and benchmarks/video_cuts.py); an agent without a grant
and a Croix-Rouge member are refused.

The hub serves small pictures (320×180) and gathers ICE candidates on loopback only;
Chromium is allowed loopback candidates so that the media never leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import urllib.request

import pytest
from django.utils import timezone

from cameras.services import mask_create
from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from partners.services import api_token_issue
from streaming.services import grant_create, grant_revoke
from tests import factories

VIDEO_ENV = {
    "HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
    "HUB_VIDEO_SYNTHETIC_SIZE": "320x180",
    "HUB_VIDEO_LINGER_SECONDS": "1",
    "HUB_VIDEO_WATCHDOG_SECONDS": "0.2",
    "HUB_VIDEO_BITRATE": "600000",
}
MASK = [[0.05, 0.2], [0.45, 0.2], [0.45, 0.6], [0.05, 0.6]]

# How many pictures the <video> held in window.__video presented over `ms` (a reset counts none).
PRESENTED_OVER = """async (ms) => {
  const frames = () => window.__video.getVideoPlaybackQuality().totalVideoFrames;
  let last = frames(), presented = 0;
  const start = Date.now();
  while (Date.now() - start < ms) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = frames();
    if (now > last) presented += now - last;
    last = now;
  }
  return presented;
}"""

# A wait for a state on a busy machine (ms): it ends as soon as the state is there.
BUSY_TIMEOUT = 20_000
PLAYING = "() => [...document.querySelectorAll('.video-tile')].some((t) => t.dataset.state === 'playing')"

# Draw the <video> to a canvas at its own size and read the pixels the browser shows:
# the mean RGB of a box inside the mask and of one on the colour bars beside it.
READ_PIXELS = """() => {
  const video = document.querySelector('.video-tile video');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  const box = (x0, y0, x1, y1) => {
    const w = canvas.width, h = canvas.height;
    const data = ctx.getImageData(x0 * w, y0 * h, (x1 - x0) * w, (y1 - y0) * h).data;
    let max = 0, brightest = 0, n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const m = Math.max(data[i], data[i + 1], data[i + 2]);
      max = Math.max(max, m); brightest += m; n += 1;
    }
    return {max, mean: brightest / n};
  };
  return {width: canvas.width, height: canvas.height,
          inside: box(0.1, 0.25, 0.4, 0.55), outside: box(0.55, 0.25, 0.95, 0.55)};
}"""


@pytest.fixture(scope="module")
def _video_env():
    saved = {key: os.environ.get(key) for key in VIDEO_ENV}
    os.environ.update(VIDEO_ENV)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def hub(_video_env, hub):  # noqa: F811 - the conftest's hub, started with the video settings above
    return hub


# Chromium allowed to use loopback ICE candidates, with their real addresses (no mDNS).
CHROMIUM_EXTRA_ARGS = ["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
                       "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture
def scene(transactional_db):
    from django.contrib.gis.geos import Point

    factories.make_commune()
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["PN", "GN"])
    operator = factories.make_member(role="operator")
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-e2e")
    agent = factories.make_member(role="partner_agent", agency=pn, habilitation_reference="HAB-E2E",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    incident = incident_create(member=operator, nature="rixe",
                               location=Point(2.3222, 48.9883, srid=4326), description="Rixe devant la gare")
    token, _ = api_token_issue(user=operator.user)
    return {"camera": camera, "operator": operator, "agent": agent, "pn": pn, "incident": incident,
            "token": token}


@pytest.fixture(autouse=True)
def _server_quiet(scene, browser, hub):
    """After each test: close the pages, and wait until the server has hung every viewer up and
    closed its pipelines (their journal writes and watchdog queries done) before the database
    is emptied for the next test."""
    yield
    for context in list(browser.contexts):
        context.close()
    request = urllib.request.Request(f"{hub.url}/api/streaming/pipelines/",
                                     headers={"Authorization": f"Bearer {scene['token']}"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=2) as answer:
            state = json.load(answer)
        if not state["pipelines"] and not state["viewers"]:
            return
        time.sleep(0.2)
    pytest.fail(f"the server still streams after the test: {state}")


def test_a_partner_plays_the_granted_feed_masked_and_loses_it_when_revoked(scene, signed_in, csp_watch):
    camera = scene["camera"]
    mask_create(camera=camera, polygon=MASK, created_by=scene["operator"].user)
    incident_share(incident=scene["incident"], agency_code="pn-e2e", member=scene["operator"])
    grant = grant_create(camera=camera, agency_code="pn-e2e", incident=scene["incident"],
                         granted_by=scene["operator"].user, minutes=10)
    context = signed_in(scene["agent"].user)
    csp_watch(context)
    page = context.new_page()
    page.goto("/portail/flux/")
    page.wait_for_function(PLAYING, timeout=BUSY_TIMEOUT)
    assert camera.name in page.locator(".video-tile h2").inner_text()

    page.wait_for_function("() => document.querySelector('.video-tile video').videoWidth > 0")
    pixels = page.evaluate(READ_PIXELS)
    assert (pixels["width"], pixels["height"]) == (320, 180)
    assert pixels["inside"]["max"] < 40, pixels  # the private area is black on screen
    assert pixels["outside"]["mean"] > 150, pixels  # the rest is the bright pattern
    # Pictures keep coming (not one frozen frame).
    page.wait_for_function("() => document.querySelector('.video-tile video')"
                           ".getVideoPlaybackQuality().totalVideoFrames > 10", timeout=BUSY_TIMEOUT)

    # The <video> held in window.__video: the page takes the element away when the grant ends.
    page.evaluate("window.__video = document.querySelector('.video-tile video')")
    grant_revoke(grant=grant, by=scene["operator"].user, reason="fin de l'intervention")
    page.wait_for_function("() => document.querySelector('.video-tile').dataset.state === 'cut'",
                           timeout=BUSY_TIMEOUT)
    # Once cut, no picture comes any more: none presented over the next second (the count may
    # fall back to 0 as the page lets the stream go; it never grows).
    assert page.evaluate(PRESENTED_OVER, 1000) == 0, "frames kept coming after the revocation"
    message = page.locator(".video-tile .video-message").inner_text()
    assert "renvoi d'images" in message.lower() or "interrompues" in message.lower()
    assert csp_watch.violations(page) == []  # WebRTC, the module scripts, the events socket


def test_an_agent_without_a_grant_and_the_croix_rouge_are_refused(scene, signed_in):
    camera = scene["camera"]
    page = signed_in(scene["agent"].user).new_page()
    page.goto(f"/portail/flux/?camera={camera.pk}")
    page.wait_for_function(
        "() => document.querySelector('.video-tile')?.dataset.state === 'refused'", timeout=10_000)
    assert "Aucun renvoi d'images en cours" in page.locator(".video-tile .video-message").inner_text()
    assert page.evaluate("() => document.querySelector('.video-tile video').videoWidth") == 0

    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-e2e")
    crf_member = factories.make_member(role="partner_agent", agency=crf, habilitation_reference="HAB-CRF")
    crf_page = signed_in(crf_member.user).new_page()
    response = crf_page.goto(f"/portail/flux/?camera={camera.pk}")
    assert response.status == 403
    assert "Croix-Rouge" in crf_page.locator("#video-refused").inner_text()
    assert crf_page.locator("video").count() == 0


def test_an_operator_watches_a_wall_of_cameras(scene, signed_in, csp_watch):
    second = factories.make_camera()
    factories.make_authorisation(cameras=[second])
    context = signed_in(scene["operator"].user)
    csp_watch(context)
    page = context.new_page()
    page.goto(f"/mur/?cameras={scene['camera'].pk},{second.pk},999999")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.video-tile')].filter((t) => t.dataset.state === 'playing')"
        ".length === 2", timeout=10_000)
    assert "999999" in page.locator(".notice").inner_text()
    assert csp_watch.violations(page) == []
