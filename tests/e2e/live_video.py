"""What the browser tests that play live video share: the hub started with small pictures, loopback
ICE and a fast watchdog, Chromium allowed loopback candidates, and a wait for the server to hang
every viewer up before the database is emptied. A test module imports ``video_env``, ``hub`` and
``CHROMIUM_EXTRA_ARGS`` (and may add settings to ``VIDEO_ENV`` through its own ``EXTRA_ENV``)."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest

VIDEO_ENV = {
    "HUB_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
    "HUB_VIDEO_SYNTHETIC_SIZE": "320x180",
    "HUB_VIDEO_LINGER_SECONDS": "1",
    "HUB_VIDEO_WATCHDOG_SECONDS": "0.2",
    "HUB_VIDEO_BITRATE": "600000",
}
CHROMIUM_EXTRA_ARGS = ["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
                       "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def video_env(request):
    values = {**VIDEO_ENV, **getattr(request.module, "EXTRA_ENV", {})}
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def hub(video_env, hub):  # noqa: F811 - the conftest's hub, started with the settings above
    return hub


def wait_until_quiet(hub, token: str) -> None:
    """Until the server streams nothing (every viewer hung up, every pipeline closed)."""
    request = urllib.request.Request(f"{hub.url}/api/streaming/pipelines/",
                                     headers={"Authorization": f"Bearer {token}"})
    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=2) as answer:
            state = json.load(answer)
        if not state["pipelines"] and not state["viewers"]:
            return
        time.sleep(0.2)
    pytest.fail(f"the server still streams after the test: {state}")
