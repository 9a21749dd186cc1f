"""Fixtures of the PTZ tests: the virtual ONVIF camera (ipycam) on loopback."""

from __future__ import annotations

import shutil

import pytest

from tests.ptz.virtual import VirtualPtzCamera


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
