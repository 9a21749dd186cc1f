"""Read-only endpoints of the geo app."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from geo.geojson import feature_collection

_COMMUNES_SQL = """
SELECT json_build_object(
    'type', 'Feature', 'id', c.insee_code,
    'geometry', ST_AsGeoJSON(c.boundary, 6)::json,
    'properties', json_build_object(
        'insee_code', c.insee_code, 'name', c.name, 'postcode', c.postcode,
        'population', c.population, 'approximate', c.approximate)) AS feature
FROM geo_commune c ORDER BY c.name
"""


class CommuneListApi(APIView):
    """``GET /api/geo/communes/`` — the communes of the service area as GeoJSON."""

    @extend_schema(responses={200: OpenApiResponse(description="GeoJSON FeatureCollection")})
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(feature_collection(_COMMUNES_SQL), content_type="application/geo+json")
