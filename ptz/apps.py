from django.apps import AppConfig


class PtzConfig(AppConfig):
    name = "ptz"
    verbose_name = "PTZ"

    def ready(self) -> None:
        from ptz import replay

        replay.register()
