"""Field-of-view geometry and bearings.

A field of view is a circular sector: from the camera position, centred on a
heading (degrees clockwise from true north), ``angle`` degrees wide, ``range_m``
metres deep. The arc is computed with the spherical destination formula, which
at these distances (at most a few kilometres) agrees with the ellipsoid to well
under a metre; bearings and distances in the database use PostGIS geography,
which agrees with it.
"""

from __future__ import annotations

import math

from django.contrib.gis.geos import Point, Polygon

EARTH_RADIUS_M = 6_371_008.8
# One vertex every this many degrees of arc: a 90° sector has 19 points on its
# arc, within 1 % of the true arc area.
ARC_STEP_DEG = 5.0


def destination(lon: float, lat: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """The point reached from (lon, lat) going ``distance_m`` along ``bearing_deg``."""
    phi1, lambda1 = math.radians(lat), math.radians(lon)
    theta = math.radians(bearing_deg)
    delta = distance_m / EARTH_RADIUS_M
    sin_phi2 = math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta)
    phi2 = math.asin(sin_phi2)
    lambda2 = lambda1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * sin_phi2
    )
    return math.degrees(lambda2), math.degrees(phi2)


def bearing(from_lon: float, from_lat: float, to_lon: float, to_lat: float) -> float:
    """Initial bearing in degrees [0, 360) from the first point to the second."""
    phi1, phi2 = math.radians(from_lat), math.radians(to_lat)
    dlambda = math.radians(to_lon - from_lon)
    y = math.sin(dlambda) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlambda)
    return math.degrees(math.atan2(y, x)) % 360.0


def angle_between(a_deg: float, b_deg: float) -> float:
    """The smallest angle in degrees [0, 180] between two bearings."""
    diff = abs(a_deg - b_deg) % 360.0
    return 360.0 - diff if diff > 180.0 else diff


def sector(position: Point, *, heading: float, angle: float, range_m: float) -> Polygon:
    """The field-of-view polygon (SRID 4326) of a camera at ``position``.

    ``angle`` of 360 gives a disc. The caller validates the ranges
    (0 <= heading < 360, 0 < angle <= 360, range_m > 0).
    """
    lon, lat = position.x, position.y
    if angle >= 360.0:
        steps = int(360.0 / ARC_STEP_DEG)
        ring = [destination(lon, lat, i * ARC_STEP_DEG, range_m) for i in range(steps)]
        ring.append(ring[0])
    else:
        start = heading - angle / 2.0
        steps = max(2, math.ceil(angle / ARC_STEP_DEG))
        arc = [destination(lon, lat, start + angle * i / steps, range_m) for i in range(steps + 1)]
        ring = [(lon, lat), *arc, (lon, lat)]
    return Polygon(ring, srid=4326)
