"""Field-of-view geometry, on real PostGIS (containment is asked of the database)."""

import pytest
from django.contrib.gis.geos import Point

from cameras.models import Camera
from tests.factories import CENTRE, make_camera, offset


@pytest.mark.django_db
def test_camera_heading_north_sees_north_not_south_nor_beyond_range(area):
    camera = make_camera(heading=0, angle=90, range_m=100)
    sees = Camera.objects.filter(pk=camera.pk, fov__covers=offset(CENTRE, bearing=0, metres=50))
    south = Camera.objects.filter(pk=camera.pk, fov__covers=offset(CENTRE, bearing=180, metres=50))
    far = Camera.objects.filter(pk=camera.pk, fov__covers=offset(CENTRE, bearing=0, metres=150))
    assert sees.exists()
    assert not south.exists()
    assert not far.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("bearing", "inside"), [(44, True), (-44, True), (46, False), (-46, False)])
def test_sector_edges_follow_the_horizontal_angle(area, bearing, inside):
    camera = make_camera(heading=0, angle=90, range_m=100)
    point = offset(CENTRE, bearing=bearing % 360, metres=80)
    assert Camera.objects.filter(pk=camera.pk, fov__covers=point).exists() is inside


@pytest.mark.django_db
def test_sector_wraps_around_north(area):
    camera = make_camera(heading=350, angle=60, range_m=100)
    assert Camera.objects.filter(pk=camera.pk, fov__covers=offset(CENTRE, bearing=15, metres=60)).exists()
    assert not Camera.objects.filter(pk=camera.pk,
                                     fov__covers=offset(CENTRE, bearing=30, metres=60)).exists()


@pytest.mark.django_db
def test_full_circle_angle_sees_all_around(area):
    camera = make_camera(kind="panoramic", heading=0, angle=360, range_m=60)
    for bearing in (0, 90, 180, 270):
        assert Camera.objects.filter(pk=camera.pk,
                                     fov__covers=offset(CENTRE, bearing=bearing, metres=55)).exists()
    assert not Camera.objects.filter(pk=camera.pk, fov__covers=offset(CENTRE, bearing=0, metres=70)).exists()


@pytest.mark.django_db
def test_range_matches_postgis_geography_distance(area):
    """The arc drawn in Python and distances measured by PostGIS agree within a metre."""
    from django.db import connection

    camera = make_camera(heading=45, angle=90, range_m=300)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(ST_Distance(%s::geography, (dp).geom::geography)) "
            "FROM (SELECT ST_DumpPoints(fov) AS dp FROM cameras_camera WHERE id = %s) t",
            [Point(CENTRE.x, CENTRE.y, srid=4326).ewkt, camera.pk])
        (farthest,) = cursor.fetchone()
    assert farthest == pytest.approx(300, abs=1.0)
