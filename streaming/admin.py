"""The admin of the streaming app: the video walls (a crisis room's wall is made here; which camera
shows in which tile is the operators' business, from the console), and, read-only, the nodes and
their camera leases (written by the nodes themselves: a hand edit would fight their renewals)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from streaming.models import CameraLease, Node, Wall
from streaming.nodes import node_is_live


@admin.register(Wall)
class WallAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "columns", "rows", "updated_at"]
    fields = ["name", "label", "columns", "rows"]
    search_fields = ["name", "label"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never written from the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    list_display = fields = readonly_fields = (
        "name", "role", "state", "weight", "host", "pid", "started_at", "last_seen", "lost_at", "left_at")
    list_filter = ["role"]
    search_fields = ["name", "host"]

    @admin.display(description=_("state"))
    def state(self, node: Node) -> str:
        if node.left_at:
            return pgettext("node state", "left")
        if node.lost_at:
            return pgettext("node state", "lost")
        # Silent: not renewed for the lease's time, not yet declared lost.
        if node_is_live(node, timezone.now()):
            return pgettext("node state", "live")
        return pgettext("node state", "silent")


@admin.register(CameraLease)
class CameraLeaseAdmin(ReadOnlyAdmin):
    list_display = fields = readonly_fields = (
        "camera", "role", "node", "acquired_at", "renewed_at", "alarm_at")
    list_filter = ["role", "node"]
    list_select_related = ["camera", "node"]
    search_fields = ["camera__code", "node__name"]
