from django.contrib import admin

from realtime.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "at", "audience"]
    list_filter = ["type"]
    readonly_fields = ["id", "type", "data", "audience", "at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
