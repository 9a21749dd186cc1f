from django.contrib.gis import admin

from geo.models import Commune


@admin.register(Commune)
class CommuneAdmin(admin.GISModelAdmin):
    list_display = ["insee_code", "name", "postcode", "population", "approximate"]
    search_fields = ["insee_code", "name"]
