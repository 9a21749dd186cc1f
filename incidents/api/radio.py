"""``/api/radio/``: the nets the caller is on, their traffic, sending and acknowledging. The
answers are the events' own data models, so a tablet reads the same shape over REST and over
the socket."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from pydantic import RootModel
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint
from config.errors import DomainError
from incidents.api.common import member_required
from incidents.choices import RadioPriority
from incidents.events import RadioMessageData, radio_message_data
from incidents.models import Net, Unit
from incidents.selectors.radio import (
    net_messages,
    nets_listed_for,
    nets_visible_to,
    radio_message_list,
    radio_messages_visible_to,
)
from incidents.services.radio import RADIO_MAX_TEXT, nets_ensure, radio_acknowledge, radio_message_send
from partners.idempotency import idempotent
from partners.selectors import member_of


class RadioMessageList(RootModel[list[RadioMessageData]]):
    pass


class NetListApi(APIView):
    """``GET /api/radio/nets/`` — the nets the caller is on."""

    @extend_schema(responses=OpenApiResponse(description="[{id, kind, name, incident_id, unit_id}]"))
    def get(self, request: Request) -> Response:
        nets_ensure()
        nets = nets_listed_for(member_of(request.user))
        return Response([{"id": n.pk, "kind": n.kind, "name": n.name,
                          "agency": n.agency.code if n.agency is not None else None,
                          "incident_id": n.incident_id, "unit_id": n.unit_id} for n in nets])


_AFTER = OpenApiParameter("after", int, required=False,
                          description="A message id: only the messages after it, oldest first.")


class NetMessagesApi(APIView):
    """``GET /api/radio/nets/<id>/messages/?after=<message id>`` — a net's traffic, oldest first
    (the last 200 when ``after`` is not given)."""

    @extend_schema(parameters=[_AFTER], responses=RadioMessageList)
    def get(self, request: Request, pk: int) -> Response:
        net = get_object_or_404(nets_visible_to(member_of(request.user)), pk=pk)
        messages = net_messages(net=net, filters=request.query_params)
        return Response([radio_message_data(m).model_dump(mode="json") for m in messages])


class RadioMessageListApi(APIView):
    """``GET /api/radio/messages/`` — recent traffic on the caller's nets (``?after=``, ``?pending=1``:
    those waiting for the caller's acknowledgement); ``POST`` sends one (``Idempotency-Key`` welcome)."""

    @extend_schema_serializer(component_name="RadioMessageSend")
    class Input(serializers.Serializer):
        net = serializers.IntegerField(required=False)
        to_unit = serializers.IntegerField(required=False)
        priority = serializers.ChoiceField(choices=RadioPriority.choices, default=RadioPriority.ROUTINE)
        text = serializers.CharField(max_length=RADIO_MAX_TEXT)
        location = GeoJsonPoint(required=False, allow_null=True)
        ack_required = serializers.BooleanField(default=False)

    @extend_schema(parameters=[_AFTER, OpenApiParameter(
        "pending", str, required=False, description="`1` or `true`: only those waiting for the caller's "
                                                     "acknowledgement.")], responses=RadioMessageList)
    def get(self, request: Request) -> Response:
        messages = radio_message_list(member=member_of(request.user), filters=request.query_params)
        return Response([radio_message_data(m).model_dump(mode="json") for m in messages])

    @extend_schema(request=Input, responses={201: RadioMessageData})
    @idempotent
    def post(self, request: Request) -> Response:
        member = member_required(request)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        net = to_unit = None
        if values.get("net") is not None:
            net = Net.objects.filter(pk=values["net"]).first()
            if net is None:
                raise DomainError(gettext("No such net."), field="net")
        if values.get("to_unit") is not None:
            to_unit = Unit.objects.filter(pk=values["to_unit"]).first()
            if to_unit is None:
                raise DomainError(gettext("No such unit."), field="to_unit")
        message = radio_message_send(
            member=member, net=net, to_unit=to_unit, priority=values["priority"], text=values["text"],
            location=values.get("location"), ack_required=values["ack_required"])
        return Response(radio_message_data(message).model_dump(mode="json"), status=201)


class RadioAckApi(APIView):
    """``POST /api/radio/messages/<id>/ack/`` — acknowledge for the caller's station; once per
    recipient (again: the same answer); 403 for someone who is not a recipient."""

    @extend_schema(request=None,
                   responses=OpenApiResponse(description="{message, callsign, acknowledged_at}"))
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member = member_required(request)
        message = get_object_or_404(radio_messages_visible_to(member), pk=pk)
        receipt = radio_acknowledge(message=message, member=member)
        by = receipt.acknowledged_by
        assert by is not None  # set with acknowledged_at, and protected
        return Response({"message": message.pk, "callsign": receipt.callsign,
                         "acknowledged_at": receipt.acknowledged_at,
                         "acknowledged_by": by.get_username()})
