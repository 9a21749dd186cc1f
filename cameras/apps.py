from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class CamerasConfig(AppConfig):
    name = "cameras"
    verbose_name = pgettext_lazy("app", "Cameras")
