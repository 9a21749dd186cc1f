"""Endpoints of the geo app: communes, addresses (search, reverse) and the offline basemap."""

from __future__ import annotations

import math
import re

from django.conf import settings
from django.contrib.gis.geos import Point
from django.http import FileResponse, HttpResponse
from django.utils.http import http_date
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from geo.geocoding import address_reverse, address_search
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


# --- Addresses.


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data: float | int | str) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class _AddressApi(APIView):
    """The address endpoints' rights come from ``HUB_GEO_ADDRESS_PERMISSIONS`` (the centre's
    staff): geo depends on no other app of ours, the settings name the rule."""

    def get_permissions(self) -> list:
        return [import_string(path)() for path in settings.HUB_GEO_ADDRESS_PERMISSIONS]


_ANSWER = OpenApiResponse(description="`source` (`ban`: the national address base; `local`: the "
                                      "centre's own data), `notice` (why the local data answered)")


class AddressSearchApi(_AddressApi):
    """``GET /api/geo/address/search/?q=`` — addresses matching what is typed, best first."""

    class Input(serializers.Serializer):
        q = serializers.CharField(max_length=200)
        limit = serializers.IntegerField(min_value=1, max_value=10, default=6)

    @extend_schema(parameters=[Input], responses={200: _ANSWER})
    def get(self, request: Request) -> Response:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        return Response(address_search(**data.validated_data).as_json())


class AddressReverseApi(_AddressApi):
    """``GET /api/geo/address/reverse/?lat=&lon=`` — the address of a point and its commune."""

    class Input(serializers.Serializer):
        lat = FiniteFloatField(min_value=-90, max_value=90)
        lon = FiniteFloatField(min_value=-180, max_value=180)

    @extend_schema(parameters=[Input], responses={200: _ANSWER})
    def get(self, request: Request) -> Response:
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        point = Point(data.validated_data["lon"], data.validated_data["lat"], srid=4326)
        return Response(address_reverse(point=point).as_json())


# --- The offline basemap, with HTTP range requests (PMTiles readers read it piecewise).

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A range is read into memory up to this size; larger ones (never asked by PMTiles readers,
# which read 16 KiB then single tiles) are streamed.
_IN_MEMORY = 8 * 1024 * 1024


class _AnyAccept(DefaultContentNegotiation):
    """The archive's bytes whatever the client accepts; errors as the API's JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class BasemapFileApi(APIView):
    """``GET /api/geo/basemap.pmtiles`` — the offline basemap (``HUB_MAP_PMTILES``).

    Answers ``Range: bytes=a-b`` with 206 and the bytes asked: Django's file answers send
    whole files, and WhiteNoise serves ranges of collected static files only, which the
    archive is not (hundreds of megabytes for a real territory, replaced by the centre
    without a deployment). A strong ``ETag`` lets a reader notice that the archive was
    replaced between two of its reads.
    """

    content_negotiation_class = _AnyAccept

    @extend_schema(parameters=[OpenApiParameter("Range", OpenApiTypes.STR, OpenApiParameter.HEADER)],
                   responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              (206, "application/octet-stream"): OpenApiTypes.BINARY,
                              404: OpenApiResponse(description="No offline basemap on this hub."),
                              416: OpenApiResponse(description="The range starts past the end of the file "
                                                               "(`Content-Range: bytes */<size>`).")})
    def get(self, request: Request) -> HttpResponse | FileResponse:
        path = settings.HUB_MAP_PMTILES
        try:
            if path is None:
                raise FileNotFoundError
            handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
        except OSError:
            return Response({"error": "not_found",
                             "detail": _("No offline basemap on this hub (HUB_MAP_PMTILES).")}, status=404)
        stat = path.stat()
        size = stat.st_size
        etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
        headers = {"Accept-Ranges": "bytes", "ETag": etag, "Last-Modified": http_date(stat.st_mtime),
                   "Cache-Control": "private, max-age=300"}
        wanted = request.headers.get("Range", "")
        if_range = request.headers.get("If-Range")
        match = _RANGE.match(wanted.replace(" ", "")) if wanted else None
        if match is None or (if_range is not None and if_range != etag) or not any(match.groups()):
            # No range, several ranges (allowed to be answered whole), or a stale If-Range.
            response = FileResponse(handle, content_type="application/octet-stream")
            for name, value in headers.items():
                response[name] = value
            return response
        first, last = match.groups()
        if first == "":  # the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            handle.close()
            return HttpResponse(status=416, headers={**headers, "Content-Range": f"bytes */{size}"})
        length = end - start + 1
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        handle.seek(start)
        if length <= _IN_MEMORY:
            with handle:
                body = handle.read(length)
            return HttpResponse(body, status=206, content_type="application/octet-stream", headers=headers)
        response = FileResponse(_limited(handle, length), status=206, content_type="application/octet-stream")
        for name, value in headers.items():
            response[name] = value
        response["Content-Length"] = str(length)
        return response


def _limited(handle, length: int):
    with handle:
        while length > 0:
            chunk = handle.read(min(length, 65536))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
