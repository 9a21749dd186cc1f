"""REST endpoints of the camera registry."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.gis.geos import Point
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras import selectors, services
from cameras.models import Camera, PrivacyMask
from config.errors import DomainError
from partners.permissions import CentreReadsSupervisorWrites, IsCentreStaff
from partners.selectors import signed_in


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` in WGS 84, at most settings.HUB_MAX_BBOX_DEGREES on a side."""
    if raw is None:
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise DomainError(_("The area is minlon,minlat,maxlon,maxlat."), field="bbox")
    try:
        xmin, ymin, xmax, ymax = (float(p) for p in parts)
    except ValueError as exc:
        raise DomainError(_("The area holds four numbers."), field="bbox") from exc
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise DomainError(_("The area holds four finite numbers."), field="bbox")
    if not (-180 <= xmin < xmax <= 180 and -90 <= ymin < ymax <= 90):
        raise DomainError(_("The area goes from its minimum to its maximum, within longitudes and "
                            "latitudes."),
                          field="bbox")
    if xmax - xmin > settings.HUB_MAX_BBOX_DEGREES or ymax - ymin > settings.HUB_MAX_BBOX_DEGREES:
        raise DomainError(_("The area is larger than %(degrees)s° on a side.")
                          % {"degrees": settings.HUB_MAX_BBOX_DEGREES}, field="bbox")
    return xmin, ymin, xmax, ymax


def parse_coordinate(raw: str | None, field: str, limit: float) -> float:
    if raw is None or raw == "":
        raise DomainError(_("This parameter is required."), field=field)
    try:
        value = float(raw)
    except ValueError as exc:
        raise DomainError(_("A number is expected."), field=field) from exc
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise DomainError(_("Between -%(limit)s and %(limit)s.") % {"limit": limit}, field=field)
    return value


@extend_schema_field({
    "type": "object", "required": ["type", "coordinates"],
    "properties": {"type": {"type": "string", "enum": ["Point"]},
                   "coordinates": {"type": "array", "items": {"type": "number"},
                                   "minItems": 2, "maxItems": 2}}})
class GeoJsonPoint(serializers.Field):
    """``{"type": "Point", "coordinates": [lon, lat]}`` → a GEOS Point (SRID 4326)."""

    def to_internal_value(self, data: object) -> Point:
        if not isinstance(data, dict) or data.get("type") != "Point":
            raise serializers.ValidationError(
                _('A point is expected: {"type": "Point", "coordinates": [lon, lat]}.'))
        coords = data.get("coordinates")
        if not isinstance(coords, list) or len(coords) != 2 or not all(
                isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)
                for c in coords):
            raise serializers.ValidationError(_("The coordinates are two numbers [lon, lat]."))
        lon, lat = coords
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise serializers.ValidationError(_("These coordinates are not a longitude and a latitude."))
        return Point(float(lon), float(lat), srid=4326)

    def to_representation(self, value: Point) -> dict:
        return {"type": "Point", "coordinates": [round(value.x, 7), round(value.y, 7)]}


class CameraListApi(APIView):
    """``GET /api/cameras/?bbox=`` — the map layer: cameras and fields of view as GeoJSON.

    Built by the database in one statement, kept in the cache under its ETag; answers 304 to a
    matching ``If-None-Match``.
    """

    permission_classes = [IsCentreStaff]

    @extend_schema(operation_id="cameras_layer", parameters=[OpenApiParameter(
        "bbox", OpenApiTypes.STR, description="minlon,minlat,maxlon,maxlat (WGS 84)")],
        responses={200: OpenApiResponse(description="GeoJSON FeatureCollection"), 304: None})
    def get(self, request: Request) -> HttpResponse:
        bbox = parse_bbox(request.query_params.get("bbox"))
        etag = selectors.camera_layer_etag(bbox=bbox)
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(selectors.camera_layer_cached(bbox=bbox, etag=etag),
                                    content_type="application/geo+json")
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response


class CoverageHitOutput(serializers.Serializer):
    camera_id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    status = serializers.CharField()
    distance_m = serializers.FloatField()
    bearing = serializers.FloatField()
    off_axis = serializers.FloatField()
    in_view = serializers.BooleanField()
    preset = serializers.IntegerField(allow_null=True)
    turn_to = serializers.FloatField(allow_null=True)
    authorised = serializers.BooleanField()
    score = serializers.FloatField()


class CoverageApi(APIView):
    """``GET /api/cameras/coverage/?lat=&lon=`` — the cameras that can see a point, best first."""

    permission_classes = [IsCentreStaff]

    @extend_schema(parameters=[OpenApiParameter("lat", float, required=True),
                               OpenApiParameter("lon", float, required=True)],
                   responses=CoverageHitOutput(many=True))
    def get(self, request: Request) -> Response:
        lat = parse_coordinate(request.query_params.get("lat"), "lat", 90)
        lon = parse_coordinate(request.query_params.get("lon"), "lon", 180)
        point = services.validate_location(Point(lon, lat, srid=4326), field="lat")
        hits = selectors.coverage_at(point)
        return Response({"lat": lat, "lon": lon, "count": len(hits),
                         "cameras": [h.as_dict for h in hits]})


class PresetOutput(serializers.Serializer):
    number = serializers.IntegerField()
    name = serializers.CharField()
    heading = serializers.FloatField()
    angle = serializers.FloatField()
    range_m = serializers.FloatField()


class MaskOutput(serializers.ModelSerializer):
    class Meta:
        model = PrivacyMask
        fields = ["id", "label", "polygon", "liftable", "preset", "created_at"]


class CameraOutput(serializers.ModelSerializer):
    location = GeoJsonPoint()
    site = serializers.CharField(source="site.code")
    commune = serializers.CharField(source="site.commune.insee_code")
    presets = PresetOutput(many=True)
    authorised = serializers.BooleanField()
    masks = MaskOutput(many=True)
    relocations = serializers.SerializerMethodField()

    class Meta:
        model = Camera
        fields = ["id", "code", "name", "kind", "status", "site", "commune", "location",
                  "heading", "angle", "range_m", "retention_days", "authorised", "presets",
                  "masks", "relocations", "updated_at"]

    def get_relocations(self, camera: Camera) -> list[dict]:
        return [{"moved_at": r.moved_at, "from": GeoJsonPoint().to_representation(r.from_location),
                 "to": GeoJsonPoint().to_representation(r.to_location), "reason": r.reason}
                for r in camera.relocations.all()[:20]]


def _camera(pk: int) -> Camera:
    return get_object_or_404(
        selectors.cameras_with_authorisation().select_related("site__commune")
        .prefetch_related("presets", "masks", "relocations"), pk=pk)


class CameraDetailApi(APIView):
    """``GET /api/cameras/<id>/``; ``PATCH`` (supervisors) changes heading, angle, range, status."""

    permission_classes = [CentreReadsSupervisorWrites]

    @extend_schema_serializer(component_name="CameraUpdate")
    class Input(serializers.Serializer):
        # Kept raw: the service validates the numbers and names the field.
        heading = serializers.JSONField(required=False)
        angle = serializers.JSONField(required=False)
        range_m = serializers.JSONField(required=False)
        retention_days = serializers.JSONField(required=False)
        status = serializers.CharField(required=False)
        name = serializers.CharField(required=False, max_length=200)
        stream_uri = serializers.CharField(required=False, max_length=500, allow_blank=True)

    @extend_schema(responses=CameraOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(CameraOutput(_camera(pk)).data)

    @extend_schema(request=Input, responses=CameraOutput)
    def patch(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        data = self.Input(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.camera_update(camera=camera, **data.validated_data)
        return Response(CameraOutput(_camera(pk)).data)


class CameraRelocateApi(APIView):
    """``POST /api/cameras/<id>/relocate/`` — move a nomadic camera (supervisors)."""

    permission_classes = [CentreReadsSupervisorWrites]

    @extend_schema_serializer(component_name="CameraRelocate")
    class Input(serializers.Serializer):
        location = GeoJsonPoint()
        heading = serializers.JSONField()
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=Input, responses=CameraOutput)
    def post(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        services.camera_relocate(camera=camera, moved_by=signed_in(request), **data.validated_data)
        return Response(CameraOutput(_camera(pk)).data)


class MaskListApi(APIView):
    """``GET/POST /api/cameras/<id>/masks/`` — privacy masks (writes: supervisors)."""

    permission_classes = [CentreReadsSupervisorWrites]

    @extend_schema_serializer(component_name="MaskCreate")
    class Input(serializers.Serializer):
        polygon = serializers.JSONField()
        # A field named ``label`` shadows DRF's Field.label in the stubs' eyes only.
        label = serializers.CharField(  # type: ignore[assignment]
            required=False, allow_blank=True, max_length=200)
        liftable = serializers.BooleanField(required=False, default=False)
        preset = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(responses=MaskOutput(many=True))
    def get(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        return Response(MaskOutput(camera.masks.all(), many=True).data)

    @extend_schema(request=Input, responses={201: MaskOutput})
    def post(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        preset_number = data.validated_data.pop("preset", None)
        preset = None
        if preset_number is not None:
            preset = camera.presets.filter(number=preset_number).first()
            if preset is None:
                raise DomainError(_("This camera has no such preset."), field="preset")
        mask = services.mask_create(camera=camera, preset=preset, created_by=signed_in(request),
                                    **data.validated_data)
        return Response(MaskOutput(mask).data, status=201)


class MaskDetailApi(APIView):
    """``DELETE /api/cameras/<id>/masks/<mask_id>/`` (supervisors)."""

    permission_classes = [CentreReadsSupervisorWrites]

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int, mask_id: int) -> Response:
        mask = get_object_or_404(PrivacyMask, pk=mask_id, camera_id=pk)
        services.mask_delete(mask=mask)
        return Response(status=204)
