"""``GET /api/streaming/nodes/``: the recorder nodes, the cameras each holds and the ages of its
leases, the cameras no live node holds (centre staff; docs/recordings.md)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from partners.permissions import IsCentreStaff
from streaming.nodes import nodes_overview


class NodeListApi(APIView):
    """The recorder nodes (live, silent, lost or left), their weight and fair share, the cameras
    each holds with the ages of their leases, and the cameras no live node records (the alarm)."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response(nodes_overview())
