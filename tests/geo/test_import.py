"""``manage.py import_communes FILE``: official boundaries in, all or nothing."""

import io
import json

import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command

from geo.models import Commune
from geo.selectors import commune_at
from tests.factories import CENTRE, offset


def square(centre: Point, half_side_m: float) -> list[list[float]]:
    """A closed GeoJSON ring: a square around ``centre``."""
    corners = [offset(offset(centre, bearing=b1, metres=half_side_m), bearing=b2, metres=half_side_m)
               for b1, b2 in ((0, 270), (0, 90), (180, 90), (180, 270))]
    ring = [[p.x, p.y] for p in corners]
    return [*ring, ring[0]]


EAST = offset(CENTRE, bearing=90, metres=5000)
WEST = offset(CENTRE, bearing=270, metres=5000)
FAR_WEST = offset(CENTRE, bearing=270, metres=9000)


def feature(properties: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def polygon(centre: Point = EAST, half_side_m: float = 800) -> dict:
    return {"type": "Polygon", "coordinates": [square(centre, half_side_m)]}


def multipolygon() -> dict:
    return {"type": "MultiPolygon", "coordinates": [[square(WEST, 600)], [square(FAR_WEST, 300)]]}


def bow_tie(centre: Point = EAST) -> dict:
    a, b, c, d = square(centre, 500)[:4]
    return {"type": "Polygon", "coordinates": [[a, c, b, d, a]]}


GOOD = [
    # The government geo API's property names...
    feature({"code": "95288", "nom": "Groslay", "codesPostaux": ["95410"], "population": 8453},
            polygon()),
    # ...and IGN ADMIN EXPRESS's.
    feature({"INSEE_COM": "95555", "NOM": "Saint-Gratien", "POPULATION": 21336}, multipolygon()),
]


def write(tmp_path, features: list[dict], name: str = "communes.geojson"):
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def run(path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_communes", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def snapshot() -> dict:
    return {c.insee_code: (c.name, c.postcode, c.population, c.approximate, c.boundary.ewkt)
            for c in Commune.objects.all()}


@pytest.mark.django_db
def test_good_file_with_a_polygon_and_a_multipolygon_imports(area, tmp_path):
    out, _ = run(write(tmp_path, GOOD))

    assert "2 commune(s) created" in out
    groslay = Commune.objects.get(insee_code="95288")
    assert (groslay.name, groslay.postcode, groslay.population, groslay.approximate) == (
        "Groslay", "95410", 8453, False)
    assert groslay.boundary.geom_type == "MultiPolygon" and len(groslay.boundary) == 1
    saint_gratien = Commune.objects.get(insee_code="95555")
    assert saint_gratien.name == "Saint-Gratien" and len(saint_gratien.boundary) == 2
    assert commune_at(EAST) == groslay
    assert commune_at(WEST) == saint_gratien
    assert commune_at(FAR_WEST) == saint_gratien
    assert commune_at(CENTRE) == area


@pytest.mark.django_db
def test_reimporting_updates_boundaries_and_keeps_what_the_file_lacks(area, tmp_path):
    moved = feature({"code": "95428", "nom": "Montmorency"}, polygon(centre=EAST))

    out, _ = run(write(tmp_path, [moved]))

    assert "0 commune(s) created, 1 updated" in out
    montmorency = Commune.objects.get(insee_code="95428")
    assert commune_at(EAST) == montmorency
    assert commune_at(CENTRE) is None
    # The file has no postcode nor population: the stored ones stay.
    assert (montmorency.postcode, montmorency.population) == ("95160", 21763)
    assert Commune.objects.count() == 1


BAD_FEATURES = {
    "self-intersecting": feature({"code": "95014", "nom": "Andilly"}, bow_tie()),
    "no INSEE code": feature({"nom": "Andilly"}, polygon()),
    "malformed INSEE code": feature({"code": "9501", "nom": "Andilly"}, polygon()),
    "a Point": feature({"code": "95014", "nom": "Andilly"},
                       {"type": "Point", "coordinates": [EAST.x, EAST.y]}),
    "no geometry": feature({"code": "95014", "nom": "Andilly"}, None),
    "no name": feature({"code": "95014"}, polygon()),
    "projected coordinates": feature({"code": "95014", "nom": "Andilly"}, {
        "type": "Polygon", "coordinates": [[[650000, 6870000], [651000, 6870000],
                                            [651000, 6871000], [650000, 6870000]]]}),
    "unclosed ring": feature({"code": "95014", "nom": "Andilly"}, {
        "type": "Polygon", "coordinates": [square(EAST, 500)[:4]]}),
    "text coordinates": feature({"code": "95014", "nom": "Andilly"}, {
        "type": "Polygon", "coordinates": [[["a", "b"], ["c", "d"], ["e", "f"], ["a", "b"]]]}),
    "no coordinates": feature({"code": "95014", "nom": "Andilly"}, {"type": "Polygon"}),
    "negative population": feature({"code": "95014", "nom": "Andilly", "population": -3}, polygon()),
    "properties not an object": feature(["95014", "Andilly"], polygon()),
    "too few points": feature({"code": "95014", "nom": "Andilly"}, {
        "type": "Polygon", "coordinates": [[[EAST.x, EAST.y], [EAST.x, EAST.y]]]}),
    "a GeometryCollection": feature({"code": "95014", "nom": "Andilly"}, {
        "type": "GeometryCollection", "geometries": [polygon()]}),
    "not a Feature": {"type": "Polygon", "coordinates": [square(EAST, 500)]},
}


@pytest.mark.django_db
@pytest.mark.parametrize("problem", list(BAD_FEATURES))
def test_one_bad_feature_refuses_the_whole_file(area, tmp_path, problem):
    # A good update of an existing commune and a good new one, around the bad feature.
    update = feature({"code": "95428", "nom": "Montmorency (nouveau contour)"}, polygon(centre=EAST))
    features = [update, BAD_FEATURES[problem], GOOD[1]]
    before = snapshot()

    with pytest.raises(CommandError, match="nothing was imported"):
        run(write(tmp_path, features))

    assert snapshot() == before


@pytest.mark.django_db
def test_every_bad_feature_is_reported(area, tmp_path):
    features = [GOOD[0], BAD_FEATURES["self-intersecting"],
                feature({"nom": "Attainville"}, polygon(centre=WEST)),
                feature({"code": "95091", "nom": "Bouffémont"},
                        {"type": "Point", "coordinates": [EAST.x, EAST.y]})]
    err = io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("import_communes", str(write(tmp_path, features)), stdout=io.StringIO(),
                     stderr=err)

    report = err.getvalue()
    assert "feature 0" not in report
    assert "feature 1 (95014)" in report and "invalid geometry" in report.lower()
    assert "feature 2" in report and "INSEE" in report
    assert "feature 3 (95091)" in report and "'Point'" in report
    assert "3 problem(s)" in str(raised.value)
    assert Commune.objects.count() == 1


@pytest.mark.django_db
def test_two_features_with_the_same_code_are_refused(area, tmp_path):
    twice = [GOOD[0], feature({"code": "95288", "nom": "Groslay bis"}, polygon(centre=WEST))]
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_communes", str(write(tmp_path, twice)), stdout=io.StringIO(), stderr=err)
    assert "feature 1 (95288)" in err.getvalue()
    assert not Commune.objects.filter(insee_code="95288").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("content", [
    "not json at all",
    json.dumps({"type": "Feature", "properties": {}, "geometry": None}),
    json.dumps({"type": "FeatureCollection", "features": []}),
    json.dumps({"type": "FeatureCollection", "features": "none"}),
    json.dumps([1, 2, 3]),
])
def test_files_that_are_not_a_feature_collection_are_refused(area, tmp_path, content):
    path = tmp_path / "bad.geojson"
    path.write_text(content, encoding="utf-8")
    before = snapshot()
    with pytest.raises(CommandError):
        run(path)
    assert snapshot() == before


@pytest.mark.django_db
def test_missing_file_is_a_command_error(area, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "absent.geojson")
