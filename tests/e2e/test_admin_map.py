"""The admin's map widget in a real browser: OpenLayers and the background come from the hub
itself (its PMTiles archive), the point being edited is drawn over them, and the page asks
nothing of any other host."""

from __future__ import annotations

import io
import os
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from PIL import Image, ImageStat

from geo.basemap import render_basemap
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    return tmp_path_factory.mktemp("basemap") / "territory.pmtiles"


@pytest.fixture(scope="module")
def hub_env(archive_path) -> dict[str, str]:
    return {"HUB_MAP_PMTILES": str(archive_path)}


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name), full_page=True)


def test_camera_change_page_draws_its_map_from_the_hub_alone(hub, new_context, archive_path):
    commune = factories.make_commune()
    render_basemap(archive_path, min_zoom=11, max_zoom=15, margin_m=1500)
    camera = factories.make_camera(commune=commune)
    user = get_user_model().objects.create_user("admin-map", is_staff=True, is_superuser=True)

    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = new_context()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": hub.url}])
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    failed: list[str] = []
    context.on("requestfailed", lambda request: failed.append(request.url))
    page = context.new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"/admin/cameras/camera/{camera.pk}/change/")

    page.get_by_role("heading", name="Modification de caméra").wait_for()
    widget = page.locator("#id_location_map")
    widget.wait_for()
    page.wait_for_load_state("networkidle")
    screenshot(page, "admin-camera-change.png")

    hub_origin = urlsplit(hub.url).netloc
    web = [urlsplit(url) for url in requested if urlsplit(url).scheme in {"http", "https", "ws", "wss"}]
    elsewhere = [url.geturl() for url in web if url.netloc != hub_origin]
    assert elsewhere == []
    # Nor does the page name another host (a script the Content-Security-Policy blocks is never
    # requested: the page itself must not ask for it).
    named = page.evaluate("""() => [...document.querySelectorAll('script[src], link[href], img[src]')]
        .map((element) => new URL(element.src || element.href, location.href).host)""")
    assert set(named) == {hub_origin}
    assert not failed
    assert any("/static/vendor/ol/ol.js" in url for url in requested)
    assert any("/api/geo/basemap.pmtiles" in url for url in requested)
    assert page.locator(".hub-basemap-notice").inner_text() == ""

    # The background is drawn: with the communes' outlines hidden and the whole commune in view,
    # the map is not one flat colour (the archive's commune tint, its boundary, the dark around).
    page.evaluate("""async () => {
        const map = geodjango_location.map;
        map.getLayers().item(0).getLayers().item(1).setVisible(false);
        map.getView().setZoom(13);
        await new Promise((resolve) => map.once('rendercomplete', resolve));
    }""")
    page.wait_for_load_state("networkidle")
    shot = Image.open(io.BytesIO(widget.screenshot())).convert("RGB")
    width, height = shot.size
    middle = shot.crop((int(width * .1), int(height * .1), int(width * .9), int(height * .9)))
    spread = ImageStat.Stat(middle).stddev
    assert max(spread) > 5, spread
    colours = middle.getcolors(maxcolors=100_000)
    assert colours is not None and len(colours) > 3


def test_without_a_background_the_map_says_so(hub, new_context, archive_path, settings):
    # The archive is removed: the hub answers 404 for it, the widget says the map did not load.
    commune = factories.make_commune()
    camera = factories.make_camera(commune=commune)
    if archive_path.exists():
        archive_path.unlink()
    user = get_user_model().objects.create_user("admin-map-2", is_staff=True, is_superuser=True)

    from django.test import Client

    client = Client()
    client.force_login(user)
    context = new_context()
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                          "value": client.cookies[settings.SESSION_COOKIE_NAME].value, "url": hub.url}])
    page = context.new_page()
    page.goto(f"/admin/cameras/camera/{camera.pk}/change/")
    notice = page.locator(".hub-basemap-notice")
    notice.filter(has_text="fond de carte").wait_for()
    assert notice.inner_text() == "Le fond de carte ne s'est pas chargé : seules les communes sont dessinées."
