from django.contrib.gis import admin

from geo.models import Commune
from geo.widgets import LocalMapWidget


class HubGISAdmin(admin.GISModelAdmin):
    """GeoDjango admin with the map widget served from our own static files."""

    # The stubs type it as OSMWidget; Django takes any geometry widget (OpenLayersWidget here).
    gis_widget = LocalMapWidget  # type: ignore[assignment]
    gis_widget_kwargs = {"attrs": {"default_lon": 2.32, "default_lat": 49.0, "default_zoom": 13}}


@admin.register(Commune)
class CommuneAdmin(HubGISAdmin):
    list_display = ["insee_code", "name", "postcode", "population", "approximate"]
    search_fields = ["insee_code", "name"]
