"""Endpoints of the partners app: tokens for programs, the access journal for auditors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.downloads import csv_download, reject_nul_bytes
from config.errors import DomainError
from partners.audit import Action, audit
from partners.auth import client_address, credentials_check
from partners.models import AuditRecord
from partners.permissions import IsAuditor
from partners.selectors import signed_in
from partners.services import api_token_issue, api_token_revoke


class TokenObtainApi(APIView):
    """``POST /api/auth/token/`` — exchange a username and password (and, for partner agents,
    supervisors and admins, a one-time code ``otp``) for a bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="TokenObtain")
    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=256, trim_whitespace=False)
        otp = serializers.CharField(max_length=32, required=False)

    @extend_schema(request=Input, responses=inline_serializer(
        "TokenOutput", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}))
    def post(self, request: Request) -> Response:
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        user, _ = credentials_check(request=request._request, **data.validated_data)
        raw, token = api_token_issue(user=user)
        audit(action=Action.TOKEN_ISSUED, actor=user, address=client_address(request._request),
              object_type="token", object_id=token.pk)
        return Response({"token": raw, "expires_at": token.expires_at}, status=201)


class TokenRevokeApi(APIView):
    """``POST /api/auth/token/revoke/`` — revoke the bearer token used for this call."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        header = request.META.get("HTTP_AUTHORIZATION", "").split()
        if len(header) == 2 and header[0].lower() == "bearer" and api_token_revoke(raw=header[1]):
            audit(action=Action.TOKEN_REVOKED, actor=signed_in(request),
                  address=client_address(request._request))
        return Response(status=204)


class AuditOutput(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_username")
    agency = serializers.CharField(source="agency_code")
    address = serializers.IPAddressField(allow_null=True)
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    reason = serializers.CharField()
    details = serializers.JSONField()


def audit_search(params: Mapping[str, str]) -> QuerySet[AuditRecord]:
    """Filters: ``actor``, ``agency``, ``action`` (comma list), ``object_type``, ``object_id``,
    ``since``/``until`` (ISO 8601), ``q`` (reason). Every parameter is checked here, before any
    query runs (an export must fail before its first byte, not inside the stream)."""
    reject_nul_bytes(params, ("actor", "agency", "action", "object_type", "object_id", "since", "until",
                              "q", "export", "limit"))
    qs = AuditRecord.objects.order_by("-id")
    for param, lookup in (("actor", "actor_username"), ("agency", "agency_code"),
                          ("object_type", "object_type"), ("object_id", "object_id")):
        if params.get(param):
            qs = qs.filter(**{lookup: params[param]})
    if params.get("action"):
        qs = qs.filter(action__in=params["action"].split(","))
    for param, lookup in (("since", "at__gte"), ("until", "at__lt")):
        if params.get(param):
            try:
                value = parse_datetime(params[param])
            except ValueError:  # well formed, not a date (February 30th)
                value = None
            if value is None:
                raise DomainError(gettext("An ISO 8601 date and time."), field=param)
            qs = qs.filter(**{lookup: value})
    if params.get("q"):
        qs = qs.filter(reason__icontains=params["q"][:200])
    return qs


class AuditListApi(APIView):
    """``GET /api/audit/`` — the access journal, newest first (auditors). ``?export=csv`` downloads it."""

    permission_classes = [IsAuditor]

    @extend_schema(parameters=[OpenApiParameter(name, str, required=False, description=text)
                               for name, text in (
        ("actor", "Username of who acted."),
        ("agency", "Agency code."),
        ("action", "Comma list of actions."),
        ("object_type", "Type of the object acted on."),
        ("object_id", "Id of the object acted on."),
        ("since", "ISO 8601 date-time (inclusive)."),
        ("until", "ISO 8601 date-time (exclusive)."),
        ("q", "Text in the reason (first 200 characters)."),
        ("export", "`csv` downloads the journal as CSV (UTF-8 with BOM, each record's hash)."),
    )] + [OpenApiParameter("limit", int, required=False, description="At most this many (200; 1 to 1,000).")],
        responses={(200, "application/json"): AuditOutput(many=True),
                   (200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponse | StreamingHttpResponse:
        qs = audit_search(request.query_params)
        if request.query_params.get("export") == "csv":
            return csv_download(columns=CSV_COLUMNS, rows=_csv_rows(qs, limit=EXPORT_LIMIT),
                                filename="journal-des-acces.csv")
        try:
            limit = min(max(int(request.query_params.get("limit", 200)), 1), 1000)
        except ValueError as exc:
            raise DomainError("A whole number.", field="limit") from exc
        return Response(AuditOutput(qs[:limit], many=True).data)


EXPORT_LIMIT = 100_000
CSV_COLUMNS = ["id", "at", "actor_username", "agency_code", "address", "action", "object_type",
               "object_id", "reason", "hash"]


def _csv_rows(qs: QuerySet[AuditRecord], *, limit: int, batch: int = 2000) -> Iterator[list]:
    """The records of ``qs`` (newest first), read a page at a time by id: no cursor stays open
    between two pages, so a client that leaves half way leaves nothing behind."""
    sent, below = 0, None
    while sent < limit:
        page = qs if below is None else qs.filter(id__lt=below)
        records = list(page[:min(batch, limit - sent)])
        for record in records:
            yield [timezone.localtime(record.at).isoformat() if name == "at" else getattr(record, name)
                   for name in CSV_COLUMNS]
        if len(records) < batch:
            return
        sent, below = sent + len(records), records[-1].id
