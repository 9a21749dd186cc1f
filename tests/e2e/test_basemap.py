"""The map's background in a real browser: an online tile server that does not answer (a
closed port on loopback), then the offline PMTiles archive the hub serves, read by the
vendored pmtiles library with range requests; and the notice when no tile loads."""

from __future__ import annotations

import io
import os
import socket

import pytest
from PIL import Image, ImageStat

from geo.basemap import render_basemap
from partners.choices import AgencyKind
from tests import factories
from tests.e2e.conftest import live

pytestmark = pytest.mark.usefixtures("transactional_db")

TILES_DRAWN = """() => {
    const tiles = [...document.querySelectorAll('.leaflet-tile-pane img')];
    return tiles.length > 0 && tiles.every((tile) => tile.classList.contains('leaflet-tile-loaded')
        && getComputedStyle(tile).opacity === '1');
}"""


def screenshot(page, name: str) -> None:
    """E2E_SCREENSHOTS=/tmp: keep a picture of the screen, to look at it."""
    folder = os.environ.get("E2E_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, name))


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory):
    return tmp_path_factory.mktemp("basemap") / "territory.pmtiles"


@pytest.fixture(scope="module")
def hub_env(archive_path) -> dict[str, str]:
    with socket.socket() as sock:  # a port nobody listens on: the tile server is down
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    return {"HUB_MAP_TILE_URL": f"http://127.0.0.1:{closed}/{{z}}/{{x}}/{{y}}.png",
            "HUB_MAP_PMTILES": str(archive_path)}


def middle_of_map(page) -> Image.Image:
    """The middle of the map (away from the controls and the notice), as the screen shows it."""
    shot = Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")
    width, height = shot.size
    return shot.crop((int(width * .3), int(height * .3), int(width * .7), int(height * .7)))


def test_the_offline_basemap_is_drawn_under_the_map(hub, signed_in, csp_watch, archive_path):
    factories.make_commune()
    render_basemap(archive_path, min_zoom=11, max_zoom=15, margin_m=1500)
    agency = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    member = factories.make_member(role="partner_agent", agency=agency)
    context = signed_in(member.user)
    csp_watch(context)
    archive_answers: list[int] = []
    context.on("response", lambda r: archive_answers.append(r.status)
               if "/api/geo/basemap.pmtiles" in r.url else None)
    page = live(context.new_page(), "/portail/incidents/")

    # The online server does not answer: the local archive is shown, and the map says so.
    notice = page.locator(".basemap-notice")
    notice.filter(has_text="Fond de carte local affiché").wait_for()
    assert notice.inner_text() == "Fond de carte en ligne injoignable (aucune tuile reçue) : " \
                                  "Fond de carte local affiché."
    assert page.get_by_role("radio", name="Fond de carte local").is_checked()
    page.wait_for_function(TILES_DRAWN)
    assert archive_answers and set(archive_answers) == {206}  # read piecewise, by ranges
    screenshot(page, "basemap-portal.png")

    # Under the communes' outlines (hidden here) the background has shapes and lines...
    page.get_by_role("checkbox", name="Communes").uncheck()
    drawn = middle_of_map(page)
    colours = drawn.getcolors(drawn.width * drawn.height)
    assert len(colours) > 2, colours
    assert max(high - low for low, high in ImageStat.Stat(drawn).extrema) > 10

    # ... and the same area without a background is one flat colour.
    page.get_by_role("radio", name="Sans fond de carte").check()
    page.wait_for_function("() => !document.querySelector('.leaflet-tile-pane img')")
    bare = middle_of_map(page)
    assert len(bare.getcolors(bare.width * bare.height)) == 1
    assert notice.is_hidden()
    assert csp_watch.violations(page) == []


def test_when_no_tile_loads_the_map_says_so(hub, signed_in, csp_watch, archive_path):
    factories.make_commune()
    archive_path.unlink(missing_ok=True)  # the centre's file is gone, the Internet too
    operator = factories.make_member(role="operator")
    context = signed_in(operator.user)
    csp_watch(context)
    page = live(context.new_page(), "/console/")

    notice = page.locator(".basemap-notice.warn")
    notice.wait_for()
    assert notice.inner_text() == (
        "Fond de carte indisponible : Fond de carte local ne répond pas (fichier absent du hub). "
        "Les communes, caméras et incidents restent affichés.")
    assert notice.get_attribute("role") == "status"
    # The map still shows what the hub draws itself.
    page.locator(".commune-label span", has_text="Montmorency").wait_for()
    screenshot(page, "basemap-missing-console.png")
    assert csp_watch.violations(page) == []
