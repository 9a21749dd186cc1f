"""REST endpoints of the video handoff: grants, cameras' video facts, the video walls, the WHEP endpoint
of live video, presets, mask lifts."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, cast

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera, PrivacyMask
from config.errors import DomainError, NotAllowed
from incidents.models import Incident
from partners.auth import client_address
from partners.models import ApiToken
from partners.permissions import IsCentreStaff, IsSupervisor
from partners.selectors import member_of, signed_in
from streaming import services
from streaming.models import Grant, GrantEnd, MaskLift
from streaming.pipeline import CENTRE, CameraFeed
from streaming.runtime import Viewer, current_runtime, get_runtime
from streaming.selectors import (
    active_grants,
    camera_by_reference,
    camera_video_facts,
    grant_end,
    grant_viewers,
    grants_visible_to,
    masks_now,
    refusal_text,
    video_refusal,
    viewing_ended,
    viewing_grant,
    wall_layout,
    wall_named,
    walls,
)
from streaming.video_nodes import hop_count, this_node, whep_route, with_node
from streaming.whep import (
    MAX_OFFER_BYTES,
    SDP_CONTENT_TYPE,
    BadOffer,
    UnsupportedMediaType,
    VideoNotPermitted,
    validate_offer,
)


class GrantViewerOutput(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    since = serializers.DateTimeField()


class GrantOutput(serializers.ModelSerializer):
    """A grant, whether it lets images through now (``active``), and when it does not, since when and
    why (``ended_at``, ``end_reason``: revoked, expired, incident_closed, unshared); ``viewers``: who
    watches it now (from ``context["viewers"]``, else read)."""

    camera_code = serializers.CharField(source="camera.code")
    camera_name = serializers.CharField(source="camera.name")
    agency = serializers.CharField(source="agency.code")
    agency_name = serializers.CharField(source="agency.name")
    incident_reference = serializers.CharField(source="incident.reference")
    granted_by = serializers.CharField(source="granted_by.username")
    active = serializers.SerializerMethodField()
    ended_at = serializers.SerializerMethodField()
    end_reason = serializers.SerializerMethodField()
    viewers = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ["id", "camera", "camera_code", "camera_name", "agency", "agency_name", "incident",
                  "incident_reference", "reason", "granted_by", "created_at", "expires_at", "revoked_at",
                  "revoke_reason", "active", "ended_at", "end_reason", "viewers"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ends: dict[int, tuple[str, dt.datetime] | None] = {}  # grant_end, once per grant

    def _end(self, grant: Grant) -> tuple[str, dt.datetime] | None:
        if grant.pk not in self._ends:
            self._ends[grant.pk] = grant_end(grant)
        return self._ends[grant.pk]

    def get_active(self, grant: Grant) -> bool:
        return self._end(grant) is None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_ended_at(self, grant: Grant) -> str | None:
        end = self._end(grant)
        return serializers.DateTimeField().to_representation(end[1]) if end else None

    @extend_schema_field(serializers.ChoiceField(choices=GrantEnd.choices, allow_null=True))
    def get_end_reason(self, grant: Grant) -> str | None:
        end = self._end(grant)
        return str(end[0]) if end else None

    @extend_schema_field(GrantViewerOutput(many=True))
    def get_viewers(self, grant: Grant) -> list[dict]:
        viewers = self.context.get("viewers")
        if viewers is None:
            viewers = grant_viewers([grant.pk])
        # many=True: a list (the stubs type every serializer's data as a dict).
        return cast(list[dict], GrantViewerOutput(viewers.get(grant.pk, []), many=True).data)


def grant_output(grants, *, many: bool = False) -> dict | list:
    """Grants with their viewers read in one query."""
    items = list(grants) if many else [grants]
    data = GrantOutput(items, many=True, context={"viewers": grant_viewers([g.pk for g in items])}).data
    return data if many else data[0]


def _whole_number(raw: str, field: str) -> int:
    if not raw.isdigit():
        raise DomainError(_("A whole number."), field=field)
    return int(raw)


class GrantListApi(APIView):
    """``GET /api/streaming/grants/`` (``?active=1``, ``?incident=<id>``): the grants the caller may
    see, newest first; ``POST`` (centre staff) shares a camera with a service the incident is shared
    with (*renvoi d'images*)."""

    @extend_schema_serializer(component_name="GrantCreate")
    class Input(serializers.Serializer):
        camera = serializers.IntegerField()
        agency = serializers.CharField(max_length=64)
        incident = serializers.IntegerField()
        minutes = serializers.IntegerField(required=False)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(parameters=[OpenApiParameter("active", bool, required=False),
                               OpenApiParameter("incident", int, required=False)],
                   responses=GrantOutput(many=True))
    def get(self, request: Request) -> Response:
        qs = grants_visible_to(member_of(request.user))
        if request.query_params.get("active") in {"1", "true"}:
            qs = qs.filter(pk__in=active_grants().values("pk"))
        incident = request.query_params.get("incident", "").strip()
        if incident:
            qs = qs.filter(incident_id=_whole_number(incident, "incident"))
        return Response(grant_output(qs[:500], many=True))

    @extend_schema(request=Input, responses={201: GrantOutput})
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed(_("Only the centre's operators share camera images."))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        camera = Camera.objects.filter(pk=data.validated_data["camera"]).first()
        if camera is None:
            raise DomainError(_("No such camera."), field="camera")
        incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
        if incident is None:
            raise DomainError(_("No such incident."), field="incident")
        grant = services.grant_create(camera=camera, agency_code=data.validated_data["agency"],
                                      incident=incident, granted_by=signed_in(request),
                                      minutes=data.validated_data.get("minutes"),
                                      reason=data.validated_data["reason"],
                                      address=client_address(request._request))
        return Response(grant_output(grant), status=201)


class GrantRevokeApi(APIView):
    """``POST /api/streaming/grants/<id>/revoke/`` ``{"reason"?}`` (centre staff): the agency's screens
    are told, with the reason."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="GrantRevoke")
    class Input(serializers.Serializer):
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=GrantOutput)
    def post(self, request: Request, pk: int) -> Response:
        grant = get_object_or_404(Grant, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_revoke(grant=grant, by=signed_in(request),
                                      reason=data.validated_data["reason"],
                                      address=client_address(request._request))
        return Response(grant_output(grant))


class GrantExtendApi(APIView):
    """``POST /api/streaming/grants/<id>/extend/`` ``{"minutes"}`` (centre staff): the grant ends
    ``minutes`` from now."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="GrantExtend")
    class Input(serializers.Serializer):
        minutes = serializers.IntegerField()

    @extend_schema(request=Input, responses=GrantOutput)
    def post(self, request: Request, pk: int) -> Response:
        grant = get_object_or_404(Grant, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        grant = services.grant_extend(grant=grant, by=signed_in(request),
                                      minutes=data.validated_data["minutes"],
                                      address=client_address(request._request))
        return Response(grant_output(grant))


class CameraVideoFactsApi(APIView):
    """``GET /api/streaming/cameras/?ids=12,40`` (centre staff, 50 ids at most): for each camera,
    whether an authorisation is in force and until when per service (``authorisation_ends``: a grant
    cannot outlast it), and whether it is recorded (a capture can be taken)."""

    permission_classes = [IsCentreStaff]
    MAX_IDS = 50

    @extend_schema(parameters=[OpenApiParameter("ids", str, description="comma-separated camera ids")],
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        raw = [part.strip() for part in request.query_params.get("ids", "").split(",") if part.strip()]
        ids = [_whole_number(part, "ids") for part in raw]
        if len(ids) > self.MAX_IDS:
            raise DomainError(_("At most %(count)d cameras at once.") % {"count": self.MAX_IDS}, field="ids")
        return Response({"grant_default_minutes": settings.HUB_GRANT_DEFAULT_MINUTES,
                         "grant_max_minutes": settings.HUB_GRANT_MAX_MINUTES,
                         "cameras": camera_video_facts(ids)})


class WallTileInput(serializers.Serializer):
    position = serializers.IntegerField()
    # An id (12) or a code ("95014-s001-ptz"); null empties the tile.
    camera = serializers.CharField(max_length=64, allow_null=True)


class WallTileOutput(serializers.Serializer):
    position = serializers.IntegerField()
    camera_id = serializers.IntegerField()
    camera_code = serializers.CharField()
    camera_name = serializers.CharField()
    set_by = serializers.CharField()
    set_at = serializers.DateTimeField()


class WallLayoutOutput(serializers.Serializer):
    """What ``streaming.selectors.wall_layout`` answers (the schema of the walls' answers)."""

    name = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    columns = serializers.IntegerField()
    rows = serializers.IntegerField()
    tiles = WallTileOutput(many=True)
    # Null for a wall nobody has changed yet.
    updated_at = serializers.DateTimeField(allow_null=True)


class WallListApi(APIView):
    """``GET /api/streaming/walls/`` (centre staff): the video walls and what each tile shows."""

    permission_classes = [IsCentreStaff]

    @extend_schema(operation_id="streaming_walls_list", responses={200: WallLayoutOutput(many=True)})
    def get(self, request: Request) -> Response:
        return Response([wall_layout(wall) for wall in walls()])


class WallApi(APIView):
    """``GET /api/streaming/walls/<name>/`` (centre staff): a wall's layout;
    ``POST /api/streaming/walls/<name>/tiles/`` ``{"position", "camera"}`` shows a camera (id or
    code; null: nothing) in a tile, and every screen of the wall follows (``wall.updated``)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={200: WallLayoutOutput})
    def get(self, request: Request, name: str) -> Response:
        wall = wall_named(name)
        if wall is None:
            raise Http404
        return Response(wall_layout(wall))


class WallTileApi(APIView):
    permission_classes = [IsCentreStaff]

    @extend_schema(request=WallTileInput, responses={200: WallLayoutOutput})
    def post(self, request: Request, name: str) -> Response:
        data = WallTileInput(data=request.data)
        data.is_valid(raise_exception=True)
        reference = data.validated_data["camera"]
        camera = None
        if reference is not None and reference.strip():
            camera = camera_by_reference(reference)
            if camera is None:
                raise DomainError(_("No camera has the code or number %(reference)s.")
                                  % {"reference": reference}, field="camera")
        wall = services.wall_tile_set(wall_name=name, position=data.validated_data["position"],
                                      camera=camera, by=signed_in(request))
        return Response(wall_layout(wall))


# --- Live video: WHEP (draft-ietf-wish-whep), the pipelines of this process, presets, mask lifts.


class SdpRenderer(BaseRenderer):
    """Answers in ``application/sdp`` when the client asks for it; errors stay JSON."""

    media_type = SDP_CONTENT_TYPE
    format = "sdp"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str | bytes):
            return data
        return json.dumps(data, ensure_ascii=False)


class SdpErrorsAsJson:
    """Errors of a WHEP view are JSON (``{"error", "detail"}``), whatever ``Accept`` asked:
    the player reads why it was refused from them."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
        return response


class SdpParser(BaseParser):
    """The raw offer, bounded: at most one byte past the limit is read (the view refuses it)."""

    media_type = SDP_CONTENT_TYPE

    # request.data is whatever the parser gives; the stubs want a mapping.
    def parse(self, stream, media_type=None, parser_context=None) -> bytes:  # type: ignore[override]
        return stream.read(MAX_OFFER_BYTES + 1) if stream is not None else b""


def _credential(request: Request) -> tuple[str, str]:
    """What the viewing was opened with, for the watchdog to check it still stands."""
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(header) == 2 and header[0].lower() == "bearer":
        return "token", ApiToken.digest_of(header[1])
    key = getattr(request._request, "session", None) and request._request.session.session_key
    return ("session", key) if key else ("none", "")


class WhepApi(SdpErrorsAsJson, APIView):
    """``POST /api/streaming/cameras/<id>/whep`` — an SDP offer in, 201 with the answer and a
    ``Location`` to DELETE to hang up (WHEP). Operators; partner agents under an active grant
    (``camera_view_denial``). Errors: 400 bad offer, 403 ``video_not_allowed`` (outside the
    centre, for a missing camera too: ``video_refusal``), 404 unknown camera (the centre),
    415 not ``application/sdp``, 503 source down or too many viewers.

    On a video node (``streaming.video_nodes``): 307 to the node that holds the camera
    (``?node=HOLDER&hop=N``), 503 ``video_route_loop`` when it was sent on too many times."""

    renderer_classes = [JSONRenderer, SdpRenderer]
    parser_classes = [SdpParser]

    @extend_schema(request={SDP_CONTENT_TYPE: OpenApiTypes.STR},
                   parameters=[OpenApiParameter("node", str, required=False,
                                                description="the video node that holds the camera"),
                               OpenApiParameter("hop", int, required=False,
                                                description="times the offer was sent on already")],
                   responses={(201, SDP_CONTENT_TYPE): OpenApiTypes.STR, 307: None, 400: None, 403: None,
                              404: None, 503: None})
    def post(self, request: Request, pk: int) -> HttpResponse:
        raw = request._request
        try:
            length = int(raw.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_OFFER_BYTES:
            raise BadOffer(_("An SDP offer is at most %(bytes)d bytes.") % {"bytes": MAX_OFFER_BYTES})
        if (request.content_type or "").split(";")[0].strip().lower() != SDP_CONTENT_TYPE:
            raise UnsupportedMediaType(_("The body must be an SDP offer (%(type)s).")
                                       % {"type": SDP_CONTENT_TYPE})
        camera = Camera.objects.filter(pk=pk).first()
        member = member_of(request.user)
        if camera is None and member is not None and member.is_centre_staff:
            raise Http404
        denial = video_refusal(member, camera)  # a missing camera is refused like a forbidden one
        if denial is not None:
            raise VideoNotPermitted(refusal_text(denial))
        assert camera is not None
        body = request.data  # SdpParser: bytes, bounded (a session's CSRF check may have read it)
        offer = validate_offer(body if isinstance(body, bytes) else b"")
        hop = hop_count(request.query_params.get("hop", ""))
        holder = whep_route(camera.pk, asked=request.query_params.get("node", "").strip(), hop=hop)
        if holder is not None:
            # Another video node holds the camera's pipeline: the browser posts the same offer
            # there (a 307 keeps the method and the body), HAProxy routing on ``node``.
            response = HttpResponse(status=307)
            response["Location"] = with_node(reverse("whep", kwargs={"pk": camera.pk}), holder, hop=hop + 1)
            response["Cache-Control"] = "no-store"
            return response
        assert member is not None
        grant = viewing_grant(member, camera)
        partner = not member.is_centre_staff
        user = signed_in(request)
        viewer = Viewer(user_id=user.pk, username=user.get_username(),
                        grant_id=grant.pk if grant else None, credential=_credential(request),
                        address=client_address(raw),
                        output_key=f"agency:{member.agency.code}" if partner else CENTRE,
                        output_label=member.agency.name if partner else "")
        feed = CameraFeed(camera_id=camera.pk, code=camera.code, name=camera.name,
                          stream_uri=camera.stream_uri or "synthetic:")
        masks = masks_now(camera.pk)
        runtime = get_runtime()
        runtime.admit()
        session = runtime.open_viewing(feed=feed, viewer=viewer, offer=offer, masks=masks,
                                       start_timeout=settings.HUB_VIDEO_START_TIMEOUT_SECONDS)
        try:
            services.viewing_start(viewer=user, camera=camera, grant=grant, session=session.id,
                                   address=viewer.address, variant=viewer.output_key)
        except Exception:
            runtime.end_viewing(session.id, "journal_failed")
            raise
        if not runtime.mark_journalled(session):
            runtime.journal_end(session)  # cut before we could answer: journal its end too
        response = HttpResponse(session.answer, status=201, content_type=SDP_CONTENT_TYPE)
        location = reverse("whep-session", kwargs={"session_id": session.id})
        # Named after this node, so that the DELETE reaches the process that holds the session.
        response["Location"] = with_node(location, this_node()) if this_node() else location
        response["Cache-Control"] = "no-store"
        return response


class WhepSessionApi(SdpErrorsAsJson, APIView):
    """``DELETE /api/streaming/whep/<session>`` — hang up (204). Only the viewer who opened it;
    anyone else gets the answer of a session that does not exist. On a video node the URL carries
    ``?node=NAME``, for HAProxy to send it to the process that holds the session.

    Idempotent: a session of this viewer that ended already (the player's own close, a cut grant,
    a lost peer, an earlier DELETE) answers 204 too, and its end is journalled once, with the
    reason it really ended for. WHEP asks a DELETE to leave the session terminated and says
    nothing of one that arrives after the end; HTTP makes DELETE idempotent, and a player that
    hangs up as it leaves (keepalive) cannot tell which came first, so a 404 would only be a
    false error in its log."""

    renderer_classes = [JSONRenderer, SdpRenderer]

    @extend_schema(responses={204: None, 404: None})
    def delete(self, request: Request, session_id: str) -> Response:
        user_id = signed_in(request).pk
        runtime = current_runtime()
        session = runtime.session(session_id) if runtime else None
        if session is not None and session.viewer.user_id == user_id:
            assert runtime is not None
            runtime.end_viewing(session_id, "hangup")
            return Response(status=204)
        if session is None and (
                (runtime is not None and runtime.ended_viewer(session_id) == user_id)
                or viewing_ended(session_id, user_id)):
            return Response(status=204)  # ended already: nothing more to end, nor to journal
        raise Http404


class PipelinesApi(APIView):
    """``GET /api/streaming/pipelines/`` — the cameras this process streams, their viewers,
    passthrough or transcoding, counters (centre staff)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        runtime = current_runtime()
        return Response(runtime.stats() if runtime else {"viewers": 0, "pending": 0, "pipelines": []})


class PresetApi(APIView):
    """``POST /api/streaming/cameras/<id>/preset/`` ``{"preset": n | null}`` — the PTZ camera is
    now in this preset: its masks apply (centre staff; the PTZ driver's job once there is one)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="PresetReport")
    class Input(serializers.Serializer):
        preset = serializers.IntegerField(allow_null=True)

    @extend_schema(request=Input, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request, pk: int) -> Response:
        camera = get_object_or_404(Camera, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        number = services.camera_preset_report(camera=camera, number=data.validated_data["preset"])
        return Response({"camera": camera.pk, "preset": number})


class MaskLiftOutput(serializers.ModelSerializer):
    camera = serializers.IntegerField(source="mask.camera_id")
    lifted_by = serializers.CharField(source="lifted_by.username")
    active = serializers.SerializerMethodField()

    class Meta:
        model = MaskLift
        fields = ["id", "mask", "camera", "reason", "lifted_by", "lifted_at", "until", "ended_at", "active"]

    def get_active(self, lift: MaskLift) -> bool:
        return lift.is_active()


class MaskLiftApi(APIView):
    """``POST /api/streaming/masks/<mask_id>/lift/`` ``{"minutes", "reason"}`` — supervisors lift a
    liftable mask on the centre's screens for a while (journalled; partners stay masked)."""

    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="MaskLiftCreate")
    class Input(serializers.Serializer):
        minutes = serializers.IntegerField()
        reason = serializers.CharField(max_length=500)

    @extend_schema(request=Input, responses={201: MaskLiftOutput})
    def post(self, request: Request, mask_id: int) -> Response:
        mask = get_object_or_404(PrivacyMask.objects.select_related("camera"), pk=mask_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        lift = services.mask_lift(mask=mask, by=signed_in(request), address=client_address(request._request),
                                  **data.validated_data)
        return Response(MaskLiftOutput(lift).data, status=201)


class MaskLiftEndApi(APIView):
    """``POST /api/streaming/mask-lifts/<id>/end/`` — put the mask back now (supervisors)."""

    permission_classes = [IsSupervisor]

    @extend_schema(request=None, responses=MaskLiftOutput)
    def post(self, request: Request, pk: int) -> Response:
        lift = get_object_or_404(MaskLift.objects.select_related("mask__camera", "lifted_by"), pk=pk)
        lift = services.mask_lift_end(lift=lift, by=signed_in(request),
                                      address=client_address(request._request))
        return Response(MaskLiftOutput(lift).data)
