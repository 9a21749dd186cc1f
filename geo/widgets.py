"""The admin's map widget: OpenLayers and its background from the hub itself (no CDN: control
rooms run on closed networks, and the admin's Content-Security-Policy admits no other host).

The background is the one the pages use (``geo.basemap.basemap_sources``), the hub's own
archive first: an admin page then asks nothing of any other host when the centre has one.
Without it, the online tile server the deployment names (``HUB_MAP_TILE_URL``); without
either, the communes alone, drawn from ``/api/geo/communes/``.
"""

from __future__ import annotations

from django.contrib.gis.forms.widgets import OpenLayersWidget
from django.urls import reverse

from geo.basemap import basemap_sources


class LocalMapWidget(OpenLayersWidget):
    template_name = "gis/hub-openlayers.html"
    # Where a map with nothing drawn yet opens: the middle of the service area.
    default_lon = 2.32
    default_lat = 49.0
    default_zoom = 13

    class Media:
        # Not Django's media: those name OpenLayers on a CDN.
        extend = False
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "vendor/pmtiles/pmtiles.js", "js/admin-map.js", "gis/js/OLMapWidget.js")

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs)
        for key in ("default_lon", "default_lat", "default_zoom"):
            self.attrs.setdefault(key, getattr(self, key))

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["basemap_id"] = f"{context['id']}_basemap"
        sources = sorted(basemap_sources(), key=lambda source: source["kind"] != "pmtiles")
        context["basemap"] = {"sources": sources, "communes": reverse("commune-list")}
        return context
