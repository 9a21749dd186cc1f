"""Communes: the commune of a point, the demo boundaries, and the communes layer."""

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from geo.models import Commune
from geo.selectors import commune_at, in_service_area, service_area
from geo.services import demo_communes_ensure, read_demo_communes
from tests.factories import CENTRE, offset


@pytest.mark.django_db
def test_commune_at_finds_the_commune_of_a_point_and_none_outside(area):
    assert commune_at(CENTRE) == area
    assert commune_at(offset(CENTRE, bearing=45, metres=900)) == area
    assert commune_at(offset(CENTRE, bearing=90, metres=1100)) is None
    assert commune_at(Point(2.3522, 48.8566, srid=4326)) is None  # Paris
    assert in_service_area(CENTRE)
    assert not in_service_area(offset(CENTRE, bearing=0, metres=1500))


@pytest.mark.django_db
def test_demo_communes_are_the_eighteen_of_the_csv(demo_communes):
    rows = read_demo_communes()
    assert len(demo_communes) == len(rows) == 18
    assert {c.insee_code: (c.name, c.postcode, c.population) for c in demo_communes} == {
        r["insee_code"]: (r["name"], r["postcode"], r["population"]) for r in rows}
    assert all(c.approximate for c in demo_communes)
    assert all(c.boundary.valid and not c.boundary.empty for c in demo_communes)


@pytest.mark.django_db
def test_each_csv_centre_falls_in_its_own_commune(demo_communes):
    for row in read_demo_communes():
        found = commune_at(Point(row["lon"], row["lat"], srid=4326))
        assert found is not None and found.insee_code == row["insee_code"], row["name"]


@pytest.mark.django_db
def test_demo_communes_do_not_overlap(demo_communes):
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT a.insee_code, b.insee_code, ST_Overlaps(a.boundary, b.boundary),
                   ST_Area(ST_Transform(ST_Intersection(a.boundary, b.boundary), 2154))
            FROM geo_commune a JOIN geo_commune b
              ON a.insee_code < b.insee_code AND ST_Intersects(a.boundary, b.boundary)
        """)
        shared = cursor.fetchall()
        cursor.execute("""
            SELECT sum(ST_Area(ST_Transform(boundary, 2154))),
                   ST_Area(ST_Transform(ST_Union(boundary), 2154))
            FROM geo_commune
        """)
        total, union = cursor.fetchone()
    # Neighbours share borders (they touch), not land: at most rounding noise of a square metre.
    assert shared, "neighbouring communes should touch"
    assert [(a, b) for a, b, overlaps, _ in shared if overlaps] == []
    assert max(area_m2 for *_, area_m2 in shared) < 1.0
    assert union == pytest.approx(total, rel=1e-6)
    # Plausible sizes for communes of the Val-d'Oise: the whole area is tens of km².
    assert 50e6 < union < 400e6


@pytest.mark.django_db
def test_demo_communes_are_idempotent_and_keep_imported_ones(demo_communes):
    montmorency = Commune.objects.get(insee_code="95428")
    Commune.objects.filter(pk=montmorency.pk).update(name="Montmorency (officiel)", approximate=False)

    assert demo_communes_ensure() == 0

    assert Commune.objects.count() == 18
    kept = Commune.objects.get(insee_code="95428")
    assert (kept.name, kept.approximate) == ("Montmorency (officiel)", False)


@pytest.mark.django_db
def test_communes_layer_is_geojson_of_every_commune(demo_communes, api, operator):
    response = api.as_member(operator).get("/api/geo/communes/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/geo+json"
    layer = response.json()
    assert layer["type"] == "FeatureCollection"
    features = {f["properties"]["insee_code"]: f for f in layer["features"]}
    assert set(features) == {c.insee_code for c in demo_communes}
    montmorency = features["95428"]
    assert montmorency["properties"]["name"] == "Montmorency"
    assert montmorency["properties"]["postcode"] == "95160"
    assert montmorency["properties"]["approximate"] is True
    assert montmorency["geometry"]["type"] == "MultiPolygon"
    ring = montmorency["geometry"]["coordinates"][0][0]
    assert ring[0] == ring[-1] and len(ring) >= 4
    assert all(2.2 < lon < 2.45 and 48.9 < lat < 49.1 for lon, lat in ring)


@pytest.mark.django_db
def test_communes_layer_of_an_empty_registry_is_an_empty_collection(db, api, operator):
    layer = api.as_member(operator).get("/api/geo/communes/").json()
    assert layer == {"type": "FeatureCollection", "features": []}
    assert service_area() is None


@pytest.mark.django_db
def test_communes_layer_needs_an_account(area, anon_api):
    assert anon_api.get("/api/geo/communes/").status_code in {401, 403}
