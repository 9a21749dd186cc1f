"""Fixtures of the recordings tests: a temporary storage; the RTSP server of the video tests."""

from __future__ import annotations

import pytest

from tests.streaming.conftest import rtsp_server  # noqa: F401 - a fixture, shared with the video tests


@pytest.fixture
def storage(settings, tmp_path):
    """Recordings, exports and the signing key in a temporary directory (returned); no free-space floor."""
    settings.HUB_RECORDINGS_DIR = tmp_path / "recordings"
    settings.HUB_EXPORTS_DIR = tmp_path / "exports"
    settings.HUB_SIGNING_KEY_PATH = tmp_path / "keys" / "hub.pem"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    return tmp_path
