"""The admin of the recordings app: the object store's outages, read-only (the recorders open and
close them; each was announced to the centre once)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from recordings.models import StoreOutage


@admin.register(StoreOutage)
class StoreOutageAdmin(admin.ModelAdmin):
    list_display = ("started_at", "ended_at", "detail", "host", "waiting")
    search_fields = ["detail", "host"]
    date_hierarchy = "started_at"
    fields = readonly_fields = ("started_at", "ended_at", "detail", "host", "waiting", "pending")

    @admin.display(description=_("segments waiting"))
    def waiting(self, outage: StoreOutage) -> int:
        return sum(count for count in outage.pending.values() if isinstance(count, int))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
