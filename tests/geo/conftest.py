"""Geocoding tests talk to a stand-in of the national address base on loopback, never to the
real one: by default no geocoder is configured at all."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import CENTRE, offset
from tests.geo.ban_standin import BanAddress, BanStandIn


@pytest.fixture(autouse=True)
def _no_geocoder_on_the_internet(settings):
    settings.HUB_GEOCODER_URL = ""


@pytest.fixture(autouse=True)
def _forget_geocoder_failures():
    """The "geocoder failed recently" mark lives in Redis, shared with other tests."""
    cache.delete("geocoder:down")
    yield
    cache.delete("geocoder:down")


def gare_addresses() -> list[BanAddress]:
    """Addresses of the stand-in, around Montmorency's centre (tests.factories.CENTRE)."""
    north = offset(CENTRE, bearing=0, metres=150)
    east = offset(CENTRE, bearing=90, metres=600)
    return [
        BanAddress("12", "Rue de la Gare", "95160", "Montmorency", "95428", north.x, north.y),
        BanAddress("3", "Avenue Foch", "95160", "Montmorency", "95428", east.x, east.y),
    ]


@pytest.fixture
def ban(settings):
    """The stand-in BAN, configured as the hub's geocoder, with a short timeout."""
    standin = BanStandIn(gare_addresses()).start()
    settings.HUB_GEOCODER_URL = standin.url
    settings.HUB_GEOCODER_TIMEOUT_SECONDS = 0.5
    settings.HUB_GEOCODER_RETRY_SECONDS = 60
    yield standin
    standin.stop()
