"""REST endpoints of incidents and the main courante."""

from __future__ import annotations

import datetime as dt

from django.contrib.gis.geos import Polygon
from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_serializer
from pydantic import RootModel
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.api import GeoJsonPoint, parse_bbox
from cameras.models import Camera
from cameras.selectors import coverage_at
from config.errors import DomainError, NotAllowed
from incidents import selectors, services
from incidents.choices import (
    AlertCondition,
    AlertOutcome,
    AlertStatus,
    IncidentStatus,
    RadioPriority,
    UnitStatus,
)
from incidents.events import (
    AlertData,
    RadioMessageData,
    UnitData,
    alert_data,
    incident_data,
    journal_entry_data,
    radio_message_data,
    unit_data,
)
from incidents.models import Alert, Incident, JournalEntry, Nature, Net, RadioMessage, Unit
from incidents.selectors import incidents_visible_to, journal_visible_to
from partners.choices import Role
from partners.idempotency import idempotent
from partners.models import Agency, Member
from partners.permissions import IsCentreStaff
from partners.selectors import member_of, signed_in


class NatureOutput(serializers.ModelSerializer):
    class Meta:
        model = Nature
        fields = ["code", "label"]


# The outputs below describe the answers in the OpenAPI schema; the answers themselves are the
# pydantic shapes the events carry (``incidents.events``), so that a page can apply an event to
# what REST gave it. tests/incidents/test_shapes.py keeps the fields of both in step.


class JournalOutput(serializers.ModelSerializer):
    author = serializers.CharField(source="author.username")

    class Meta:
        model = JournalEntry
        fields = ["id", "at", "author", "kind", "text", "corrects"]

    def to_representation(self, instance: JournalEntry) -> dict:
        return journal_entry_data(instance).model_dump(mode="json")


class IncidentOutput(serializers.ModelSerializer):
    nature = serializers.CharField(source="nature.code")
    nature_label = serializers.CharField(source="nature.label")
    location = GeoJsonPoint()
    commune = serializers.CharField(source="commune.insee_code")
    commune_name = serializers.CharField(source="commune.name")
    shared_with: serializers.SlugRelatedField[Agency] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "reference", "nature", "nature_label", "priority", "status", "location",
                  "address", "commune", "commune_name", "description", "created_at", "version",
                  "shared_with"]

    def to_representation(self, instance: Incident) -> dict:
        return incident_data(instance).model_dump(mode="json")


def _time(raw: str | None, field: str) -> dt.datetime | None:
    if raw is None:
        return None
    try:  # well formed, yet not a date (February 30th): ValueError
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise DomainError(gettext("A date and time, e.g. 2026-11-26T21:00:00+01:00."), field=field)
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

    @extend_schema(parameters=[OpenApiParameter(name, str, required=False, description=text)
                               for name, text in (
        ("status", "Comma list of open, engaged, closed, cancelled."),
        ("nature", "Nature code (`/api/natures/`)."),
        ("commune", "INSEE code of the commune."),
        ("bbox", "min_lon,min_lat,max_lon,max_lat (WGS 84)."),
        ("since", "ISO 8601 date-time: created at or after."),
        ("until", "ISO 8601 date-time: created before."),
        ("q", "Text in the reference, description or address (first 200 characters)."),
    )] + [OpenApiParameter("limit", int, required=False, description="At most this many (100; 1 to 500).")],
        responses=IncidentOutput(many=True))
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
                raise DomainError(gettext("Unknown status: %(status)s.")
                                  % {"status": ", ".join(sorted(unknown))}, field="status")
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
            raise DomainError(gettext("A whole number."), field="limit") from exc
        return Response(IncidentOutput(qs.order_by("-created_at", "-id")[:limit], many=True).data)

    @extend_schema(request=Input, responses={201: IncidentOutput})
    @idempotent
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed(gettext("Only the centre's operators open incidents."))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_create(author=signed_in(request), **data.validated_data)
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
            raise NotAllowed(gettext("Only the centre's operators change incidents."))
        incident = get_object_or_404(Incident, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = services.incident_update(incident=incident, author=signed_in(request),
                                            **data.validated_data)
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
        incident = services.incident_transition(incident=incident, author=signed_in(request),
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
            raise DomainError(gettext("No such camera."), field="camera")
        incident = services.incident_attach_camera(incident=incident, camera=camera,
                                                   author=signed_in(request))
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
            # Only a line the author may see: a hidden one (a camera line for the Croix-Rouge)
            # is answered like one that does not exist.
            corrects = get_object_or_404(journal_visible_to(incident, member_of(request.user)),
                                         pk=data.validated_data["corrects"])
        entry = services.journal_append(incident=incident, author=signed_in(request),
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
        incident = services.incident_share(incident=incident, author=signed_in(request),
                                           agency_code=data.validated_data["agency"])
        return Response(IncidentOutput(incident).data, status=201)


class UnshareApi(APIView):
    """``DELETE /api/incidents/<id>/shares/<code>/``: stop sharing with that agency."""

    permission_classes = [IsCentreStaff]

    # 200 with the incident (drf-spectacular would say 204 for a DELETE).
    @extend_schema(responses={200: IncidentOutput})
    def delete(self, request: Request, pk: int, agency: str) -> Response:
        incident = get_object_or_404(Incident, pk=pk)
        incident = services.incident_unshare(incident=incident, author=signed_in(request), agency_code=agency)
        return Response(IncidentOutput(incident).data)


# --- Radio traffic, field units, Croix-Rouge alerts ------------------------------------
# The answers are the events' own data models, so a tablet reads the same shape over REST
# and over the socket; an alert carries nothing about cameras (AlertData).


class RadioMessageList(RootModel[list[RadioMessageData]]):
    pass


class UnitList(RootModel[list[UnitData]]):
    pass


class AlertList(RootModel[list[AlertData]]):
    pass


def _member(request: Request):
    member = member_of(request.user)
    if member is None:
        raise NotAllowed(gettext("This account is not a member of any service."))
    return member


class NetListApi(APIView):
    """``GET /api/radio/nets/`` — the nets the caller is on."""

    @extend_schema(responses=OpenApiResponse(description="[{id, kind, name, incident_id, unit_id}]"))
    def get(self, request: Request) -> Response:
        services.nets_ensure()
        nets = selectors.nets_listed_for(member_of(request.user))
        return Response([{"id": n.pk, "kind": n.kind, "name": n.name,
                          "agency": n.agency.code if n.agency is not None else None,
                          "incident_id": n.incident_id, "unit_id": n.unit_id} for n in nets])


def _after(raw: str | None) -> int:
    try:
        return max(int(raw or 0), 0)
    except ValueError as exc:
        raise DomainError(gettext("A whole number."), field="after") from exc


_AFTER = OpenApiParameter("after", int, required=False,
                          description="A message id: only the messages after it, oldest first.")


class NetMessagesApi(APIView):
    """``GET /api/radio/nets/<id>/messages/?after=<message id>`` — a net's traffic, oldest first
    (the last 200 when ``after`` is not given)."""

    @extend_schema(parameters=[_AFTER], responses=RadioMessageList)
    def get(self, request: Request, pk: int) -> Response:
        member = member_of(request.user)
        net = get_object_or_404(selectors.nets_visible_to(member), pk=pk)
        qs = (RadioMessage.objects.filter(net=net).select_related("net", "to_unit")
              .prefetch_related("receipts"))
        after = _after(request.query_params.get("after"))
        if after:
            messages = list(qs.filter(pk__gt=after).order_by("id")[:500])
        else:
            messages = list(qs.order_by("-id")[:200])[::-1]
        return Response([radio_message_data(m).model_dump(mode="json") for m in messages])


class RadioMessageListApi(APIView):
    """``GET /api/radio/messages/`` — recent traffic on the caller's nets (``?after=``, ``?pending=1``:
    those waiting for the caller's acknowledgement); ``POST`` sends one (``Idempotency-Key`` welcome)."""

    @extend_schema_serializer(component_name="RadioMessageSend")
    class Input(serializers.Serializer):
        net = serializers.IntegerField(required=False)
        to_unit = serializers.IntegerField(required=False)
        priority = serializers.ChoiceField(choices=RadioPriority.choices, default=RadioPriority.ROUTINE)
        text = serializers.CharField(max_length=services.RADIO_MAX_TEXT)
        location = GeoJsonPoint(required=False, allow_null=True)
        ack_required = serializers.BooleanField(default=False)

    @extend_schema(parameters=[_AFTER, OpenApiParameter(
        "pending", str, required=False, description="`1` or `true`: only those waiting for the caller's "
                                                     "acknowledgement.")], responses=RadioMessageList)
    def get(self, request: Request) -> Response:
        member = member_of(request.user)
        if request.query_params.get("pending") in {"1", "true"}:
            qs = selectors.radio_messages_pending_for(member)
        else:
            qs = selectors.radio_messages_visible_to(member)
        after = _after(request.query_params.get("after"))
        if after:
            messages = list(qs.filter(pk__gt=after).order_by("id")[:500])
        else:
            messages = list(qs.order_by("-id")[:100])[::-1]
        return Response([radio_message_data(m).model_dump(mode="json") for m in messages])

    @extend_schema(request=Input, responses={201: RadioMessageData})
    @idempotent
    def post(self, request: Request) -> Response:
        member = _member(request)
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
        message = services.radio_message_send(
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
        member = _member(request)
        message = get_object_or_404(selectors.radio_messages_visible_to(member), pk=pk)
        receipt = services.radio_acknowledge(message=message, member=member)
        by = receipt.acknowledged_by
        assert by is not None  # set with acknowledged_at, and protected
        return Response({"message": message.pk, "callsign": receipt.callsign,
                         "acknowledged_at": receipt.acknowledged_at,
                         "acknowledged_by": by.get_username()})


def _unit_answer(unit: Unit, status: int = 200) -> Response:
    return Response(unit_data(unit).model_dump(mode="json"), status=status)


def _agency(code: str | None):
    agency = Agency.objects.filter(code=code).first() if code else None
    if agency is None:
        raise services.UnknownAgency(gettext("No agency has the code %(code)s.") % {"code": code},
                                     field="agency")
    return agency


def _driver(username: str | None):
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

    @extend_schema_serializer(component_name="UnitCreate")
    class Input(serializers.Serializer):
        callsign = serializers.CharField(max_length=60)
        agency = serializers.CharField(max_length=64)
        member = serializers.CharField(max_length=150, required=False, allow_null=True, default=None)

    @extend_schema(parameters=[OpenApiParameter(
        "retired", str, required=False, description="`1` or `true`: the retired units (the centre).")],
        responses=UnitList)
    def get(self, request: Request) -> Response:
        retired = request.query_params.get("retired") in {"1", "true"}
        units = selectors.units_visible_to(member_of(request.user), retired=retired)
        return Response([unit_data(u).model_dump(mode="json") for u in units])

    @extend_schema(request=Input, responses={201: UnitData})
    def post(self, request: Request) -> Response:
        member = _member(request)
        if not selectors.may_manage_units(member):
            raise NotAllowed(gettext("Only the centre's supervisors and administrators manage field units."))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        unit = services.unit_create(by=member, callsign=values["callsign"], agency=_agency(values["agency"]),
                                    member=_driver(values["member"]))
        return _unit_answer(unit, 201)


class UnitDetailApi(APIView):
    """``PATCH /api/units/<id>/`` ``{"callsign"?, "agency"?, "member"? (username, null: take the
    tablet back), "retired"? (true: retire, false: reinstate)}`` — supervisors."""

    @extend_schema_serializer(component_name="UnitUpdate")
    class Input(serializers.Serializer):
        callsign = serializers.CharField(max_length=60, required=False)
        agency = serializers.CharField(max_length=64, required=False)
        member = serializers.CharField(max_length=150, required=False, allow_null=True)
        retired = serializers.BooleanField(required=False)

    @extend_schema(request=Input, responses=UnitData)
    def patch(self, request: Request, pk: int) -> Response:
        member = _member(request)
        # Refused before the id is looked up: the answer tells nothing about which units exist.
        if not selectors.may_manage_units(member):
            raise NotAllowed(gettext("Only the centre's supervisors and administrators manage field units."))
        unit = get_object_or_404(Unit, pk=pk)
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
        return _unit_answer(services.unit_update(by=member, unit=unit, **changes))


def _own_unit(request: Request, pk: int, *, centre_too: bool) -> tuple[Unit, object]:
    """The unit the caller may drive: its own (field unit), or any (the centre, when allowed)."""
    member = _member(request)
    if member.role == Role.FIELD_UNIT:  # the usual caller, its own unit: one query
        own = (Unit.objects.select_related("agency")
               .filter(pk=pk, member=member, retired_at__isnull=True).first())
        if own is not None:
            return own, member
    unit = get_object_or_404(selectors.units_visible_to(member), pk=pk)
    if (centre_too and member.is_centre_staff) or selectors.unit_of(member) == unit:
        return unit, member
    raise NotAllowed(gettext("Only the unit itself (or the centre) reports this."))


class UnitStatusApi(APIView):
    """``POST /api/units/<id>/status/`` ``{"status"}`` — the unit's tablet, or the centre."""

    @extend_schema_serializer(component_name="UnitStatusSet")
    class Input(serializers.Serializer):
        status = serializers.ChoiceField(choices=UnitStatus.choices)

    @extend_schema(request=Input, responses=UnitData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        unit, _ = _own_unit(request, pk, centre_too=True)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        unit = services.unit_status_set(unit=unit, status=data.validated_data["status"],
                                        author=signed_in(request))
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
        unit, _ = _own_unit(request, pk, centre_too=False)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        fix = services.unit_position_report(unit=unit, point=values["location"], at=values.get("at"),
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
        unit = get_object_or_404(Unit.objects.select_related("agency"), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        incident = Incident.objects.filter(pk=data.validated_data["incident"]).first()
        if incident is None:
            raise DomainError(gettext("No such incident."), field="incident")
        unit = services.unit_engage(unit=unit, incident=incident, author=signed_in(request))
        return Response(unit_data(unit).model_dump(mode="json"))


def _alert_answer(alert: Alert, status: int = 200) -> Response:
    return Response(alert_data(alert).model_dump(mode="json"), status=status)


def _alerts(request: Request):
    member = _member(request)
    if not (member.is_centre_staff or selectors.is_crf_member(member)):
        raise NotAllowed(gettext("Croix-Rouge alerts are for the centre and the Croix-Rouge."))
    return member, selectors.alerts_visible_to(member)


class AlertListApi(APIView):
    """``GET /api/alerts/`` (``?status=`` comma list; newest first); ``POST`` (the centre) raises one."""

    @extend_schema_serializer(component_name="AlertRaise")
    class Input(serializers.Serializer):
        location = GeoJsonPoint()
        address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        description = serializers.CharField(max_length=services.MAX_TEXT)
        people = serializers.IntegerField(min_value=1, max_value=100, default=1)
        conditions = serializers.ListField(child=serializers.ChoiceField(choices=AlertCondition.choices),
                                           required=False, default=list, max_length=10)

    @extend_schema(parameters=[OpenApiParameter(
        "status", str, required=False,
        description="Comma list of raised, acknowledged, taken_charge, closed.")], responses=AlertList)
    def get(self, request: Request) -> Response:
        _, qs = _alerts(request)
        if request.query_params.get("status"):
            statuses = request.query_params["status"].split(",")
            unknown = set(statuses) - set(AlertStatus.values)
            if unknown:
                raise DomainError(gettext("Unknown status: %(status)s.")
                                  % {"status": ", ".join(sorted(unknown))}, field="status")
            qs = qs.filter(status__in=statuses)
        return Response([alert_data(a).model_dump(mode="json") for a in qs.order_by("-raised_at")[:500]])

    @extend_schema(request=Input, responses={201: AlertData})
    @idempotent
    def post(self, request: Request) -> Response:
        if not IsCentreStaff().has_permission(request, self):
            raise NotAllowed(gettext("Only the centre's operators raise alerts."))
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return _alert_answer(services.alert_raise(author=signed_in(request), **data.validated_data), 201)


class AlertAckApi(APIView):
    """``POST /api/alerts/<id>/ack/`` — the Croix-Rouge has seen it."""

    @extend_schema(request=None, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member, qs = _alerts(request)
        alert = get_object_or_404(qs, pk=pk)
        return _alert_answer(services.alert_acknowledge(alert=alert, member=member))


class AlertTakeChargeApi(APIView):
    """``POST /api/alerts/<id>/take-charge/`` ``{"unit"?}`` — a Croix-Rouge unit goes (a field unit:
    itself, by default)."""

    @extend_schema_serializer(component_name="AlertTakeCharge")
    class Input(serializers.Serializer):
        unit = serializers.IntegerField(required=False)

    @extend_schema(request=Input, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member, qs = _alerts(request)
        alert = get_object_or_404(qs, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        if "unit" in data.validated_data:
            unit = Unit.objects.select_related("agency").filter(pk=data.validated_data["unit"]).first()
        else:
            unit = selectors.unit_of(member)
        if unit is None:
            raise DomainError(gettext("Which unit takes charge? Choose one of your agency's units."),
                              field="unit")
        return _alert_answer(services.alert_take_charge(alert=alert, unit=unit, member=member))


class AlertCloseApi(APIView):
    """``POST /api/alerts/<id>/close/`` ``{"outcome", "note"?}``."""

    @extend_schema_serializer(component_name="AlertClose")
    class Input(serializers.Serializer):
        outcome = serializers.ChoiceField(choices=AlertOutcome.choices)
        note = serializers.CharField(max_length=services.MAX_TEXT, required=False, allow_blank=True,
                                     default="")

    @extend_schema(request=Input, responses=AlertData)
    @idempotent
    def post(self, request: Request, pk: int) -> Response:
        member, qs = _alerts(request)
        alert = get_object_or_404(qs, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        return _alert_answer(services.alert_close(alert=alert, member=member, **data.validated_data))


MIN_STATS_YEAR, MAX_STATS_YEAR = 1900, 2999


class AlertStatsApi(APIView):
    """``GET /api/alerts/stats/?year=`` — per month (local time): alerts raised, taken charge of,
    and the time to take charge (mean and median, minutes)."""

    @extend_schema(parameters=[OpenApiParameter(
        "year", int, required=False, description="The year (1900 to 2999; this year by default).")],
        responses=OpenApiResponse(description="{year, months: [...]}"))
    def get(self, request: Request) -> Response:
        _alerts(request)
        try:
            year = int(request.query_params.get("year") or timezone.localdate().year)
        except ValueError as exc:
            raise DomainError(gettext("A year, e.g. 2026."), field="year") from exc
        if not MIN_STATS_YEAR <= year <= MAX_STATS_YEAR:  # datetime stops at year 9999
            raise DomainError(gettext("A year between %(min)d and %(max)d.")
                              % {"min": MIN_STATS_YEAR, "max": MAX_STATS_YEAR}, field="year")
        return Response({"year": year, "months": selectors.alert_stats(year=year)})
