"""The admin of the recordings app: the object store's outages, read-only (the recorders open and
close them; each was announced to the centre once)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from recordings.models import StoreOutage
from streaming.admin import ReadOnlyAdmin


@admin.register(StoreOutage)
class StoreOutageAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "ended_at", "detail", "host", "waiting")
    search_fields = ["detail", "host"]
    date_hierarchy = "started_at"
    fields = readonly_fields = ("started_at", "ended_at", "detail", "host", "waiting", "pending")

    @admin.display(description=_("segments waiting"))
    def waiting(self, outage: StoreOutage) -> int:
        return outage.waiting
