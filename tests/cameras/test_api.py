"""The camera registry over HTTP: coverage, the map layer, camera settings, masks, moves.

Every bad input answers 400 with ``{"error": code, "detail": {field: [...]}}`` and writes nothing.
"""

import datetime as dt

import pytest
from django.utils import timezone

from cameras.choices import CameraKind
from cameras.models import Camera, CameraRelocation, PrivacyMask
from cameras.services import mask_create
from tests.factories import CENTRE, make_authorisation, make_camera, offset

COVERAGE = "/api/cameras/coverage/"
LAYER = "/api/cameras/"
BOW_TIE = [[0, 0], [1, 1], [1, 0], [0, 1]]
SQUARE = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3], [0.1, 0.3]]


def detail_url(camera) -> str:
    return f"/api/cameras/{camera.pk}/"


def masks_url(camera) -> str:
    return f"/api/cameras/{camera.pk}/masks/"


def assert_field_error(response, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert field in body["detail"], body
    assert isinstance(body["detail"][field], list) and body["detail"][field]


def coverage(api, point) -> list[dict]:
    response = api.get(COVERAGE, {"lat": point.y, "lon": point.x})
    assert response.status_code == 200, response.content
    return response.json()["cameras"]


def covering_ids(api, point) -> list[int]:
    return [hit["camera_id"] for hit in coverage(api, point)]


# Coverage --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_coverage_lists_cameras_that_see_the_point_best_first(area, api, operator):
    spot = offset(CENTRE, bearing=0, metres=200)
    far = make_camera(location=offset(spot, bearing=180, metres=150), heading=0, range_m=200)
    near = make_camera(location=offset(spot, bearing=180, metres=50), heading=0, range_m=200)
    make_camera(location=offset(spot, bearing=180, metres=50), heading=180, range_m=200)  # back turned

    response = api.as_member(operator).get(COVERAGE, {"lat": spot.y, "lon": spot.x})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [h["camera_id"] for h in body["cameras"]] == [near.pk, far.pk]
    first = body["cameras"][0]
    assert first["code"] == near.code
    assert first["distance_m"] == pytest.approx(50, abs=1)
    assert first["in_view"] is True


@pytest.mark.django_db
def test_coverage_reports_ptz_preset_and_bearing_to_turn_to(area, api, operator):
    ptz = make_camera(kind=CameraKind.PTZ, heading=0, angle=55, range_m=200, presets=[
        {"number": 2, "name": "Parking", "heading": 90, "angle": 30, "range_m": 400}])
    api.as_member(operator)

    (behind,) = coverage(api, offset(CENTRE, bearing=180, metres=150))
    (east,) = coverage(api, offset(CENTRE, bearing=90, metres=350))

    assert behind["camera_id"] == ptz.pk and behind["in_view"] is False
    assert behind["turn_to"] == pytest.approx(180, abs=0.5) and behind["preset"] is None
    assert east["preset"] == 2
    assert east["turn_to"] == pytest.approx(90, abs=0.5)
    assert covering_ids(api, offset(CENTRE, bearing=180, metres=250)) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [
    ({"lon": CENTRE.x}, "lat"),
    ({"lat": CENTRE.y}, "lon"),
    ({"lat": "", "lon": CENTRE.x}, "lat"),
    ({"lat": "quarante-neuf", "lon": CENTRE.x}, "lat"),
    ({"lat": CENTRE.y, "lon": "2,32"}, "lon"),
    ({"lat": "NaN", "lon": CENTRE.x}, "lat"),
    ({"lat": CENTRE.y, "lon": "nan"}, "lon"),
    ({"lat": "inf", "lon": CENTRE.x}, "lat"),
    ({"lat": CENTRE.y, "lon": "-Infinity"}, "lon"),
    ({"lat": "1e400", "lon": CENTRE.x}, "lat"),
    ({"lat": 91, "lon": CENTRE.x}, "lat"),
    ({"lat": CENTRE.y, "lon": 181}, "lon"),
])
def test_coverage_bad_coordinates_name_the_field(area, api, operator, query, field):
    response = api.as_member(operator).get(COVERAGE, query)
    assert_field_error(response, field)


@pytest.mark.django_db
@pytest.mark.parametrize(("lat", "lon"), [
    (48.8566, 2.3522),  # Paris: valid coordinates, outside the service area
    (CENTRE.y, CENTRE.x + 0.05),  # a few km east of the commune
    (0, 0),
])
def test_coverage_outside_the_service_area_is_refused(area, api, operator, lat, lon):
    make_camera()
    response = api.as_member(operator).get(COVERAGE, {"lat": lat, "lon": lon})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "outside_service_area"
    assert set(body["detail"]) & {"lat", "lon"}


@pytest.mark.django_db
def test_coverage_is_for_the_centre_staff(area, api, anon_api, partner_agent):
    spot = {"lat": CENTRE.y, "lon": CENTRE.x}
    assert anon_api.get(COVERAGE, spot).status_code in {401, 403}
    response = api.as_member(partner_agent).get(COVERAGE, spot)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


# Map layer: bbox and ETag ---------------------------------------------------------------------


@pytest.mark.django_db
def test_layer_is_geojson_of_cameras_and_their_fields_of_view(area, api, operator):
    camera = make_camera(heading=0, range_m=100)
    far = make_camera(location=offset(CENTRE, bearing=90, metres=900), heading=90, range_m=80)
    api.as_member(operator)

    everything = api.get(LAYER)
    box = f"{CENTRE.x - 0.002},{CENTRE.y - 0.002},{CENTRE.x + 0.002},{CENTRE.y + 0.002}"
    near_only = api.get(LAYER, {"bbox": box})

    assert everything.status_code == 200
    assert everything["Content-Type"] == "application/geo+json"
    layer = everything.json()
    assert layer["type"] == "FeatureCollection"
    assert {f["id"] for f in layer["features"]} == {camera.pk, far.pk}
    assert {f["id"] for f in near_only.json()["features"]} == {camera.pk}
    assert layer["features"][0]["properties"]["fov"]["type"] == "Polygon"


@pytest.mark.django_db
@pytest.mark.parametrize("bbox", [
    "2.31,48.98,2.33",  # three numbers
    "2.31,48.98,2.33,48.99,1",  # five
    "west,south,east,north",
    "2.31;48.98;2.33;48.99",
    "",
    "2.33,48.98,2.31,48.99",  # min lon > max lon
    "2.31,48.99,2.33,48.98",  # min lat > max lat
    "2.31,48.98,2.31,48.99",  # empty
    "200,48.98,200.1,48.99",  # longitude out of range
    "2.31,95,2.33,95.5",  # latitude out of range
    "nan,48.98,2.33,48.99",
    "2.31,48.98,inf,48.99",
    "-5,40,10,55",  # a whole country
    "2.0,48.5,3.5,49.0",  # 1.5° wide
])
def test_bad_or_huge_bbox_is_refused_naming_bbox(area, api, operator, bbox):
    response = api.as_member(operator).get(LAYER, {"bbox": bbox})
    assert_field_error(response, "bbox")


@pytest.mark.django_db
def test_bbox_limit_follows_the_setting(area, api, operator, settings):
    settings.HUB_MAX_BBOX_DEGREES = 0.05
    make_camera()
    api.as_member(operator)
    small = f"{CENTRE.x - 0.02},{CENTRE.y - 0.02},{CENTRE.x + 0.02},{CENTRE.y + 0.02}"
    wide = f"{CENTRE.x - 0.04},{CENTRE.y - 0.02},{CENTRE.x + 0.04},{CENTRE.y + 0.02}"
    assert api.get(LAYER, {"bbox": small}).status_code == 200
    assert_field_error(api.get(LAYER, {"bbox": wide}), "bbox")


@pytest.mark.django_db
def test_layer_etag_gives_304_until_a_mask_is_added(area, api, operator, supervisor):
    camera = make_camera()
    api.as_member(operator)

    first = api.get(LAYER)
    etag = first["ETag"]
    again = api.get(LAYER, HTTP_IF_NONE_MATCH=etag)

    assert first.status_code == 200 and etag
    assert again.status_code == 304
    assert again.content == b""

    mask_create(camera=camera, polygon=SQUARE, label="Fenêtres")
    changed = api.get(LAYER, HTTP_IF_NONE_MATCH=etag)

    assert changed.status_code == 200
    assert changed["ETag"] != etag
    (feature,) = changed.json()["features"]
    assert feature["properties"]["masked"] is True
    assert api.get(LAYER, HTTP_IF_NONE_MATCH=changed["ETag"]).status_code == 304


@pytest.mark.django_db
def test_layer_etag_changes_when_a_camera_turns_or_an_authorisation_arrives(area, api, operator,
                                                                            supervisor):
    camera = make_camera()
    etag = api.as_member(operator).get(LAYER)["ETag"]

    api.as_member(supervisor).patch(detail_url(camera), {"heading": 90})
    turned = api.as_member(operator).get(LAYER, HTTP_IF_NONE_MATCH=etag)
    assert turned.status_code == 200

    today = timezone.localdate()
    make_authorisation(cameras=[camera], valid_from=today, valid_until=today + dt.timedelta(days=30))
    authorised = api.get(LAYER, HTTP_IF_NONE_MATCH=turned["ETag"])
    assert authorised.status_code == 200
    assert authorised.json()["features"][0]["properties"]["authorised"] is True


@pytest.mark.django_db
def test_layer_etag_depends_on_the_bbox(area, api, operator):
    make_camera()
    api.as_member(operator)
    box = f"{CENTRE.x - 0.002},{CENTRE.y - 0.002},{CENTRE.x + 0.002},{CENTRE.y + 0.002}"
    etag_all = api.get(LAYER)["ETag"]
    assert api.get(LAYER, {"bbox": box}, HTTP_IF_NONE_MATCH=etag_all).status_code == 200


@pytest.mark.django_db
def test_layer_is_for_the_centre_staff(area, api, anon_api, partner_agent):
    make_camera()
    assert anon_api.get(LAYER).status_code in {401, 403}
    assert api.as_member(partner_agent).get(LAYER).status_code == 403


# Authorisation expiry over HTTP ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("ends_in_days", "authorised"), [(-1, False), (0, True)])
def test_expired_authorisation_flags_the_camera_in_coverage_layer_and_detail(
        area, api, operator, ends_in_days, authorised):
    camera = make_camera(heading=0, range_m=100)
    today = timezone.localdate()
    make_authorisation(cameras=[camera], valid_from=today - dt.timedelta(days=365),
                       valid_until=today + dt.timedelta(days=ends_in_days))
    api.as_member(operator)

    (hit,) = coverage(api, offset(CENTRE, bearing=0, metres=50))
    (feature,) = api.get(LAYER).json()["features"]

    assert hit["authorised"] is authorised
    assert feature["properties"]["authorised"] is authorised
    assert api.get(detail_url(camera)).json()["authorised"] is authorised


# Camera settings (PATCH) ---------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"heading": 360}, "heading"),
    ({"heading": -1}, "heading"),
    ({"angle": 0}, "angle"),
    ({"angle": 400}, "angle"),
    ({"range_m": 0}, "range_m"),
    ({"range_m": -5}, "range_m"),
    ({"heading": "north"}, "heading"),
    ({"heading": "90"}, "heading"),
    ({"angle": [90]}, "angle"),
    ({"range_m": None}, "range_m"),
    ({"angle": True}, "angle"),
    ({"status": "exploded"}, "status"),
    ({"heading": 90, "range_m": 0}, "range_m"),  # the good heading is not kept either
])
def test_bad_camera_settings_are_refused_and_the_camera_is_unchanged(area, api, supervisor, body,
                                                                      field):
    camera = make_camera(heading=0, angle=90, range_m=100)
    before = Camera.objects.get(pk=camera.pk)

    response = api.as_member(supervisor).patch(detail_url(camera), body)

    assert_field_error(response, field)
    after = Camera.objects.get(pk=camera.pk)
    assert (after.heading, after.angle, after.range_m, after.status) == (
        before.heading, before.angle, before.range_m, before.status)
    assert after.fov.equals_exact(before.fov)
    assert after.updated_at == before.updated_at


@pytest.mark.django_db
def test_valid_settings_recompute_the_field_of_view(area, api, operator, supervisor):
    camera = make_camera(heading=0, angle=90, range_m=100)
    north, south = offset(CENTRE, bearing=0, metres=50), offset(CENTRE, bearing=180, metres=150)
    assert camera.pk in covering_ids(api.as_member(operator), north)

    response = api.as_member(supervisor).patch(detail_url(camera), {"heading": 180, "range_m": 200})

    assert response.status_code == 200
    assert (response.json()["heading"], response.json()["range_m"]) == (180, 200)
    api.as_member(operator)
    assert camera.pk not in covering_ids(api, north)
    assert camera.pk in covering_ids(api, south)


@pytest.mark.django_db
def test_only_supervisors_change_camera_settings(area, api, operator, partner_agent):
    camera = make_camera(heading=0)
    assert api.as_member(operator).get(detail_url(camera)).status_code == 200
    assert api.as_member(operator).patch(detail_url(camera), {"heading": 90}).status_code == 403
    assert api.as_member(partner_agent).get(detail_url(camera)).status_code == 403
    assert Camera.objects.get(pk=camera.pk).heading == 0


@pytest.mark.django_db
def test_unknown_camera_is_404(area, api, operator):
    response = api.as_member(operator).get("/api/cameras/999999/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# Nomadic moves --------------------------------------------------------------------------------


def relocate(api, camera, point, heading=0, reason="Marché du samedi"):
    return api.post(f"/api/cameras/{camera.pk}/relocate/", {
        "location": {"type": "Point", "coordinates": [point.x, point.y]},
        "heading": heading, "reason": reason})


@pytest.mark.django_db
def test_moving_a_nomadic_camera_changes_coverage_and_is_kept_in_its_history(
        area, api, operator, supervisor):
    camera = make_camera(kind=CameraKind.NOMADIC, heading=0, angle=70, range_m=100)
    new_place = offset(CENTRE, bearing=90, metres=500)
    old_spot, new_spot = offset(CENTRE, bearing=0, metres=50), offset(new_place, bearing=0, metres=50)
    api.as_member(operator)
    assert camera.pk in covering_ids(api, old_spot)
    assert camera.pk not in covering_ids(api, new_spot)

    response = relocate(api.as_member(supervisor), camera, new_place, heading=0)

    assert response.status_code == 200, response.content
    api.as_member(operator)
    assert camera.pk not in covering_ids(api, old_spot)
    assert camera.pk in covering_ids(api, new_spot)
    shown = api.get(detail_url(camera)).json()
    assert shown["location"]["coordinates"] == pytest.approx([new_place.x, new_place.y], abs=1e-6)
    (move,) = shown["relocations"]
    assert move["from"]["coordinates"] == pytest.approx([CENTRE.x, CENTRE.y], abs=1e-6)
    assert move["to"]["coordinates"] == pytest.approx([new_place.x, new_place.y], abs=1e-6)
    assert move["reason"] == "Marché du samedi"


@pytest.mark.django_db
def test_history_lists_moves_latest_first(area, api, supervisor):
    camera = make_camera(kind=CameraKind.NOMADIC)
    api.as_member(supervisor)
    relocate(api, camera, offset(CENTRE, bearing=90, metres=300), reason="premier")
    relocate(api, camera, offset(CENTRE, bearing=180, metres=300), reason="second")
    assert [m["reason"] for m in api.get(detail_url(camera)).json()["relocations"]] == [
        "second", "premier"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [CameraKind.FIXED, CameraKind.PTZ])
def test_moving_a_camera_that_is_not_nomadic_is_refused_and_nothing_changes(
        area, api, operator, supervisor, kind):
    camera = make_camera(kind=kind, heading=0, range_m=100)
    new_place = offset(CENTRE, bearing=90, metres=500)

    response = relocate(api.as_member(supervisor), camera, new_place)

    assert response.status_code == 400
    assert response.json()["error"] == "not_nomadic"
    assert Camera.objects.get(pk=camera.pk).location.equals_exact(CENTRE, 1e-9)
    assert not CameraRelocation.objects.exists()
    assert camera.pk not in covering_ids(api.as_member(operator), offset(new_place, bearing=0, metres=50))
    assert api.get(detail_url(camera)).json()["relocations"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "field"), [
    ({"location": {"type": "Point", "coordinates": [2.3522, 48.8566]}, "heading": 0, "reason": "x"},
     "location"),  # Paris: outside the service area
    ({"location": {"type": "Point", "coordinates": ["a", 48.98]}, "heading": 0, "reason": "x"},
     "location"),
    ({"location": [2.32, 48.98], "heading": 0, "reason": "x"}, "location"),
    ({"heading": 0, "reason": "x"}, "location"),
    ({"location": {"type": "Point", "coordinates": [2.3222, 48.9883]}, "heading": 400, "reason": "x"},
     "heading"),
    ({"location": {"type": "Point", "coordinates": [2.3222, 48.9883]}, "heading": 0, "reason": ""},
     "reason"),
])
def test_bad_relocation_names_the_field_and_moves_nothing(area, api, supervisor, body, field):
    camera = make_camera(kind=CameraKind.NOMADIC, location=offset(CENTRE, bearing=0, metres=200))
    response = api.as_member(supervisor).post(f"/api/cameras/{camera.pk}/relocate/", body)
    assert_field_error(response, field)
    assert not CameraRelocation.objects.exists()


@pytest.mark.django_db
def test_operators_cannot_move_cameras(area, api, operator):
    camera = make_camera(kind=CameraKind.NOMADIC)
    assert relocate(api.as_member(operator), camera, offset(CENTRE, bearing=90, metres=300)
                    ).status_code == 403
    assert not CameraRelocation.objects.exists()


# Privacy masks --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("polygon", [
    BOW_TIE,
    [[0, 0], [1.2, 0], [1, 1]],
    [[-0.1, 0], [1, 0], [1, 1]],
    [[0, 0], [1, 1]],
    [],
    [["a", "b"], [1, 0], [1, 1]],
    [[None, 0], [1, 0], [1, 1]],
    "a square",
    42,
    {"x": 0, "y": 0},
])
def test_bad_mask_is_refused_naming_polygon_and_nothing_is_written(area, api, supervisor, polygon):
    camera = make_camera()
    response = api.as_member(supervisor).post(masks_url(camera), {"polygon": polygon, "label": "x"})
    assert_field_error(response, "polygon")
    assert not PrivacyMask.objects.exists()


@pytest.mark.django_db
def test_mask_without_polygon_is_refused(area, api, supervisor):
    camera = make_camera()
    assert_field_error(api.as_member(supervisor).post(masks_url(camera), {"label": "x"}), "polygon")
    assert not PrivacyMask.objects.exists()


@pytest.mark.django_db
def test_valid_mask_is_created_listed_and_deleted(area, api, operator, supervisor):
    camera = make_camera()
    api.as_member(supervisor)

    created = api.post(masks_url(camera), {"polygon": SQUARE, "label": "Fenêtres", "liftable": True})

    assert created.status_code == 201, created.content
    mask = created.json()
    assert mask["polygon"] == SQUARE and mask["label"] == "Fenêtres" and mask["liftable"] is True
    listed = api.as_member(operator).get(masks_url(camera))
    assert [m["id"] for m in listed.json()] == [mask["id"]]
    assert [m["id"] for m in api.get(detail_url(camera)).json()["masks"]] == [mask["id"]]

    deleted = api.as_member(supervisor).delete(f"{masks_url(camera)}{mask['id']}/")

    assert deleted.status_code == 204
    assert api.get(masks_url(camera)).json() == []
    assert not PrivacyMask.objects.exists()


@pytest.mark.django_db
def test_mask_for_a_ptz_preset(area, api, supervisor):
    ptz = make_camera(kind=CameraKind.PTZ, presets=[
        {"number": 1, "name": "Place", "heading": 0, "angle": 30, "range_m": 200}])
    api.as_member(supervisor)
    created = api.post(masks_url(ptz), {"polygon": SQUARE, "preset": 1})
    assert created.status_code == 201
    assert PrivacyMask.objects.get().preset.number == 1
    assert_field_error(api.post(masks_url(ptz), {"polygon": SQUARE, "preset": 7}), "preset")
    assert PrivacyMask.objects.count() == 1


@pytest.mark.django_db
def test_masks_are_written_by_supervisors_only(area, api, operator, supervisor):
    camera = make_camera()
    mask = mask_create(camera=camera, polygon=SQUARE)
    api.as_member(operator)

    assert api.get(masks_url(camera)).status_code == 200
    refused = api.post(masks_url(camera), {"polygon": SQUARE})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    assert api.delete(f"{masks_url(camera)}{mask.pk}/").status_code == 403
    assert PrivacyMask.objects.count() == 1


@pytest.mark.django_db
def test_partner_agents_cannot_even_read_masks(area, api, anon_api, partner_agent):
    camera = make_camera()
    mask_create(camera=camera, polygon=SQUARE)
    assert api.as_member(partner_agent).get(masks_url(camera)).status_code == 403
    assert api.post(masks_url(camera), {"polygon": SQUARE}).status_code == 403
    assert anon_api.get(masks_url(camera)).status_code in {401, 403}
    assert PrivacyMask.objects.count() == 1


@pytest.mark.django_db
def test_deleting_a_mask_through_another_camera_is_404(area, api, supervisor):
    camera, other = make_camera(), make_camera()
    mask = mask_create(camera=camera, polygon=SQUARE)
    response = api.as_member(supervisor).delete(f"{masks_url(other)}{mask.pk}/")
    assert response.status_code == 404
    assert PrivacyMask.objects.count() == 1


# Schema ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_documents_the_camera_endpoints(api, operator):
    response = api.as_member(operator).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/cameras/coverage/", "/api/cameras/{id}/", "/api/cameras/{id}/masks/",
                 "/api/geo/communes/", "/api/auth/token/"):
        assert path in paths


@pytest.mark.django_db
def test_the_layer_is_built_once_per_version_then_served_from_the_cache(area, api, operator, supervisor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    camera = make_camera()
    api.as_member(operator)

    def layer():
        with CaptureQueriesContext(connection) as queries:
            response = api.get(LAYER)
        built = any("ST_AsGeoJSON" in q["sql"] for q in queries.captured_queries)
        return response, built

    first, built = layer()
    assert first.status_code == 200 and built
    second, built = layer()  # another console, no If-None-Match: the same text, not rebuilt
    assert second.status_code == 200 and not built
    assert second.content == first.content and second["ETag"] == first["ETag"]

    mask_create(camera=camera, polygon=SQUARE, label="Fenêtres")
    changed, built = layer()
    assert built and changed["ETag"] != first["ETag"]
    assert changed.json()["features"][0]["properties"]["masked"] is True


@pytest.mark.django_db
def test_the_layer_is_served_without_the_cache_when_redis_is_away(area, api, operator, monkeypatch):
    from django.core.cache import cache

    make_camera()

    def away(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", away)
    monkeypatch.setattr(cache, "set", away)
    response = api.as_member(operator).get(LAYER)
    assert response.status_code == 200 and len(response.json()["features"]) == 1


# Stream addresses ------------------------------------------------------------------------------

REFUSED_STREAM_URIS = ["file:///etc/passwd", "/etc/passwd", "http://10.0.0.5/video.mjpg", "ftp://cam.example/x",
                       "rtmp://cam.example/live", "javascript:alert(1)", "rtsp:", "rtsp://", "rtsp:///stream",
                       "rtsp://cam.example:99999/s", "rtsp://cam example/s", "rtsp://cam.example/s\nX: y",
                       "synthetic:../../etc/passwd", "synthetic:640x360@15;rm", "synthetic:/dev/video0"]
ACCEPTED_STREAM_URIS = ["rtsp://10.1.2.3:554/Streaming/Channels/101", "rtsps://viewer:s3cret@cam-12.example:322/live",
                        "RTSP://CAM.EXAMPLE/live", "synthetic:", "synthetic:640x360@15", ""]


@pytest.mark.django_db
@pytest.mark.parametrize("uri", REFUSED_STREAM_URIS)
def test_a_stream_address_other_than_rtsp_rtsps_or_synthetic_is_refused(area, api, supervisor, uri):
    camera = make_camera()
    response = api.as_member(supervisor).patch(detail_url(camera), {"stream_uri": uri}, format="json")
    assert_field_error(response, "stream_uri")
    camera.refresh_from_db()
    assert camera.stream_uri == "synthetic:"


@pytest.mark.django_db
@pytest.mark.parametrize("uri", ACCEPTED_STREAM_URIS)
def test_rtsp_rtsps_and_synthetic_stream_addresses_are_stored(area, api, supervisor, uri):
    camera = make_camera()
    response = api.as_member(supervisor).patch(detail_url(camera), {"stream_uri": uri}, format="json")
    assert response.status_code == 200, response.content
    camera.refresh_from_db()
    assert camera.stream_uri == uri


@pytest.mark.django_db
def test_the_admin_refuses_a_file_as_a_camera_stream(area):
    from django.contrib.auth.models import User
    from django.test import Client

    camera = make_camera()
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw-123456789"))
    url = f"/admin/cameras/camera/{camera.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {name: "" if value is None else str(value.pk if hasattr(value, "pk") else value)
            for name, value in data.items()}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})

    answer = client.post(url, {**data, "stream_uri": "file:///etc/passwd"})
    assert answer.status_code == 200 and "stream_uri" in answer.context["adminform"].form.errors
    camera.refresh_from_db()
    assert camera.stream_uri == "synthetic:"
    answer = client.post(url, {**data, "stream_uri": "rtsp://10.1.2.3/live"})
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    camera.refresh_from_db()
    assert camera.stream_uri == "rtsp://10.1.2.3/live"
