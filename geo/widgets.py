"""The admin's map widget, with OpenLayers from our own static files (no CDN: control rooms
run on closed networks) and no base tiles unless the deployment names a tile server."""

from django.contrib.gis.forms.widgets import OpenLayersWidget


class LocalMapWidget(OpenLayersWidget):
    default_zoom = 14

    class Media:
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js")
