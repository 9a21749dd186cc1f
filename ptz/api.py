"""``/api/ptz/``: the state of a PTZ camera, its lease, and the commands (centre staff only)."""

from __future__ import annotations

import logging
import threading

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera, PtzPreset
from incidents.models import Incident
from partners.auth import client_address
from partners.permissions import IsCentreStaff
from partners.selectors import signed_in
from ptz import services
from ptz.models import PtzPosition
from ptz.runtime import get_runtime
from realtime.events import local_iso

log = logging.getLogger(__name__)


def _position(position: PtzPosition | None) -> dict | None:
    if position is None:
        return None
    return {"pan": position.pan, "tilt": position.tilt, "zoom": position.zoom, "preset": position.preset,
            "moving": position.moving, "reachable": position.reachable,
            "updated_at": local_iso(position.updated_at)}


def ptz_state(camera: Camera) -> dict:
    """What the console shows of a PTZ camera: who drives it, where it is, its presets."""
    lease = services.active_lease(camera)
    position = PtzPosition.objects.filter(camera=camera).first()
    return {
        "camera": camera.pk, "code": camera.code, "name": camera.name,
        "holder": services.holder_data(lease.holder).model_dump() if lease else None,
        "incident": lease.incident_id if lease else None,
        "position": _position(position),
        "presets": [{"number": n, "name": name} for n, name in
                    PtzPreset.objects.filter(camera=camera).values_list("number", "name")],
    }


def _warm_up(camera: Camera) -> None:
    """Open the hub's ONVIF client to the camera (its capabilities read: about a second, WSDLs
    loaded) while the operator who just took it reaches for the joystick, so that the first
    move does not wait for it. In the background; a camera that does not answer is said so
    by the first command."""
    conf = services.conf_of(services.endpoint_of(camera))

    def run() -> None:
        try:
            get_runtime().call(conf, lambda driver: driver.capabilities())
        except Exception as exc:  # noqa: BLE001 - the first command reports it to the operator
            log.info("PTZ camera %s: warm-up failed: %s", camera.code, exc)

    threading.Thread(target=run, name=f"ptz-warm-{camera.pk}", daemon=True).start()


def _ptz_camera(pk: int) -> Camera:
    """The camera and its ONVIF endpoint, in one query (the services reuse the endpoint)."""
    camera = get_object_or_404(Camera.objects.select_related("ptz_endpoint"), pk=pk)
    services.endpoint_of(camera)
    return camera


class PtzStateApi(APIView):
    """``GET /api/ptz/cameras/<id>/`` — holder, position, presets (400 ``not_ptz`` otherwise)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        return Response(ptz_state(_ptz_camera(pk)))


class LeaseApi(APIView):
    """``POST /api/ptz/cameras/<id>/lease/`` ``{"incident"?, "take_over"?, "reason"?}`` takes control
    (409 ``lease_held`` names the holder; ``take_over`` for a supervisor or a higher-priority
    incident); ``DELETE`` hands it back."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="PtzLeaseTake")
    class Input(serializers.Serializer):
        incident = serializers.IntegerField(required=False, allow_null=True)
        take_over = serializers.BooleanField(required=False, default=False)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    @extend_schema(request=Input, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = None
        if data.validated_data.get("incident") is not None:
            incident = get_object_or_404(Incident, pk=data.validated_data["incident"])
        try:
            services.lease_take(camera=camera, by=signed_in(request), incident=incident,
                                take_over=data.validated_data["take_over"],
                                reason=data.validated_data["reason"],
                                address=client_address(request._request))
        except services.LeaseHeld as exc:
            return Response({"error": exc.code, "detail": exc.detail, "holder": exc.holder.model_dump()},
                            status=exc.status_code)
        _warm_up(camera)
        return Response(ptz_state(camera))

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def delete(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        services.lease_release(camera=camera, by=signed_in(request))
        return Response(ptz_state(camera))


class MoveApi(APIView):
    """``POST /api/ptz/cameras/<id>/move/`` ``{"pan", "tilt", "zoom"}`` — joystick speeds -1..1 (all
    0 stops): ``{"result": "sent" | "coalesced"}`` (coalesced: a later command replaced it)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="PtzMove")
    class Input(serializers.Serializer):
        pan = serializers.FloatField(min_value=-1, max_value=1)
        tilt = serializers.FloatField(min_value=-1, max_value=1)
        zoom = serializers.FloatField(min_value=-1, max_value=1, required=False, default=0.0)

    @extend_schema(request=Input, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = services.ptz_joystick(camera=camera, by=signed_in(request),
                                        address=client_address(request._request), **data.validated_data)
        return Response({"result": outcome.result, "position": _position(outcome.position)})


class PresetApi(APIView):
    """``POST /api/ptz/cameras/<id>/preset/`` ``{"preset": n}`` — recall a preset; answers once
    the camera is read back there (its masks then apply)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="PtzPresetRecall")
    class Input(serializers.Serializer):
        preset = serializers.IntegerField()

    @extend_schema(request=Input, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        position = services.ptz_goto_preset(camera=camera, by=signed_in(request),
                                            number=data.validated_data["preset"],
                                            address=client_address(request._request))
        return Response({"position": _position(position)})


class HomeApi(APIView):
    """``POST /api/ptz/cameras/<id>/home/`` — back to the home position."""

    permission_classes = [IsCentreStaff]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        position = services.ptz_home(camera=camera, by=signed_in(request),
                                     address=client_address(request._request))
        return Response({"position": _position(position)})


class AimApi(APIView):
    """``POST /api/ptz/cameras/<id>/aim/`` ``{"incident": id}`` — turn toward the incident (a preset
    that sees it, else pan from the bearing and zoom from the distance), read back."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="PtzAim")
    class Input(serializers.Serializer):
        incident = serializers.IntegerField()

    @extend_schema(request=Input, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = _ptz_camera(pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = get_object_or_404(Incident, pk=data.validated_data["incident"])
        result = services.ptz_aim(camera=camera, by=signed_in(request), incident=incident,
                                  address=client_address(request._request))
        return Response({"method": result.method, "preset": result.preset, "bearing": result.bearing,
                         "distance_m": result.distance_m, "reached": result.reached,
                         "position": _position(result.position)})
