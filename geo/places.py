"""Places with a postal address that our own data knows: the camera sites.

The geocoder's fallback (the nearest site's address) and the generated basemap (site
dots) read them. geo depends on no other app of ours (docs/architecture.md), so the model is
named by a setting, ``HUB_GEO_PLACES_MODEL`` (``"cameras.Site"``), as Django names its
user model: any model with a ``location`` point (SRID 4326), a ``name`` and an
``address`` will do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import QuerySet


@dataclass(frozen=True)
class Place:
    name: str
    address: str
    lon: float
    lat: float
    distance_m: float | None = None


def _places() -> QuerySet | None:
    label = getattr(settings, "HUB_GEO_PLACES_MODEL", "")
    if not label:
        return None
    try:
        model = apps.get_model(label)
    except LookupError:
        return None
    return model.objects.filter(**getattr(settings, "HUB_GEO_PLACES_FILTER", {}))


def nearest_place(point: Point, *, within_m: float) -> Place | None:
    """The place with an address nearest to ``point``, if one is within ``within_m`` metres."""
    places = _places()
    if places is None:
        return None
    # A box in degrees first (the spatial index answers it; a degree of longitude is the
    # shortest at the box's edge nearest the pole), then the true distance on the sphere.
    degrees = within_m / (111_000 * max(math.cos(math.radians(abs(point.y) + 1)), 0.01))
    found = (places.exclude(address="")
             .filter(location__dwithin=(point, degrees))
             .annotate(distance=Distance("location", point))
             .order_by("distance").first())
    if found is None or found.distance.m > within_m:
        return None
    return Place(name=found.name, address=found.address, lon=found.location.x, lat=found.location.y,
                 distance_m=found.distance.m)


def all_places() -> list[Place]:
    """Every place (a few hundred: the territory's camera sites)."""
    places = _places()
    if places is None:
        return []
    return [Place(name=p.name, address=p.address, lon=p.location.x, lat=p.location.y)
            for p in places.only("name", "address", "location")]
