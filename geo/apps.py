from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class GeoConfig(AppConfig):
    name = "geo"
    verbose_name = pgettext_lazy("app", "Geography")
