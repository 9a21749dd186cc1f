"""``/api/natures/`` and ``/api/incidents/``: the nomenclature, the incidents (list, open,
read, change, move along their statuses), their cameras and their sharing."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from pydantic import RootModel
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint
from cameras.models import Camera
from cameras.selectors import coverage_at
from config.errors import DomainError
from incidents.api.common import CentreStaffWrites, member_required
from incidents.api.journal import journal_answer
from incidents.events import IncidentData, incident_data
from incidents.models import Incident, Nature
from incidents.selectors.incidents import (
    INCIDENT_FILTERS,
    INCIDENT_LIMIT,
    incident_list,
    incidents_visible_to,
)
from incidents.selectors.journal import journal_visible_to
from incidents.services.common import MAX_TEXT
from incidents.services.incidents import (
    incident_attach_camera,
    incident_create,
    incident_share,
    incident_transition,
    incident_unshare,
    incident_update,
)
from partners.idempotency import idempotent
from partners.models import Member
from partners.permissions import IsCentreStaff
from partners.selectors import member_of


class NatureOutput(serializers.ModelSerializer):
    class Meta:
        model = Nature
        fields = ["code", "label"]


class IncidentList(RootModel[list[IncidentData]]):
    pass


def incident_answer(incident: Incident) -> dict:
    """An incident over REST: the shape its events carry (``IncidentData``), serialised once,
    so that a page applies an event to what REST gave it."""
    return incident_data(incident).model_dump(mode="json")


def incident_detail(incident: Incident, member: Member | None) -> dict:
    """The incident with the journal ``member`` may read and, for the centre, the cameras
    that can see it (best first) and those attached to it."""
    data = incident_answer(incident)
    data["journal"] = [journal_answer(entry) for entry in journal_visible_to(incident, member)]
    if member is not None and member.is_centre_staff:
        data["cameras"] = list(incident.cameras.values_list("id", flat=True))
        data["suggested_cameras"] = [h.as_dict for h in coverage_at(incident.location)[:10]]
    return data


class NatureListApi(APIView):
    """``GET /api/natures/`` — the incident nomenclature."""

    @extend_schema(responses=NatureOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(NatureOutput(Nature.objects.filter(active=True), many=True).data)


class IncidentListApi(APIView):
    """``GET /api/incidents/`` (what the caller may see; ``?status=``), ``POST`` (centre staff)."""

    permission_classes = [CentreStaffWrites]
    write_refusal = _("Only the centre's operators open incidents.")

    @extend_schema_serializer(component_name="IncidentCreate")
    class Input(serializers.Serializer):
        nature = serializers.CharField(max_length=40)
        priority = serializers.IntegerField(min_value=1, max_value=3, default=3)
        location = GeoJsonPoint()
        address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        description = serializers.CharField(max_length=MAX_TEXT)

    @extend_schema(parameters=[OpenApiParameter(name, str, required=False, description=text)
                               for name, text in INCIDENT_FILTERS]
                   + [OpenApiParameter(INCIDENT_LIMIT[0], int, required=False,
                                       description=INCIDENT_LIMIT[1])],
                   responses=IncidentList, operation_id="incidents_list")
    def get(self, request: Request) -> Response:
        """Filters: ``status`` (comma list), ``nature``, ``commune`` (INSEE), ``bbox``,
        ``since``/``until`` (ISO 8601), ``q`` (reference, description, address); newest first,
        at most ``limit`` (100, up to 500)."""
        incidents = incident_list(member=member_of(request.user), filters=request.query_params)
        return Response([incident_answer(incident) for incident in incidents])

    @extend_schema(request=Input, responses={201: IncidentData})
    @idempotent
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = incident_create(member=member_required(request), **data.validated_data)
        return Response(incident_answer(incident), status=201)


class IncidentDetailApi(APIView):
    """``GET /api/incidents/<id>/``; ``PATCH`` (centre staff) with the ``version`` read."""

    permission_classes = [CentreStaffWrites]
    write_refusal = _("Only the centre's operators change incidents.")

    @extend_schema_serializer(component_name="IncidentUpdate")
    class Input(serializers.Serializer):
        version = serializers.IntegerField()
        priority = serializers.IntegerField(min_value=1, max_value=3, required=False)
        nature = serializers.CharField(max_length=40, required=False)
        address = serializers.CharField(max_length=300, required=False, allow_blank=True)
        location = GeoJsonPoint(required=False)

    @extend_schema(responses=OpenApiResponse(description="The incident with its journal"))
    def get(self, request: Request, pk: int) -> Response:
        member = member_of(request.user)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        return Response(incident_detail(incident, member))

    @extend_schema(request=Input, responses=OpenApiResponse(description="The incident after the change"))
    def patch(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = incident_update(incident=incident, member=member, **data.validated_data)
        return Response(incident_detail(incident, member))


class TransitionApi(APIView):
    """``POST /api/incidents/<id>/transitions/`` ``{"status", "version"?, "comment"?}``."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentTransition")
    class Input(serializers.Serializer):
        status = serializers.CharField(max_length=16)
        version = serializers.IntegerField(required=False)
        comment = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True)

    @extend_schema(request=Input, responses=OpenApiResponse(description="The incident after the move"))
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = incident_transition(incident=incident, member=member, **data.validated_data)
        return Response(incident_detail(incident, member))


class CameraAttachApi(APIView):
    """``POST /api/incidents/<id>/cameras/`` ``{"camera": id}`` — one click from the suggestions."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentCameraAttach")
    class Input(serializers.Serializer):
        camera = serializers.IntegerField()

    @extend_schema(request=Input, responses={201: OpenApiResponse(description="The incident")})
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        camera = Camera.objects.filter(pk=data.validated_data["camera"]).first()
        if camera is None:
            raise DomainError(gettext("No such camera."), field="camera")
        incident = incident_attach_camera(incident=incident, camera=camera, member=member)
        return Response(incident_detail(incident, member), status=201)


class ShareApi(APIView):
    """``POST /api/incidents/<id>/shares/`` ``{"agency": code}``: share with a partner agency."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="IncidentShare")
    class Input(serializers.Serializer):
        agency = serializers.CharField(max_length=64)

    @extend_schema(request=Input, responses={201: IncidentData})
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = incident_share(incident=incident, member=member, agency_code=data.validated_data["agency"])
        return Response(incident_answer(incident), status=201)


class UnshareApi(APIView):
    """``DELETE /api/incidents/<id>/shares/<code>/``: stop sharing with that agency."""

    permission_classes = [IsCentreStaff]

    # 200 with the incident (drf-spectacular would say 204 for a DELETE).
    @extend_schema(responses={200: IncidentData})
    def delete(self, request: Request, pk: int, agency: str) -> Response:
        member = member_required(request)
        incident = get_object_or_404(incidents_visible_to(member), pk=pk)
        incident = incident_unshare(incident=incident, member=member, agency_code=agency)
        return Response(incident_answer(incident))
