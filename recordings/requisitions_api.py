"""REST endpoints of judicial requisitions (centre staff): record one (holds at once), follow
its extraction, download the files and the signed manifest, record the hand-over; supervisors
release holds. docs/recordings.md."""

from __future__ import annotations

import json
from pathlib import Path

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cameras.models import Camera
from config.downloads import handle_download
from config.errors import DomainError
from partners.auth import client_address
from partners.models import AuditRecord
from partners.permissions import IsCentreStaff, IsSupervisor
from partners.selectors import signed_in
from realtime.events import local_iso
from recordings import requisitions, tasks
from recordings.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE
from recordings.models import (
    REQUISITION_JOURNAL_TYPES,
    DestroyedObject,
    LegalHold,
    Requisition,
    RequisitionStatus,
)
from recordings.requisitions import FileDestroyed, StoreDown
from recordings.storage import ExportFiles, StoreUnavailable

# The service's field names → the API's (so that a 400 names the field the client sent).
_FIELDS = {"requesting_officer": "officer", "window_start": "start", "window_end": "end"}


class HoldOutput(serializers.ModelSerializer):
    camera_code = serializers.CharField(source="camera.code")
    # Null while the hold is in force: the schema says so, or generated clients refuse those holds.
    released_by = serializers.CharField(source="released_by.username", default=None, allow_null=True)

    class Meta:
        model = LegalHold
        fields = ["id", "requisition", "camera", "camera_code", "segment", "window_start", "window_end",
                  "created_at", "released_at", "released_by", "release_reason"]


def export_files(requisition: Requisition) -> list[dict]:
    """The files of a finished extraction (MP4s, then manifest, signature, public key), hashed;
    without those the retention sweep destroyed."""
    if requisition.status != RequisitionStatus.DONE or not requisition.export_dir:
        return []
    try:
        return _export_files(requisition)
    except StoreUnavailable as exc:
        raise StoreDown(_("The object store holding the extraction's files does not answer: "
                          "try again in a moment.")) from exc


def _export_files(requisition: Requisition) -> list[dict]:
    stored = ExportFiles(requisition.export_dir)
    try:
        manifest = json.loads(stored.read_bytes(MANIFEST))
    except FileNotFoundError:
        return []
    destroyed = {f["camera"] for f in destroyed_files(requisition)}
    files = []
    for entry in manifest.get("cameras", []):
        if entry.get("file") and entry["code"] not in destroyed:
            files.append({"name": entry["file"]["name"], "kind": "video", "camera": entry["code"],
                          "size": entry["file"]["size"], "sha256": entry["file"]["sha256"]})
    for name, kind in ((MANIFEST, "manifest"), (SIGNATURE, "signature"),
                       (PUBLIC_KEY, "public_key")):
        if stored.exists(name):
            files.append({"name": name, "kind": kind, "camera": None, "size": stored.size(name),
                          "sha256": stored.sha256(name)})
    for item in files:
        item["url"] = reverse("requisition-file", kwargs={"pk": requisition.pk, "name": item["name"]})
    return files


def destroyed_files(requisition: Requisition) -> list[dict]:
    """The files of the extraction the retention sweep destroyed (the register's lines)."""
    lines = [d for d in requisition.destructions.all() if d.object == DestroyedObject.EXTRACTION]
    return [{"camera": d.camera.code, "name": f"{d.camera.code}.mp4", "size": d.total_size,
             "destroyed_at": local_iso(d.destroyed_at)}
            for d in sorted(lines, key=lambda d: d.camera.code)]


class RequisitionOutput(serializers.ModelSerializer):
    officer = serializers.CharField(source="requesting_officer")
    start = serializers.DateTimeField(source="window_start")
    end = serializers.DateTimeField(source="window_end")
    cameras = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username")
    holds = HoldOutput(many=True)
    files = serializers.SerializerMethodField()
    destroyed_files = serializers.SerializerMethodField()
    handovers = serializers.SerializerMethodField()

    class Meta:
        model = Requisition
        fields = ["id", "officer", "service", "procedure_number", "legal_basis", "cameras", "start", "end",
                  "created_by", "created_at", "status", "progress", "error", "holds", "files",
                  "destroyed_files", "export_destroyed_at", "handovers"]

    def get_cameras(self, requisition: Requisition) -> list[dict]:
        return [{"id": c.pk, "code": c.code, "name": c.name} for c in requisition.cameras.order_by("code")]

    def get_files(self, requisition: Requisition) -> list[dict]:
        return export_files(requisition)

    def get_destroyed_files(self, requisition: Requisition) -> list[dict]:
        return destroyed_files(requisition)

    def get_handovers(self, requisition: Requisition) -> list[dict]:
        records = AuditRecord.objects.filter(action="handover", object_type__in=REQUISITION_JOURNAL_TYPES,
                                             object_id=str(requisition.pk)).order_by("at")
        return [{"at": local_iso(r.at), "by": r.actor_username, "recipient": r.reason} for r in records]


# destroyed_files() reads them, for the files list and the destroyed list alike: fetched once.
_DESTRUCTIONS = ("destructions__camera",)


def _queryset():
    return Requisition.objects.select_related("created_by").prefetch_related(
        "cameras", "holds__camera", "holds__released_by", *_DESTRUCTIONS)


def _cameras(ids: list[int], codes: list[str]) -> list[Camera]:
    found = {c.pk: c for c in Camera.objects.filter(pk__in=ids)}
    missing = [str(pk) for pk in ids if pk not in found]
    by_code = {c.code: c for c in Camera.objects.filter(code__in=codes)}
    missing += [code for code in codes if code not in by_code]
    if missing:
        raise DomainError(ngettext("Unknown camera: %(cameras)s.", "Unknown cameras: %(cameras)s.",
                                   len(missing)) % {"cameras": ", ".join(missing)}, field="cameras")
    cameras = [found[pk] for pk in ids] + [by_code[code] for code in codes]
    return list({c.pk: c for c in cameras}.values())


class RequisitionListApi(APIView):
    """``GET /api/streaming/requisitions/`` (newest first); ``POST`` records one: holds at once."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="RequisitionCreate")
    class Input(serializers.Serializer):
        officer = serializers.CharField(max_length=200)
        service = serializers.CharField(max_length=200)
        procedure_number = serializers.CharField(max_length=100)
        legal_basis = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
        cameras = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
        camera_codes = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                             default=list)
        start = serializers.DateTimeField()
        end = serializers.DateTimeField()

    @extend_schema(responses=RequisitionOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(RequisitionOutput(_queryset()[:200], many=True).data)

    @extend_schema(request=Input, responses={201: RequisitionOutput, 410: OpenApiResponse(
        description="`recording_gone`: the window's recording was destroyed (retention).")})
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if not v["cameras"] and not v["camera_codes"]:
            raise DomainError(_("Name at least one camera."), field="cameras")
        try:
            requisition = requisitions.requisition_create(
                created_by=signed_in(request), requesting_officer=v["officer"], service=v["service"],
                procedure_number=v["procedure_number"], legal_basis=v["legal_basis"],
                cameras=_cameras(v["cameras"], v["camera_codes"]), window_start=v["start"],
                window_end=v["end"], address=client_address(request._request))
        except DomainError as error:
            error.field = _FIELDS.get(error.field, error.field) if error.field else None
            raise
        return Response(RequisitionOutput(_queryset().get(pk=requisition.pk)).data, status=201)


class RequisitionDetailApi(APIView):
    """``GET /api/streaming/requisitions/<id>/``: status, progress, holds, files (SHA-256) once done."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses=RequisitionOutput)
    def get(self, request: Request, pk: int) -> Response:
        return Response(RequisitionOutput(get_object_or_404(_queryset(), pk=pk)).data)


class RequisitionExtractApi(APIView):
    """``POST .../<id>/extract/``: queue the extraction (202). 409 while running or once done."""

    permission_classes = [IsCentreStaff]

    @extend_schema(request=None, responses={202: RequisitionOutput})
    def post(self, request: Request, pk: int) -> Response:
        get_object_or_404(Requisition, pk=pk)
        requisitions.requisition_extraction_start(requisition_id=pk, queue=tasks.requisition_extract.delay)
        return Response(RequisitionOutput(_queryset().get(pk=pk)).data, status=202)


class RequisitionFileApi(APIView):
    """``GET .../<id>/files/<name>``: one file of the export (an MP4, the manifest, its signature,
    the public key). Centre staff only; only names the export lists."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY,
                              410: OpenApiResponse(description="`destroyed`: the file was destroyed "
                                                               "under the retention rule."),
                              503: OpenApiResponse(description="`unavailable`: the object store holding "
                                                               "the files does not answer.")})
    def get(self, request: Request, pk: int, name: str) -> FileResponse:
        requisition = get_object_or_404(Requisition.objects.prefetch_related(*_DESTRUCTIONS), pk=pk)
        if name not in {f["name"] for f in export_files(requisition)}:
            gone = {f["name"]: f["destroyed_at"] for f in destroyed_files(requisition)}
            extras = (MANIFEST, SIGNATURE, PUBLIC_KEY)
            if name in gone or (requisition.export_destroyed_at and name in extras):
                destroyed = gone.get(name) or requisition.export_destroyed_at
                moment = parse_datetime(destroyed) if isinstance(destroyed, str) else destroyed
                at = (formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment
                      else str(destroyed))
                raise FileDestroyed(_("%(name)s was destroyed on %(at)s under the retention rule: the hub "
                                      "keeps no copy.") % {"name": name, "at": at})
            raise Http404
        content_type = {".mp4": "video/mp4", ".json": "application/json"}.get(Path(name).suffix,
                                                                               "application/octet-stream")
        # A directory, or the object store read by ranges (``s3`` mode).
        try:
            handle = ExportFiles(requisition.export_dir).open(name)
        except StoreUnavailable as exc:
            raise StoreDown(_("The object store holding the extraction's files does not answer: "
                              "try again in a moment.")) from exc
        return handle_download(handle, filename=name, content_type=content_type)


class RequisitionHandoverApi(APIView):
    """``POST .../<id>/handover/`` ``{"recipient"?}``: the extraction was delivered (journalled)."""

    permission_classes = [IsCentreStaff]

    @extend_schema_serializer(component_name="RequisitionHandover")
    class Input(serializers.Serializer):
        recipient = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=RequisitionOutput)
    def post(self, request: Request, pk: int) -> Response:
        requisition = get_object_or_404(Requisition, pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        recipient = data.validated_data["recipient"].strip() or \
            f"{requisition.requesting_officer} ({requisition.service})"
        requisitions.requisition_handover(requisition=requisition, by=signed_in(request), recipient=recipient,
                                          address=client_address(request._request))
        return Response(RequisitionOutput(_queryset().get(pk=pk)).data)


class HoldReleaseApi(APIView):
    """``POST /api/streaming/holds/<id>/release/`` ``{"reason"}``: supervisors only, journalled."""

    permission_classes = [IsSupervisor]

    @extend_schema_serializer(component_name="HoldRelease")
    class Input(serializers.Serializer):
        # Blank or missing: the service says what is missing, in a sentence of its own.
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema(request=Input, responses=HoldOutput)
    def post(self, request: Request, pk: int) -> Response:
        hold = get_object_or_404(LegalHold.objects.select_related("requisition"), pk=pk)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        hold = requisitions.hold_release(hold=hold, by=signed_in(request),
                                         reason=data.validated_data["reason"],
                                         address=client_address(request._request))
        return Response(HoldOutput(hold).data)
