"""REST endpoints of the video handoff: grants (the WHEP endpoint comes with the pipeline)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera
from config.errors import DomainError
from incidents.models import Incident
from partners.auth import client_address
from partners.permissions import IsCentreStaff
from partners.selectors import member_of
from streaming import services
from streaming.models import Grant
from streaming.selectors import active_grants, grants_visible_to


class GrantOutput(serializers.ModelSerializer):
    camera_code = serializers.CharField(source="camera.code")
    camera_name = serializers.CharField(source="camera.name")
    agency = serializers.CharField(source="agency.code")
    incident_reference = serializers.CharField(source="incident.reference")
    active = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ["id", "camera", "camera_code", "camera_name", "agency", "incident",
                  "incident_reference", "created_at", "expires_at", "revoked_at", "active"]

    def get_active(self, grant: Grant) -> bool:
        return grant.is_active()


class GrantListApi(APIView):
    """``GET /api/streaming/grants/`` (``?active=1``); ``POST`` (centre staff) shares a camera."""

    @extend_schema_serializer(component_name="GrantCreate")
    class Input(serializers.Serializer):
        camera = serializers.IntegerField()
        agency = serializers.CharField(max_length=64)
        incident = serializers.IntegerField()
        minutes = serializers.IntegerField(required=False)

    @extend_schema(responses=GrantOutput(many=True))
    def get(self, request: Request) -> Response:
        qs = grants_visible_to(member_of(request.user))
        if request.query_params.get("active") in {"1", "true"}:
            qs = qs.filter(pk__in=active_grants().values("pk"))
        return Response(GrantOutput(qs[:500], many=True).data)

    @extend_schema(request=Input, responses={201: GrantOutput})
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            return Response({"error": "forbidden", "detail": "Only the centre shares cameras."}, status=403)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        camera = Camera.objects.filter(pk=data.validated_data["camera"]).first()
        if camera is None:
            raise DomainError("No such camera.", field="camera")
        incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
        if incident is None:
            raise DomainError("No such incident.", field="incident")
        grant = services.grant_create(camera=camera, agency_code=data.validated_data["agency"],
                                      incident=incident, granted_by=request.user,
                                      minutes=data.validated_data.get("minutes"),
                                      address=client_address(request._request))
        return Response(GrantOutput(grant).data, status=201)


class GrantRevokeApi(APIView):
    """``POST /api/streaming/grants/<id>/revoke/`` ``{"reason"?}`` (centre staff)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="GrantRevoke")
    class Input(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=GrantOutput)
    def post(self, request: Request, pk: int) -> Response:
        grant = get_object_or_404(Grant, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_revoke(grant=grant, by=request.user, reason=data.validated_data["reason"],
                                      address=client_address(request._request))
        return Response(GrantOutput(grant).data)


class GrantExtendApi(APIView):
    """``POST /api/streaming/grants/<id>/extend/`` ``{"minutes"}`` (centre staff)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="GrantExtend")
    class Input(serializers.Serializer):
        minutes = serializers.IntegerField()

    @extend_schema(request=Input, responses=GrantOutput)
    def post(self, request: Request, pk: int) -> Response:
        grant = get_object_or_404(Grant, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_extend(grant=grant, by=request.user, minutes=data.validated_data["minutes"],
                                      address=client_address(request._request))
        return Response(GrantOutput(grant).data)
