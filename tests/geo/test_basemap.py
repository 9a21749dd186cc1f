"""The map's background: the sources pages try, the generated offline basemap (a PMTiles
archive, read back here with the reference reader), the archive served with HTTP ranges,
and the Content-Security-Policy that admits the tile server and nothing else."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from PIL import Image
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import TileType

from config.security import content_security_policy
from geo.basemap import OUTSIDE, basemap_sources, render_basemap, world_pixel
from tests.factories import CENTRE, offset

pytestmark = pytest.mark.django_db

FILE = "/api/geo/basemap.pmtiles"


@pytest.fixture
def archive(area, tmp_path):
    """The basemap of the test commune (2 km square), zoom 11 to 14."""
    path = tmp_path / "territory.pmtiles"
    summary = render_basemap(path, min_zoom=11, max_zoom=14, margin_m=500)
    return path, summary


def _tile(reader: Reader, lon: float, lat: float, zoom: int) -> Image.Image:
    x, y = world_pixel(lon, lat, zoom)
    data = reader.get(zoom, int(x // 256), int(y // 256))
    assert data is not None, (zoom, lon, lat)
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_the_generated_archive_reads_back(archive):
    path, summary = archive
    with path.open("rb") as handle:
        reader = Reader(MmapSource(handle))
        header = reader.header()
        assert header["tile_type"] == TileType.PNG
        assert (header["min_zoom"], header["max_zoom"]) == (11, 14)
        assert header["clustered"]
        assert header["addressed_tiles_count"] == summary.tiles
        west, south, east, north = summary.bounds
        assert west < CENTRE.x < east and south < CENTRE.y < north
        assert header["min_lon_e7"] == round(west * 1e7)
        assert reader.metadata()["attribution"].startswith("Fond généré par le hub")

        # The commune is drawn: its middle is not the colour of what lies around it...
        inside = _tile(reader, CENTRE.x, CENTRE.y, 14)
        assert inside.size == (256, 256)
        px, py = world_pixel(CENTRE.x, CENTRE.y, 14)
        colour = inside.getpixel((int(px % 256), int(py % 256)))
        assert max(abs(a - b) for a, b in zip(colour, OUTSIDE, strict=True)) > 8
        # ... its edge (1 km east of the centre) crosses a tile: two colours and a line.
        edge = offset(CENTRE, bearing=90, metres=1000)
        crossing = _tile(reader, edge.x, edge.y, 13)
        assert len(crossing.getcolors(256 * 256)) > 3
        # Outside the archive, nothing.
        assert reader.get(14, 0, 0) is None


def test_the_command_draws_the_archive_once(area, tmp_path):
    path = tmp_path / "demo.pmtiles"
    out = io.StringIO()
    call_command("make_basemap", str(path), "--min-zoom", "11", "--max-zoom", "12", stdout=out)
    assert path.exists() and "tiles" in out.getvalue()
    written = path.stat().st_mtime_ns
    out = io.StringIO()
    call_command("make_basemap", str(path), "--if-missing", stdout=out)
    assert "already there" in out.getvalue()
    assert path.stat().st_mtime_ns == written


def test_without_communes_there_is_nothing_to_draw(db, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no commune"):
        call_command("make_basemap", str(tmp_path / "x.pmtiles"))
    assert not (tmp_path / "x.pmtiles").exists()


# --- The archive served with ranges.


@pytest.fixture
def served(archive, settings, api, operator):
    path, _ = archive
    settings.HUB_MAP_PMTILES = path
    return path.read_bytes(), api.as_member(operator)


def test_a_range_is_answered_with_its_bytes(served):
    content, client = served
    answer = client.get(FILE, HTTP_RANGE="bytes=0-126")
    assert answer.status_code == 206
    assert answer["Content-Range"] == f"bytes 0-126/{len(content)}"
    assert answer["Accept-Ranges"] == "bytes"
    assert answer.content == content[:127]
    assert answer.content.startswith(b"PMTiles\x03")
    etag = answer["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    answer = client.get(FILE, HTTP_RANGE=f"bytes=100-{len(content) + 1000}")  # clipped to the end
    assert answer.status_code == 206 and answer.content == content[100:]
    answer = client.get(FILE, HTTP_RANGE="bytes=-10")  # the last ten bytes
    assert answer.status_code == 206 and answer.content == content[-10:]
    answer = client.get(FILE, HTTP_RANGE="bytes=50-")
    assert answer.status_code == 206 and answer.content == content[50:]


def test_a_range_beyond_the_end_is_refused(served):
    content, client = served
    answer = client.get(FILE, HTTP_RANGE=f"bytes={len(content)}-")
    assert answer.status_code == 416
    assert answer["Content-Range"] == f"bytes */{len(content)}"
    assert answer.json() == {"error": "range_not_satisfiable",
                             "detail": "La plage demandée commence après la fin du fichier."}


def test_without_a_usable_range_the_whole_file_comes(served):
    content, client = served
    for headers in ({}, {"HTTP_RANGE": "bytes=0-9,20-29"}, {"HTTP_RANGE": "lines=1-2"},
                    {"HTTP_RANGE": "bytes=0-9", "HTTP_IF_RANGE": '"an-older-version"'}):
        answer = client.get(FILE, **headers)
        assert answer.status_code == 200, headers
        assert b"".join(answer.streaming_content) == content


def test_the_archive_is_for_signed_in_members_only(served, api):
    from tests.factories import TokenClient

    assert TokenClient().get(FILE, HTTP_RANGE="bytes=0-9").status_code in {401, 403}


def test_partners_read_it_too(archive, settings, api, partner_agent):
    settings.HUB_MAP_PMTILES = archive[0]
    assert api.as_member(partner_agent).get(FILE, HTTP_RANGE="bytes=0-9").status_code == 206


def test_no_archive_is_a_clear_404(settings, api, operator, tmp_path):
    settings.HUB_MAP_PMTILES = tmp_path / "missing.pmtiles"
    answer = api.as_member(operator).get(FILE, HTTP_RANGE="bytes=0-9")
    assert answer.status_code == 404
    assert answer.json() == {"error": "not_found",
                             "detail": "Pas de fond de carte local sur ce hub (HUB_MAP_PMTILES)."}


# --- Sources and the Content-Security-Policy.


def test_sources_come_in_the_order_to_try_them(settings, tmp_path):
    settings.HUB_MAP_PMTILES = tmp_path / "t.pmtiles"
    assert [(s["kind"], s["label"]) for s in basemap_sources()] == [
        ("tiles", "Plan IGN"), ("pmtiles", "Fond de carte local")]
    first = basemap_sources()[0]
    assert first["url"].startswith("https://data.geopf.fr/wmts?")
    assert "LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2" in first["url"]
    assert "TILEMATRIXSET=PM" in first["url"] and "{z}" in first["url"]
    assert first["attribution"] == "Plan IGN v2 © IGN (Licence Ouverte 2.0)"
    assert basemap_sources()[1]["url"] == FILE
    settings.HUB_MAP_TILE_URL = ""
    settings.HUB_MAP_PMTILES = None
    assert basemap_sources() == []


def _directive(rf, name: str) -> str:
    policy = content_security_policy(rf.get("/console/"))
    return next(d for d in policy.split("; ") if d.startswith(f"{name} "))


@pytest.mark.parametrize(("url", "img_src"), [
    ("https://data.geopf.fr/wmts?LAYER=X&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}",
     "img-src 'self' data: blob: https://data.geopf.fr"),
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png",
     "img-src 'self' data: blob: https://a.tile.example.org https://b.tile.example.org "
     "https://c.tile.example.org"),
    ("http://127.0.0.1:8088/{z}/{x}/{y}.png", "img-src 'self' data: blob: http://127.0.0.1:8088"),
    ("", "img-src 'self' data: blob:"),
    ("javascript:alert(1)//{z}", "img-src 'self' data: blob:"),
])
def test_the_policy_admits_the_tile_server_and_nothing_else(rf, settings, url, img_src):
    settings.HUB_MAP_TILE_URL = url
    assert _directive(rf, "img-src") == img_src
    assert _directive(rf, "connect-src") == "connect-src 'self' ws://testserver wss://testserver"
    assert _directive(rf, "default-src") == "default-src 'self'"
