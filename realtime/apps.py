from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Temps réel"

    def ready(self) -> None:
        from realtime import signals

        signals.connect()
