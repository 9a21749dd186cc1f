"""Reads of the geo app."""

from __future__ import annotations

from django.contrib.gis.db.models.aggregates import Union
from django.contrib.gis.geos import MultiPolygon, Point

from geo.models import Commune


def commune_at(point: Point) -> Commune | None:
    """The commune whose boundary covers ``point`` (SRID 4326), or None outside the area."""
    return Commune.objects.filter(boundary__covers=point).order_by("insee_code").first()


def in_service_area(point: Point) -> bool:
    return Commune.objects.filter(boundary__covers=point).exists()


def service_area() -> MultiPolygon | None:
    """The union of every commune boundary, or None before any commune is loaded."""
    area = Commune.objects.aggregate(area=Union("boundary"))["area"]
    if area is None:
        return None
    return area if isinstance(area, MultiPolygon) else MultiPolygon(area, srid=4326)
