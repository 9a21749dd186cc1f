"""Writes of the camera registry: geometry follows every change, bad input writes nothing."""

import datetime as dt

import pytest
from django.utils import timezone

from cameras.choices import CameraKind
from cameras.models import Authorisation, Camera, CameraRelocation, PrivacyMask
from cameras.selectors import coverage_at
from cameras.services import (
    NotNomadic,
    OutsideServiceArea,
    authorisation_create,
    camera_relocate,
    camera_update,
    mask_create,
    preset_set,
    validate_mask_polygon,
)
from config.errors import DomainError
from tests.factories import CENTRE, make_camera, offset


def sees(camera, point) -> bool:
    return Camera.objects.filter(pk=camera.pk, fov__covers=point).exists()


def covers(camera, point) -> bool:
    return Camera.objects.filter(pk=camera.pk, coverage__covers=point).exists()


# Camera parameters ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_turning_a_camera_turns_its_field_of_view(area):
    camera = make_camera(heading=0, angle=90, range_m=100)
    north, south = offset(CENTRE, bearing=0, metres=50), offset(CENTRE, bearing=180, metres=50)

    camera_update(camera=camera, heading=180)

    assert not sees(camera, north)
    assert sees(camera, south)
    assert covers(camera, south)


@pytest.mark.django_db
def test_longer_range_reaches_further(area):
    camera = make_camera(heading=0, angle=90, range_m=100)
    far = offset(CENTRE, bearing=0, metres=150)
    assert not sees(camera, far)

    camera_update(camera=camera, range_m=200)

    assert sees(camera, far)


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "field"), [
    ({"heading": 360}, "heading"),
    ({"heading": -1}, "heading"),
    ({"angle": 0}, "angle"),
    ({"angle": 400}, "angle"),
    ({"range_m": 0}, "range_m"),
    ({"range_m": -5}, "range_m"),
    ({"heading": "north"}, "heading"),
    ({"heading": float("nan")}, "heading"),
    ({"range_m": float("inf")}, "range_m"),
    ({"angle": True}, "angle"),
    ({"status": "broken"}, "status"),
    # A good heading beside a bad angle: neither is saved.
    ({"heading": 90, "angle": 0}, "angle"),
])
def test_bad_parameters_are_refused_naming_the_field_and_nothing_is_saved(area, changes, field):
    camera = make_camera(heading=0, angle=90, range_m=100)
    before = Camera.objects.values("heading", "angle", "range_m", "status", "updated_at").get(
        pk=camera.pk)
    fov_before = Camera.objects.get(pk=camera.pk).fov

    with pytest.raises(DomainError) as raised:
        camera_update(camera=camera, **changes)

    assert raised.value.field == field
    after = Camera.objects.get(pk=camera.pk)
    assert Camera.objects.values("heading", "angle", "range_m", "status", "updated_at").get(
        pk=camera.pk) == before
    assert after.fov.equals_exact(fov_before)


# PTZ presets ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_ptz_cameras_take_presets(area):
    camera = make_camera(kind=CameraKind.FIXED)
    with pytest.raises(DomainError):
        preset_set(camera=camera, number=1, name="P1", heading=0, angle=30, range_m=200)
    assert not camera.presets.exists()


@pytest.mark.django_db
def test_bad_preset_is_refused_and_coverage_stays(area):
    ptz = make_camera(kind=CameraKind.PTZ, range_m=100)
    coverage = Camera.objects.get(pk=ptz.pk).coverage
    with pytest.raises(DomainError) as raised:
        preset_set(camera=ptz, number=1, name="P1", heading=90, angle=30, range_m=-10)
    assert raised.value.field == "range_m"
    assert not ptz.presets.exists()
    assert Camera.objects.get(pk=ptz.pk).coverage.equals_exact(coverage)


# Nomadic relocation --------------------------------------------------------------------------


@pytest.mark.django_db
def test_relocating_a_nomadic_camera_moves_its_coverage_and_keeps_history(area, supervisor):
    camera = make_camera(kind=CameraKind.NOMADIC, heading=0, angle=70, range_m=100)
    old_spot = offset(CENTRE, bearing=0, metres=50)
    new_place = offset(CENTRE, bearing=90, metres=500)
    new_spot = offset(new_place, bearing=90, metres=50)

    camera_relocate(camera=camera, location=new_place, heading=90, reason="Marché du samedi",
                    moved_by=supervisor.user)

    assert camera.pk not in {h.camera_id for h in coverage_at(old_spot)}
    assert camera.pk in {h.camera_id for h in coverage_at(new_spot)}
    (move,) = CameraRelocation.objects.filter(camera=camera)
    assert move.from_location.equals_exact(CENTRE, 1e-9)
    assert move.to_location.equals_exact(new_place, 1e-9)
    assert (move.from_heading, move.to_heading) == (0, 90)
    assert move.moved_by == supervisor.user
    assert move.reason == "Marché du samedi"


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [CameraKind.FIXED, CameraKind.PTZ, CameraKind.PANORAMIC])
def test_only_nomadic_cameras_move(area, kind):
    camera = make_camera(kind=kind, heading=0)
    with pytest.raises(NotNomadic):
        camera_relocate(camera=camera, location=offset(CENTRE, bearing=90, metres=300), heading=0,
                        reason="essai")
    assert Camera.objects.get(pk=camera.pk).location.equals_exact(CENTRE, 1e-9)
    assert not CameraRelocation.objects.exists()


@pytest.mark.django_db
def test_nomadic_camera_cannot_leave_the_service_area(area):
    camera = make_camera(kind=CameraKind.NOMADIC)
    with pytest.raises(OutsideServiceArea):
        camera_relocate(camera=camera, location=offset(CENTRE, bearing=90, metres=5000), heading=0,
                        reason="essai")
    assert Camera.objects.get(pk=camera.pk).location.equals_exact(CENTRE, 1e-9)
    assert not CameraRelocation.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("heading", "reason", "field"), [(360, "essai", "heading"),
                                                           (90, "  ", "reason")])
def test_relocation_with_bad_heading_or_no_reason_writes_nothing(area, heading, reason, field):
    camera = make_camera(kind=CameraKind.NOMADIC)
    with pytest.raises(DomainError) as raised:
        camera_relocate(camera=camera, location=offset(CENTRE, bearing=90, metres=300),
                        heading=heading, reason=reason)
    assert raised.value.field == field
    assert Camera.objects.get(pk=camera.pk).location.equals_exact(CENTRE, 1e-9)
    assert not CameraRelocation.objects.exists()


# Privacy masks -------------------------------------------------------------------------------


@pytest.mark.parametrize("polygon", [
    [[0, 0], [1, 1], [1, 0], [0, 1]],  # bow tie: self-intersecting
    [[0, 0], [1.5, 0], [1, 1]],  # outside the picture
    [[0, 0], [0.5, -0.1], [1, 1]],
    [[0, 0], [1, 1]],  # too few points
    [[0, 0], [1, 0], [0, 0]],  # closed ring of two points
    [[0, 0], [0.5, 0.5], [1, 1]],  # no area
    [["a", 0], [1, 0], [1, 1]],  # not numbers
    [[None, 0], [1, 0], [1, 1]],
    [[True, 0], [1, 0], [1, 1]],
    [[0, 0, 0], [1, 0], [1, 1]],  # not pairs
    [0.1, 0.2, 0.3],
    "0,0 1,0 1,1",
    None,
])
def test_bad_mask_polygons_are_refused_naming_polygon(polygon):
    with pytest.raises(DomainError) as raised:
        validate_mask_polygon(polygon)
    assert raised.value.field == "polygon"


def test_mask_polygon_may_be_given_open_or_closed():
    square = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3], [0.1, 0.3]]
    assert validate_mask_polygon(square) == square
    assert validate_mask_polygon([*square, square[0]]) == square


@pytest.mark.django_db
def test_bad_mask_writes_nothing(area):
    camera = make_camera()
    with pytest.raises(DomainError):
        mask_create(camera=camera, polygon=[[0, 0], [1, 1], [1, 0], [0, 1]])
    assert not PrivacyMask.objects.exists()


# Authorisations ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("changes", "field"), [
    ({"recipients": ["CRF"]}, "recipients"),  # the Croix-Rouge never receives images (L252-3)
    ({"retention_days": 31}, "retention_days"),
    ({"retention_days": 0}, "retention_days"),
    ({"purposes": []}, "purposes"),
    ({"purposes": ["marketing"]}, "purposes"),
    ({"valid_until": dt.date(2020, 1, 1)}, "valid_until"),
])
def test_bad_authorisation_is_refused(area, changes, field):
    camera = make_camera()
    today = timezone.localdate()
    arguments = {"order_number": "AP-1", "valid_from": today, "valid_until": today + dt.timedelta(days=9),
                 "purposes": ["public_safety"], "recipients": ["PN"], "cameras": [camera],
                 "retention_days": 14, **changes}
    with pytest.raises(DomainError) as raised:
        authorisation_create(**arguments)
    assert raised.value.field == field
    assert not Authorisation.objects.exists()
