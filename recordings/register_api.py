"""REST endpoints of the recordings register and its statistics (centre staff and auditors).
docs/recordings.md."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.downloads import csv_download
from partners.permissions import IsAuditor, IsCentreStaff
from recordings import register

_PARAMS = [OpenApiParameter(name, str, required=False, description=text) for name, text in (
    ("camera", "Camera code (or id)."),
    ("kind", "Comma list of recording, hold, extraction, destruction."),
    ("since", "ISO 8601 date or date-time (inclusive)."),
    ("until", "ISO 8601 date or date-time (exclusive)."),
    ("export", "`csv` downloads the register as CSV (UTF-8 with BOM)."),
)]


class RegisterApi(APIView):
    """``GET /api/streaming/register/``: recordings (per camera and day), holds, extractions and
    destructions, newest first. Filters ``camera``, ``kind``, ``since``, ``until``; ``?export=csv``."""

    permission_classes = [IsCentreStaff | IsAuditor]

    @extend_schema(parameters=_PARAMS, responses={(200, "application/json"): OpenApiTypes.OBJECT,
                                                  (200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request) -> HttpResponseBase:
        filters = register.parse_filters(request.query_params)
        if request.query_params.get("export") == "csv":
            return csv_download(columns=register.COLUMNS, rows=register.register_rows(filters),
                                filename="registre-enregistrements.csv")
        return Response(register.register(filters))


class RegisterStatsApi(APIView):
    """``GET /api/streaming/register/stats/``: extractions per month and per requesting service
    (``since``/``until`` on the time each extraction was done)."""

    permission_classes = [IsCentreStaff | IsAuditor]

    @extend_schema(parameters=_PARAMS[2:4], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        params = request.query_params
        filters = register.parse_filters({k: params.get(k) for k in ("since", "until")})
        return Response(register.statistics(filters["since"], filters["until"]))
