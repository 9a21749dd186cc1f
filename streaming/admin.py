"""The admin of the streaming app: the video walls (a crisis room's wall is made here; which camera
shows in which tile is the operators' business, from the console)."""

from django.contrib import admin

from streaming.models import Wall


@admin.register(Wall)
class WallAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "columns", "rows", "updated_at"]
    fields = ["name", "label", "columns", "rows"]
    search_fields = ["name", "label"]
