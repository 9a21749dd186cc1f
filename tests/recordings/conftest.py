"""Fixtures of the recordings tests: a temporary storage (a directory, or SeaweedFS); the RTSP
server of the video tests."""

from __future__ import annotations

import uuid

import pytest

from config.seaweed import SeaweedServer, free_base
from tests.streaming.conftest import rtsp_server  # noqa: F401 - a fixture, shared with the video tests

S3_ACCESS_KEY = "hub-test"
S3_SECRET_KEY = "hub-test-secret"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory, pytestconfig):
    """One SeaweedFS (S3 gateway on loopback) for this worker's session, on free ports of its
    own; killed at the end (SIGKILL to its process group: weed ignores SIGTERM). A bucket per
    test, a volume per bucket: room for 500.

    Not in the clock run (``--clock``, scripts/test-clock.sh): SeaweedFS is another process on
    the real clock, and it refuses requests signed at the moved one (S3 signatures carry their
    time; a skew of more than 15 minutes is refused), as the browser tests' Daphne does not share
    it either. The local-disk variant of each of those tests runs there."""
    if pytestconfig.getoption("clock"):
        pytest.skip("SeaweedFS runs on the real clock: S3 refuses requests signed at a moved one")
    server = SeaweedServer(directory=tmp_path_factory.mktemp("seaweed"), base=free_base(),
                           access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, max_volumes=500)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def storage(settings, tmp_path):
    """Recordings, exports and the signing key in a temporary directory (returned); no free-space floor."""
    settings.HUB_RECORDINGS_DIR = tmp_path / "recordings"
    settings.HUB_EXPORTS_DIR = tmp_path / "exports"
    settings.HUB_SIGNING_KEY_PATH = tmp_path / "keys" / "hub.pem"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    settings.HUB_RECORDINGS_STORAGE = "local"
    return tmp_path


def use_s3(settings, server: SeaweedServer) -> str:
    """Point the hub's recordings at a new bucket (Object Lock on) of ``server``; its name."""
    bucket = f"rec-{uuid.uuid4().hex[:12]}"
    server.bucket_create(bucket)
    settings.HUB_RECORDINGS_STORAGE = "s3"
    settings.HUB_S3_ENDPOINT = server.endpoint
    settings.HUB_S3_BUCKET = bucket
    settings.HUB_S3_ACCESS_KEY = server.access_key
    settings.HUB_S3_SECRET_KEY = server.secret_key
    settings.HUB_S3_REGION = "us-east-1"
    return bucket


@pytest.fixture
def s3_storage(storage, settings, seaweed):
    """``storage``, with the recordings on SeaweedFS (a bucket per test); the directory is the
    recorder's buffer."""
    use_s3(settings, seaweed)
    return storage


@pytest.fixture(params=["local", "s3"])
def any_storage(request, storage, settings):
    """``storage`` on a directory, then on SeaweedFS: a test using it runs on both."""
    if request.param == "s3":
        use_s3(settings, request.getfixturevalue("seaweed"))
    return storage
