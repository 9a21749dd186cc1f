"""Coverage lookups and the map layer, on real PostGIS: who can see a point, in which order."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from cameras.choices import CameraKind, CameraStatus
from cameras.selectors import camera_layer_geojson, cameras_with_authorisation, coverage_at
from cameras.services import camera_update, preset_set
from tests.factories import CENTRE, make_authorisation, make_camera, offset


def hits_by_id(point):
    return {hit.camera_id: hit for hit in coverage_at(point)}


def ranked_ids(point, cameras):
    wanted = {c.pk for c in cameras}
    return [hit.camera_id for hit in coverage_at(point) if hit.camera_id in wanted]


# PTZ reach -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ptz_covers_a_point_behind_it_within_range_and_says_where_to_turn(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=200)
    behind = offset(CENTRE, bearing=180, metres=150)

    hit = hits_by_id(behind)[ptz.pk]

    assert hit.in_view is False
    assert hit.turn_to == pytest.approx(180, abs=0.5)
    assert hit.off_axis == pytest.approx(180, abs=0.5)
    assert hit.distance_m == pytest.approx(150, abs=1)
    assert hit.preset is None


@pytest.mark.django_db
def test_ptz_does_not_cover_a_point_beyond_its_range(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=200)
    assert ptz.pk not in hits_by_id(offset(CENTRE, bearing=180, metres=250))
    assert ptz.pk not in hits_by_id(offset(CENTRE, bearing=0, metres=250))


@pytest.mark.django_db
def test_fixed_camera_does_not_reach_behind_it(area):
    """Only a PTZ camera can be turned: a fixed one sees its sector and nothing else."""
    fixed = make_camera(kind=CameraKind.FIXED, heading=0, angle=55, range_m=200)
    assert fixed.pk not in hits_by_id(offset(CENTRE, bearing=180, metres=150))


@pytest.mark.django_db
def test_ptz_already_looking_at_the_point_needs_no_turn(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=90, angle=55, range_m=200)
    hit = hits_by_id(offset(CENTRE, bearing=95, metres=100))[ptz.pk]
    assert hit.in_view is True
    assert hit.turn_to is None


@pytest.mark.django_db
def test_a_longer_preset_extends_ptz_coverage_and_is_named(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=200)
    far_east = offset(CENTRE, bearing=90, metres=350)
    assert ptz.pk not in hits_by_id(far_east)

    preset_set(camera=ptz, number=3, name="Gare", heading=90, angle=30, range_m=400)

    hit = hits_by_id(far_east)[ptz.pk]
    assert hit.preset == 3
    assert hit.turn_to == pytest.approx(90, abs=0.5)
    # Beyond the preset's own range, still nothing.
    assert ptz.pk not in hits_by_id(offset(CENTRE, bearing=90, metres=450))
    # Outside the preset's narrow sector at that distance, nothing either.
    assert ptz.pk not in hits_by_id(offset(CENTRE, bearing=140, metres=350))


@pytest.mark.django_db
def test_changing_a_preset_moves_the_coverage_with_it(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=200,
                      presets=[{"number": 1, "name": "Est", "heading": 90, "angle": 30,
                                "range_m": 400}])
    east, west = offset(CENTRE, bearing=90, metres=350), offset(CENTRE, bearing=270, metres=350)
    assert ptz.pk in hits_by_id(east)

    preset_set(camera=ptz, number=1, name="Ouest", heading=270, angle=30, range_m=400)

    assert ptz.pk not in hits_by_id(east)
    assert hits_by_id(west)[ptz.pk].preset == 1


@pytest.mark.django_db
def test_the_shortest_preset_that_sees_the_point_is_proposed(area):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=100, presets=[
        {"number": 1, "name": "Loin", "heading": 90, "angle": 40, "range_m": 600},
        {"number": 2, "name": "Près", "heading": 90, "angle": 40, "range_m": 300},
    ])
    assert hits_by_id(offset(CENTRE, bearing=90, metres=250))[ptz.pk].preset == 2
    assert hits_by_id(offset(CENTRE, bearing=90, metres=450))[ptz.pk].preset == 1


# Ranking -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_nearer_camera_ranks_before_farther_one_on_the_same_axis(area):
    spot = offset(CENTRE, bearing=0, metres=200)
    far = make_camera(location=offset(spot, bearing=180, metres=150), heading=0, angle=60, range_m=200)
    near = make_camera(location=offset(spot, bearing=180, metres=50), heading=0, angle=60, range_m=200)

    assert ranked_ids(spot, [near, far]) == [near.pk, far.pk]


@pytest.mark.django_db
def test_on_axis_camera_ranks_before_off_axis_one_at_equal_distance(area):
    spot = offset(CENTRE, bearing=0, metres=200)
    # West of the spot, looking 30° left of it: the spot is in view, off axis.
    off_axis = make_camera(location=offset(spot, bearing=270, metres=100), heading=60, angle=90,
                           range_m=200)
    # South of the spot, looking straight at it.
    on_axis = make_camera(location=offset(spot, bearing=180, metres=100), heading=0, angle=90,
                          range_m=200)

    hits = hits_by_id(spot)
    assert hits[off_axis.pk].distance_m == pytest.approx(hits[on_axis.pk].distance_m, abs=1)
    assert hits[off_axis.pk].off_axis == pytest.approx(30, abs=1)
    assert ranked_ids(spot, [on_axis, off_axis]) == [on_axis.pk, off_axis.pk]


@pytest.mark.django_db
def test_offline_camera_ranks_after_online_ones_even_when_better_placed(area):
    spot = offset(CENTRE, bearing=0, metres=200)
    best = make_camera(location=offset(spot, bearing=180, metres=20), heading=0, range_m=200)
    worse = make_camera(location=offset(spot, bearing=180, metres=150), heading=0, range_m=200)
    assert ranked_ids(spot, [best, worse]) == [best.pk, worse.pk]

    camera_update(camera=best, status=CameraStatus.OFFLINE)

    ranked = coverage_at(spot)
    assert [h.camera_id for h in ranked if h.camera_id in {best.pk, worse.pk}] == [worse.pk, best.pk]
    # Still listed, and flagged as offline: the operator knows it exists.
    assert {h.camera_id: h.status for h in ranked}[best.pk] == CameraStatus.OFFLINE


@pytest.mark.django_db
def test_point_seen_by_no_camera_gives_an_empty_list(area):
    make_camera(heading=0, range_m=100)
    assert coverage_at(offset(CENTRE, bearing=90, metres=800)) == []


# Authorisation expiry ---------------------------------------------------------------------


@pytest.fixture
def today():
    return timezone.localdate()


def layer_authorised(camera):
    layer = json.loads(camera_layer_geojson(bbox=None))
    return {f["id"]: f["properties"]["authorised"] for f in layer["features"]}[camera.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(("starts", "ends", "authorised"), [
    (-400, -1, False),  # ended yesterday
    (-400, 0, True),  # ends tonight: still valid today
    (0, 365, True),  # starts today
    (1, 365, False),  # not yet in force
])
def test_authorisation_validity_is_shown_in_coverage_and_map_layer(area, today, starts, ends,
                                                                   authorised):
    camera = make_camera(heading=0, range_m=100)
    make_authorisation(cameras=[camera], valid_from=today + dt.timedelta(days=starts),
                       valid_until=today + dt.timedelta(days=ends))
    spot = offset(CENTRE, bearing=0, metres=50)

    assert hits_by_id(spot)[camera.pk].authorised is authorised
    assert layer_authorised(camera) is authorised
    assert cameras_with_authorisation().get(pk=camera.pk).authorised is authorised


@pytest.mark.django_db
def test_camera_without_any_authorisation_is_flagged(area):
    camera = make_camera(heading=0, range_m=100)
    assert hits_by_id(offset(CENTRE, bearing=0, metres=50))[camera.pk].authorised is False
    assert layer_authorised(camera) is False


@pytest.mark.django_db
def test_one_valid_authorisation_is_enough_beside_an_expired_one(area, today):
    camera = make_camera(heading=0, range_m=100)
    make_authorisation(cameras=[camera], valid_from=today - dt.timedelta(days=800),
                       valid_until=today - dt.timedelta(days=1))
    assert layer_authorised(camera) is False

    make_authorisation(cameras=[camera], valid_from=today, valid_until=today + dt.timedelta(days=30))

    assert layer_authorised(camera) is True
    assert hits_by_id(offset(CENTRE, bearing=0, metres=50))[camera.pk].authorised is True


# Map layer -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_layer_bbox_keeps_cameras_whose_coverage_meets_it(area):
    here = make_camera(heading=0, range_m=100)
    away = make_camera(location=offset(CENTRE, bearing=90, metres=900), heading=90, range_m=80)
    box = (CENTRE.x - 0.002, CENTRE.y - 0.002, CENTRE.x + 0.002, CENTRE.y + 0.002)

    ids = {f["id"] for f in json.loads(camera_layer_geojson(bbox=box))["features"]}
    everything = {f["id"] for f in json.loads(camera_layer_geojson(bbox=None))["features"]}

    assert ids == {here.pk}
    assert everything == {here.pk, away.pk}


@pytest.mark.django_db
def test_layer_feature_carries_position_and_field_of_view(area):
    camera = make_camera(heading=45, angle=90, range_m=120)
    (feature,) = json.loads(camera_layer_geojson(bbox=None))["features"]
    assert feature["geometry"]["type"] == "Point"
    assert feature["geometry"]["coordinates"] == pytest.approx([CENTRE.x, CENTRE.y], abs=1e-6)
    assert feature["properties"]["fov"]["type"] == "Polygon"
    assert feature["properties"]["code"] == camera.code
    assert feature["properties"]["masked"] is False
