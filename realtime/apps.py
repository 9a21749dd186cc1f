from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = pgettext_lazy("app", "Realtime")

    def ready(self) -> None:
        from realtime import metrics, signals

        signals.connect()
        metrics.install()
