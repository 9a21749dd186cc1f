"""REST endpoints of incidents and the main courante."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint
from config.errors import NotAllowed
from incidents import services
from incidents.models import Incident, JournalEntry, Nature
from incidents.selectors import incidents_visible_to
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


class IncidentDetailOutput(IncidentOutput):
    journal = JournalOutput(many=True)

    class Meta(IncidentOutput.Meta):
        fields = [*IncidentOutput.Meta.fields, "journal"]


class NatureListApi(APIView):
    """``GET /api/natures/`` — the incident nomenclature."""

    @extend_schema(responses=NatureOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(NatureOutput(Nature.objects.filter(active=True), many=True).data)


def _visible(request: Request):
    return incidents_visible_to(member_of(request.user))


class IncidentListApi(APIView):
    """``GET /api/incidents/`` (what the caller may see; ``?status=``), ``POST`` (centre staff)."""

    class Input(serializers.Serializer):
        nature = serializers.CharField(max_length=40)
        priority = serializers.IntegerField(min_value=1, max_value=3, default=3)
        location = GeoJsonPoint()
        address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        description = serializers.CharField(max_length=services.MAX_TEXT)

    @extend_schema(responses=IncidentOutput(many=True))
    def get(self, request: Request) -> Response:
        qs = _visible(request).prefetch_related("shared_with")
        status = request.query_params.get("status")
        if status:
            qs = qs.filter(status__in=status.split(","))
        return Response(IncidentOutput(qs[:500], many=True).data)

    @extend_schema(request=Input, responses={201: IncidentOutput})
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed("Only the centre's operators open incidents.")
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_create(author=request.user, **data.validated_data)
        return Response(IncidentOutput(incident).data, status=201)


class IncidentDetailApi(APIView):
    @extend_schema(responses=IncidentDetailOutput)
    def get(self, request: Request, pk: int) -> Response:
        incident = get_object_or_404(_visible(request).prefetch_related("journal__author"), pk=pk)
        return Response(IncidentDetailOutput(incident).data)


class JournalAppendApi(APIView):
    """``POST /api/incidents/<id>/journal/`` — any member who sees the incident may add a note."""

    class Input(serializers.Serializer):
        text = serializers.CharField(max_length=services.MAX_TEXT)
        corrects = serializers.IntegerField(required=False)

    @extend_schema(request=Input, responses={201: JournalOutput})
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
    """``POST /api/incidents/<id>/shares/`` ``{"agency": code}``; ``DELETE .../shares/<code>/``."""

    permission_classes = [IsCentreStaff]

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

    @extend_schema(responses=IncidentOutput)
    def delete(self, request: Request, pk: int, agency: str) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        incident = services.incident_unshare(incident=incident, author=request.user, agency_code=agency)
        return Response(IncidentOutput(incident).data)
