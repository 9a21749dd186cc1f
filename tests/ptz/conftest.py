"""Fixtures of the PTZ tests: the virtual ONVIF camera (ipycam) on loopback."""

from __future__ import annotations

import shutil

import pytest

from tests.ptz.virtual import VirtualPtzCamera, store_preset


@pytest.fixture
def virtual_camera(tmp_path):
    """ipycam with ONVIF and RTSP on free loopback ports, no credentials."""
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is missing: `make test` installs it (scripts/bootstrap.sh)")
    camera = VirtualPtzCamera(workdir=tmp_path)
    yield camera
    camera.stop()


@pytest.fixture
def secured_camera(tmp_path):
    """ipycam asking for WS-Security credentials (admin / s3cret), ONVIF only."""
    camera = VirtualPtzCamera(workdir=tmp_path, rtsp=False, user="admin", password="s3cret")
    yield camera
    camera.stop()


@pytest.fixture
def ptz_settings(settings, tmp_path):
    settings.HUB_PTZ_KEY_PATH = tmp_path / "keys" / "ptz.key"
    settings.HUB_PTZ_TIMEOUT_SECONDS = 1.0
    settings.HUB_PTZ_LEASE_IDLE_SECONDS = 120
    settings.HUB_PTZ_HOME_AFTER_SECONDS = 300
    settings.HUB_PTZ_MAX_COMMANDS_PER_SECOND = 10
    from ptz.crypto import _fernet

    _fernet.cache_clear()
    yield settings
    from ptz.runtime import reset_runtime

    reset_runtime()
    _fernet.cache_clear()


@pytest.fixture
def ptz_scene(db, ptz_settings, virtual_camera):
    """A PTZ camera of the hub wired to ipycam: preset 1 "Parvis" (looking east, a mask on its
    left quarter) stored in both, an operator, a second operator, a supervisor."""
    from cameras.choices import CameraKind
    from cameras.services import mask_create
    from ptz.models import PtzEndpoint
    from tests import factories

    factories.make_commune()
    camera = factories.make_camera(kind=CameraKind.PTZ, heading=0, angle=60, range_m=400,
                                   presets=[{"number": 1, "name": "Parvis", "heading": 90, "angle": 40,
                                             "range_m": 150}])
    token = store_preset(virtual_camera.onvif_port, pan=0.5, tilt=-0.2, zoom=0.4, name="Parvis")
    endpoint = PtzEndpoint(camera=camera, host="127.0.0.1", port=virtual_camera.onvif_port,
                           preset_tokens={"1": token}, pan_zero_heading=0, pan_degrees=360)
    endpoint.set_password("")
    endpoint.save()
    mask = mask_create(camera=camera, polygon=[[0, 0], [0.25, 0], [0.25, 1], [0, 1]], label="Fenêtres",
                       preset=camera.presets.get(number=1))
    return {"camera": camera, "endpoint": endpoint, "token": token, "mask": mask,
            "operator": factories.make_member(role="operator"),
            "other": factories.make_member(role="operator"),
            "supervisor": factories.make_member(role="supervisor"),
            "virtual": virtual_camera}
