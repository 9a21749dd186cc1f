"""``/api/alarms/``: the centre's technical alarms in force (cameras no recorder holds, the
recordings' object store down, recorder or video nodes lost), for the console's alarm strip when
its event stream was interrupted. The centre's staff only, as the events that announce them."""

from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.utils import extend_schema
from pydantic import BaseModel, ConfigDict, RootModel
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incidents.alarms import alarms_in_force
from partners.permissions import IsCentreStaff


class AlarmFrame(BaseModel):
    """One alarm in force, as the frame of the event that announced it: ``data`` has the shape
    of that event (``camera.unrecorded``, ``storage.unavailable``, ``node.lost``), so a page
    applies it with the code that applies the live events."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["camera.unrecorded", "storage.unavailable", "node.lost"]
    data: dict[str, Any]


class AlarmList(RootModel[list[AlarmFrame]]):
    pass


class AlarmListApi(APIView):
    """``GET /api/alarms/`` — every alarm in force now (the state, not a history): what the
    console shows at load. ``storage.unavailable`` counts the segments waiting now."""

    permission_classes = [IsCentreStaff]

    @extend_schema(responses=AlarmList, operation_id="alarms_list")
    def get(self, request: Request) -> Response:
        return Response(alarms_in_force())
