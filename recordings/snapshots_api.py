"""REST endpoints of snapshots (*captures d'image*), centre staff only. docs/recordings.md."""

from __future__ import annotations

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera
from config.downloads import handle_download
from config.errors import DomainError
from incidents.models import Incident
from partners.auth import client_address
from partners.permissions import IsCentreStaff
from partners.selectors import signed_in
from recordings import snapshots
from recordings.models import Snapshot

LIST_LIMIT = 200


class SnapshotOutput(serializers.ModelSerializer):
    camera_code = serializers.CharField(source="camera.code")
    created_by = serializers.CharField(source="created_by.username")
    incident = serializers.CharField(source="incident.reference", default=None)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = ["id", "camera", "camera_code", "taken_at", "created_at", "created_by", "incident",
                  "journal_entry", "size", "sha256", "masks_applied", "url"]

    def get_url(self, snapshot: Snapshot) -> str:
        return reverse("snapshot-image", kwargs={"pk": snapshot.pk})


class SnapshotCreateApi(APIView):
    """``POST /api/streaming/cameras/<id>/snapshots/`` ``{"at"?, "incident"?}``: the recorded picture
    at ``at`` (default: the latest), masked, name and time burned in. 201; 404 ``no_recording``;
    410 ``recording_gone`` past the retention; 400 for a moment in the future."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="SnapshotCreate")
    class Input(serializers.Serializer):
        at = serializers.DateTimeField(required=False, allow_null=True, default=None)
        incident = serializers.IntegerField(required=False, allow_null=True, default=None)

    @extend_schema(request=Input, responses={201: SnapshotOutput, 410: OpenApiResponse(
        description="`recording_gone`: the recording of that moment was destroyed (retention).")})
    def post(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = None
        if data.validated_data["incident"] is not None:
            incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
            if incident is None:
                raise DomainError(_("No such incident."), field="incident")
        snapshot = snapshots.snapshot_take(camera=camera, by=signed_in(request), at=data.validated_data["at"],
                                           incident=incident, address=client_address(request._request))
        return Response(SnapshotOutput(snapshot).data, status=201)


class SnapshotListApi(APIView):
    """``GET /api/streaming/snapshots/?camera=<id>&incident=<id>``: newest picture first (200 at most)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(parameters=[OpenApiParameter("camera", int, required=False),
                               OpenApiParameter("incident", int, required=False)],
                   responses=SnapshotOutput(many=True))
    def get(self, request: Request) -> Response:
        queryset = Snapshot.objects.select_related("camera", "created_by", "incident")
        for name in ("camera", "incident"):
            raw = request.query_params.get(name, "").strip()
            if raw:
                if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is true, int("²") fails
                    raise DomainError(_("An id."), field=name)
                queryset = queryset.filter(**{f"{name}_id": int(raw)})
        return Response(SnapshotOutput(queryset[:LIST_LIMIT], many=True).data)


class SnapshotImageApi(APIView):
    """``GET /api/streaming/snapshots/<id>/image``: the JPEG (404 once destroyed by the retention sweep)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        snapshot = get_object_or_404(Snapshot, pk=pk)
        filename = f"{snapshot.camera.code}-{snapshot.taken_at:%Y%m%dT%H%M%S}.jpg"
        return handle_download(snapshots.snapshot_open(snapshot), content_type="image/jpeg",
                               as_attachment=False, filename=filename)
