from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = pgettext_lazy("app", "Video")

    def ready(self) -> None:
        from streaming import replay

        replay.register()
