"""``/api/units/``: the field units (list, create, edit: supervisors), their status, their
position, their engagement on an incident. The answers are the events' own data models."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from pydantic import RootModel
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint
from config.errors import DomainError
from incidents.api.common import member_required
from incidents.choices import UnitStatus
from incidents.events import UnitData, unit_data
from incidents.models import Incident, Unit
from incidents.selectors.units import may_manage_units, unit_for, unit_list
from incidents.services.common import UnknownAgency
from incidents.services.units import (
    unit_create,
    unit_engage,
    unit_position_report,
    unit_status_set,
    unit_update,
)
from partners.idempotency import idempotent
from partners.models import Agency, Member
from partners.permissions import IsCentreStaff
from partners.selectors import member_of


class UnitList(RootModel[list[UnitData]]):
    pass


class UnitManagersWrite(IsAuthenticated):
    """Reads for every signed-in caller (``units_visible_to`` decides what each sees); creating
    and editing units for the centre's supervisors and administrators, refused before the body
    is read or the id looked up (the answer tells nothing about which units exist). The
    services check again."""

    message = _("Only the centre's supervisors and administrators manage field units.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        return request.method in SAFE_METHODS or may_manage_units(member_of(request.user))


def _unit_answer(unit: Unit, status: int = 200) -> Response:
    return Response(unit_data(unit).model_dump(mode="json"), status=status)


def _agency(code: str | None) -> Agency:
    agency = Agency.objects.filter(code=code).first() if code else None
    if agency is None:
        raise UnknownAgency(gettext("No agency has the code %(code)s.") % {"code": code}, field="agency")
    return agency


def _driver(username: str | None) -> Member | None:
    """The member named by ``username``; ``None`` (JSON null) takes the tablet back."""
    if username is None:
        return None
    member = Member.objects.select_related("user", "agency").filter(user__username=username).first()
    if member is None:
        raise DomainError(gettext("No member has the username %(username)s.") % {"username": username},
                          field="member")
    return member


class UnitListApi(APIView):
    """``GET /api/units/`` — the units in service the caller may see, with status and last position
    (``?retired=1``: the retired ones, for the centre); ``POST`` creates one (supervisors)."""

    permission_classes = [UnitManagersWrite]

    @extend_schema_serializer(component_name="UnitCreate")
    class Input(serializers.Serializer):
        callsign = serializers.CharField(max_length=60)
        agency = serializers.CharField(max_length=64)
        member = serializers.CharField(max_length=150, required=False, allow_null=True, default=None)

    @extend_schema(parameters=[OpenApiParameter(
        "retired", str, required=False, description="`1` or `true`: the retired units (the centre).")],
        responses=UnitList)
    def get(self, request: Request) -> Response:
        units = unit_list(member=member_of(request.user), filters=request.query_params)
        return Response([unit_data(u).model_dump(mode="json") for u in units])

    @extend_schema(request=Input, responses={201: UnitData})
    def post(self, request: Request) -> Response:
        member = member_required(request)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        unit = unit_create(by=member, callsign=values["callsign"], agency=_agency(values["agency"]),
                           member=_driver(values["member"]))
        return _unit_answer(unit, 201)


class UnitDetailApi(APIView):
    """``PATCH /api/units/<id>/`` ``{"callsign"?, "agency"?, "member"? (username, null: take the
    tablet back), "retired"? (true: retire, false: reinstate)}`` — supervisors."""

    permission_classes = [UnitManagersWrite]

    @extend_schema_serializer(component_name="UnitUpdate")
    class Input(serializers.Serializer):
        callsign = serializers.CharField(max_length=60, required=False)
        agency = serializers.CharField(max_length=64, required=False)
        member = serializers.CharField(max_length=150, required=False, allow_null=True)
        retired = serializers.BooleanField(required=False)

    @extend_schema(request=Input, responses=UnitData)
    def patch(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        unit = get_object_or_404(Unit, pk=pk)  # retired ones too: a supervisor reinstates them
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        changes = {}
        if "callsign" in values:
            changes["callsign"] = values["callsign"]
        if "agency" in values:
            changes["agency"] = _agency(values["agency"])
        if "member" in values:
            changes["member"] = _driver(values["member"])
        if "retired" in values:
            changes["retired"] = values["retired"]
        return _unit_answer(unit_update(by=member, unit=unit, **changes))


def _unit(request: Request, pk: int) -> tuple[Unit, Member]:
    member = member_required(request)
    unit = unit_for(member, pk)
    if unit is None:
        raise Http404
    return unit, member


class UnitStatusApi(APIView):
    """``POST /api/units/<id>/status/`` ``{"status"}`` — the unit's tablet, or the centre."""

    @extend_schema_serializer(component_name="UnitStatusSet")
    class Input(serializers.Serializer):
        status = serializers.ChoiceField(choices=UnitStatus.choices)

    @extend_schema(request=Input, responses=UnitData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        unit, member = _unit(request, pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        unit = unit_status_set(unit=unit, status=data.validated_data["status"], member=member)
        return Response(unit_data(unit).model_dump(mode="json"))


class UnitPositionApi(APIView):
    """``POST /api/units/<id>/position/`` ``{"location": GeoJSON point, "at"?, "accuracy"?}`` —
    the unit's own tablet only; ``at`` is when the fix was taken (queued reports come late)."""

    @extend_schema_serializer(component_name="UnitPositionReport")
    class Input(serializers.Serializer):
        location = GeoJsonPoint()
        at = serializers.DateTimeField(required=False)
        accuracy = serializers.FloatField(required=False, min_value=0, max_value=100_000)

    @extend_schema(request=Input, responses={201: OpenApiResponse(description="{unit, at, accepted}")})
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        unit, member = _unit(request, pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        fix = unit_position_report(member=member, unit=unit, point=values["location"], at=values.get("at"),
                                   accuracy_m=values.get("accuracy"))
        return Response({"unit": unit.pk, "at": fix.at,
                         "location": GeoJsonPoint().to_representation(fix.point)}, status=201)


class UnitEngageApi(APIView):
    """``POST /api/units/<id>/engage/`` ``{"incident"}`` — the centre engages a unit (journalled)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="UnitEngage")
    class Input(serializers.Serializer):
        incident = serializers.IntegerField()

    @extend_schema(request=Input, responses=UnitData)
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        unit = get_object_or_404(Unit.objects.select_related("agency"), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
        if incident is None:
            raise DomainError(gettext("No such incident."), field="incident")
        unit = unit_engage(unit=unit, incident=incident, member=member)
        return Response(unit_data(unit).model_dump(mode="json"))
