"""``/api/alerts/``: Croix-Rouge alerts, for the centre (raises them) and the Croix-Rouge
(acknowledges, sends a unit, closes). An alert carries nothing about cameras (``AlertData``)."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from pydantic import RootModel
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint
from config.errors import DomainError
from incidents.api.common import CentreStaffWrites, member_required
from incidents.choices import AlertCondition, AlertOutcome
from incidents.events import AlertData, alert_data
from incidents.models import Alert, Unit
from incidents.selectors.alerts import alert_list, alert_stats, alerts_visible_to, is_crf_member, stats_year
from incidents.selectors.units import unit_of
from incidents.services.alerts import alert_acknowledge, alert_close, alert_raise, alert_take_charge
from incidents.services.common import MAX_TEXT
from partners.idempotency import idempotent
from partners.selectors import member_of


class AlertList(RootModel[list[AlertData]]):
    pass


class CentreOrCroixRouge(IsAuthenticated):
    """Every alert endpoint: the centre and the Croix-Rouge's members (``alerts_visible_to``)."""

    message = _("Croix-Rouge alerts are for the centre and the Croix-Rouge.")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not super().has_permission(request, view):
            return False
        member = member_of(request.user)
        return member is not None and (member.is_centre_staff or is_crf_member(member))


def _alert_answer(alert: Alert, status: int = 200) -> Response:
    return Response(alert_data(alert).model_dump(mode="json"), status=status)


class AlertListApi(APIView):
    """``GET /api/alerts/`` (``?status=`` comma list; newest first); ``POST`` (the centre) raises one."""

    permission_classes = [CentreStaffWrites, CentreOrCroixRouge]
    write_refusal = _("Only the centre's operators raise alerts.")

    @extend_schema_serializer(component_name="AlertRaise")
    class Input(serializers.Serializer):
        location = GeoJsonPoint()
        address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        description = serializers.CharField(max_length=MAX_TEXT)
        people = serializers.IntegerField(min_value=1, max_value=100, default=1)
        conditions = serializers.ListField(child=serializers.ChoiceField(choices=AlertCondition.choices),
                                           required=False, default=list, max_length=10)

    @extend_schema(parameters=[OpenApiParameter(
        "status", str, required=False,
        description="Comma list of raised, acknowledged, taken_charge, closed.")], responses=AlertList)
    def get(self, request: Request) -> Response:
        alerts = alert_list(member=member_of(request.user), filters=request.query_params)
        return Response([alert_data(a).model_dump(mode="json") for a in alerts])

    @extend_schema(request=Input, responses={201: AlertData})
    @idempotent
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return _alert_answer(alert_raise(member=member_required(request), **data.validated_data), 201)


class AlertAckApi(APIView):
    """``POST /api/alerts/<id>/ack/`` — the Croix-Rouge has seen it."""

    permission_classes = [CentreOrCroixRouge]

    @extend_schema(request=None, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        alert = get_object_or_404(alerts_visible_to(member), pk=pk)
        return _alert_answer(alert_acknowledge(alert=alert, member=member))


class AlertTakeChargeApi(APIView):
    """``POST /api/alerts/<id>/take-charge/`` ``{"unit"?}`` — a Croix-Rouge unit goes (a field unit:
    itself, by default)."""

    permission_classes = [CentreOrCroixRouge]

    @extend_schema_serializer(component_name="AlertTakeCharge")
    class Input(serializers.Serializer):
        unit = serializers.IntegerField(required=False)

    @extend_schema(request=Input, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        alert = get_object_or_404(alerts_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        if "unit" in data.validated_data:
            unit = Unit.objects.select_related("agency").filter(pk=data.validated_data["unit"]).first()
        else:
            unit = unit_of(member)
        if unit is None:
            raise DomainError(gettext("Which unit takes charge? Choose one of your agency's units."),
                              field="unit")
        return _alert_answer(alert_take_charge(alert=alert, unit=unit, member=member))


class AlertCloseApi(APIView):
    """``POST /api/alerts/<id>/close/`` ``{"outcome", "note"?}``."""

    permission_classes = [CentreOrCroixRouge]

    @extend_schema_serializer(component_name="AlertClose")
    class Input(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=AlertOutcome.choices)
        note = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        alert = get_object_or_404(alerts_visible_to(member), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return _alert_answer(alert_close(alert=alert, member=member, **data.validated_data))


class AlertStatsApi(APIView):
    """``GET /api/alerts/stats/?year=`` — per month (local time): alerts raised, taken charge of,
    and the time to take charge (mean and median, minutes)."""

    permission_classes = [CentreOrCroixRouge]

    @extend_schema(parameters=[OpenApiParameter(
        "year", int, required=False, description="The year (1900 to 2999; this year by default).")],
        responses=OpenApiResponse(description="{year, months: [...]}"))
    def get(self, request: Request) -> Response:
        year = stats_year(request.query_params.get("year"))
        return Response({"year": year, "months": alert_stats(year=year)})
