"""REST endpoints of incidents and the main courante."""

from __future__ import annotations

import datetime as dt

from django.contrib.gis.geos import Polygon
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint, parse_bbox
from cameras.models import Camera
from cameras.selectors import coverage_at
from config.errors import DomainError, NotAllowed
from incidents import services
from incidents.choices import IncidentStatus
from incidents.models import Incident, JournalEntry, Nature
from incidents.selectors import incidents_visible_to, journal_visible_to
from partners.idempotency import idempotent
from partners.permissions import IsCentreStaff
from partners.selectors import member_of


class NatureOutput(serializers.ModelSerializer):
    class Meta:
        model = Nature
        fields = ["code", "label"]


class JournalOutput(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")

    class Meta:
        model = JournalEntry
        fields = ["id", "at", "author", "kind", "text", "corrects"]


class IncidentOutput(serializers.ModelSerializer):
    nature = serializers.CharField(source="nature.code")
    nature_label = serializers.CharField(source="nature.label")
    location = GeoJsonPoint()
    commune = serializers.CharField(source="commune.insee_code")
    commune_name = serializers.CharField(source="commune.name")
    shared_with = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "reference", "nature", "nature_label", "priority", "status", "location",
                  "address", "commune", "commune_name", "description", "created_at", "version",
                  "shared_with"]


def _time(raw: str | None, field: str) -> dt.datetime | None:
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise DomainError("An ISO 8601 date and time, e.g. 2026-11-26T21:00:00+01:00.", field=field)
    return value


def incident_detail(incident: Incident, request: Request) -> dict:
    """The incident with the journal the caller may read and, for the centre, the cameras
    that can see it (best first) and those attached to it."""
    member = member_of(request.user)
    data = dict(IncidentOutput(incident).data)
    data["journal"] = JournalOutput(journal_visible_to(incident, member), many=True).data
    if member is not None and member.is_centre_staff:
        data["cameras"] = list(incident.cameras.values_list("id", flat=True))
        data["suggested_cameras"] = [h.as_dict for h in coverage_at(incident.location)[:10]]
    return data


class NatureListApi(APIView):
    """``GET /api/natures/`` — the incident nomenclature."""

    @extend_schema(responses=NatureOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(NatureOutput(Nature.objects.filter(active=True), many=True).data)


def _visible(request: Request):
    return incidents_visible_to(member_of(request.user))


class IncidentListApi(APIView):
    """``GET /api/incidents/`` (what the caller may see; ``?status=``), ``POST`` (centre staff)."""

    @extend_schema_serializer(component_name="IncidentCreate")
    class Input(serializers.Serializer):
        nature = serializers.CharField(max_length=40)
        priority = serializers.IntegerField(min_value=1, max_value=3, default=3)
        location = GeoJsonPoint()
        address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        description = serializers.CharField(max_length=services.MAX_TEXT)

    @extend_schema(responses=IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        """Filters: ``status`` (comma list), ``nature``, ``commune`` (INSEE), ``bbox``,
        ``since``/``until`` (ISO 8601), ``q`` (reference, description, address); newest first,
        at most ``limit`` (100, up to 500)."""
        params = request.query_params
        qs = _visible(request).prefetch_related("shared_with")
        if params.get("status"):
            statuses = params["status"].split(",")
            unknown = set(statuses) - set(IncidentStatus.values)
            if unknown:
                raise DomainError(f"Unknown status {sorted(unknown)}.", field="status")
            qs = qs.filter(status__in=statuses)
        if params.get("nature"):
            qs = qs.filter(nature__code=params["nature"])
        if params.get("commune"):
            qs = qs.filter(commune__insee_code=params["commune"])
        bbox = parse_bbox(params.get("bbox"))
        if bbox:
            qs = qs.filter(location__within=Polygon.from_bbox(bbox))
        since, until = _time(params.get("since"), "since"), _time(params.get("until"), "until")
        if since:
            qs = qs.filter(created_at__gte=since)
        if until:
            qs = qs.filter(created_at__lt=until)
        if params.get("q"):
            q = params["q"][:200]
            qs = qs.filter(Q(reference__icontains=q) | Q(description__icontains=q)
                           | Q(address__icontains=q))
        try:
            limit = min(max(int(params.get("limit", 100)), 1), 500)
        except ValueError as exc:
            raise DomainError("A whole number.", field="limit") from exc
        return Response(IncidentOutput(qs.order_by("-created_at", "-id")[:limit], many=True).data)

    @extend_schema(request=Input, responses={201: IncidentOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed("Only the centre's operators open incidents.")
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_create(author=request.user, **data.validated_data)
        return Response(IncidentOutput(incident).data, status=201)


class IncidentDetailApi(APIView):
    """``GET /api/incidents/<id>/``; ``PATCH`` (centre staff) with the ``version`` read."""

    @extend_schema_serializer(component_name="IncidentUpdate")
    class Input(serializers.Serializer):
        version = serializers.IntegerField()
        priority = serializers.IntegerField(min_value=1, max_value=3, required=False)
        nature = serializers.CharField(max_length=40, required=False)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)
        location = GeoJsonPoint(required=False)

    @extend_schema(responses=OpenApiResponse(description="The incident with its journal"))
    def get(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(_visible(request), pk=pk)
        return Response(incident_detail(incident, request))

    @extend_schema(request=Input, responses=OpenApiResponse(description="The incident after the change"))
    def patch(self, request: Request, pk: int) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed("Only the centre's operators change incidents.")
        incident = get_object_or_404(Incident, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_update(incident=incident, author=request.user, **data.validated_data)
        return Response(incident_detail(incident, request))


class TransitionApi(APIView):
    """``POST /api/incidents/<id>/transitions/`` ``{"status", "version"?, "comment"?}``."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentTransition")
    class Input(serializers.Serializer):
        status = serializers.CharField(max_length=16)
        version = serializers.IntegerField(required=False)
        comment = serializers.CharField(max_length=services.MAX_TEXT, required=False, allow_blank=True)

    @extend_schema(request=Input, responses=OpenApiResponse(description="The incident after the move"))
    def post(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_transition(incident=incident, author=request.user,
                                                **data.validated_data)
        return Response(incident_detail(incident, request))


class CameraAttachApi(APIView):
    """``POST /api/incidents/<id>/cameras/`` ``{"camera": id}`` — one click from the suggestions."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentCameraAttach")
    class Input(serializers.Serializer):
        camera = serializers.IntegerField()

    @extend_schema(request=Input, responses={201: OpenApiResponse(description="The incident")})
    def post(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        camera = Camera.objects.filter(pk=data.validated_data["camera"]).first()
        if camera is None:
            raise DomainError("No such camera.", field="camera")
        incident = services.incident_attach_camera(incident=incident, camera=camera, author=request.user)
        return Response(incident_detail(incident, request), status=201)


class JournalAppendApi(APIView):
    """``POST /api/incidents/<id>/journal/`` — any member who sees the incident may add a note."""

    @extend_schema_serializer(component_name="JournalAppend")
    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=services.MAX_TEXT)
        corrects = serializers.IntegerField(required=False)

    @extend_schema(request=Input, responses={201: JournalOutput})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(_visible(request), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        corrects = None
        if "corrects" in data.validated_data:
            corrects = get_object_or_404(JournalEntry, pk=data.validated_data["corrects"],
                                         incident=incident)
        entry = services.journal_append(incident=incident, author=request.user,
                                        text=data.validated_data["text"], corrects=corrects)
        return Response(JournalOutput(entry).data, status=201)


class ShareApi(APIView):
    """``POST /api/incidents/<id>/shares/`` ``{"agency": code}``: share with a partner agency."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentShare")
    class Input(serializers.Serializer):
        agency = serializers.CharField(max_length=64)

    @extend_schema(request=Input, responses={201: IncidentOutput})
    def post(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_share(incident=incident, author=request.user,
                                           agency_code=data.validated_data["agency"])
        return Response(IncidentOutput(incident).data, status=201)


class UnshareApi(APIView):
    """``DELETE /api/incidents/<id>/shares/<code>/``: stop sharing with that agency."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses=IncidentOutput)
    def delete(self, request: Request, pk: int, agency: str) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        incident = services.incident_unshare(incident=incident, author=request.user, agency_code=agency)
        return Response(IncidentOutput(incident).data)
