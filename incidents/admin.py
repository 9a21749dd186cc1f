from django.contrib.gis import admin

from geo.admin import HubGISAdmin
from incidents.models import Incident, JournalEntry, Nature


@admin.register(Nature)
class NatureAdmin(admin.ModelAdmin):
    list_display = ["code", "label", "active"]
    list_editable = ["label", "active"]


class JournalInline(admin.TabularInline):
    model = JournalEntry
    fields = ["at", "author", "kind", "text", "corrects"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(HubGISAdmin):
    """Read-mostly: incidents are written by the console and the API, through services."""

    list_display = ["reference", "nature", "priority", "status", "commune", "created_at"]
    list_filter = ["status", "nature", "commune"]
    search_fields = ["reference", "description", "address"]
    readonly_fields = ["reference", "nature", "priority", "status", "location", "address", "commune",
                       "description", "reported_by", "cameras", "shared_with", "created_at", "version"]
    inlines = [JournalInline]

    def has_add_permission(self, request) -> bool:
        return False
