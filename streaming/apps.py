from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class StreamingConfig(AppConfig):
    name = "streaming"
    verbose_name = pgettext_lazy("app", "Video")

    def ready(self) -> None:
        from incidents.alarms import alarm_source_register
        from streaming import replay
        from streaming.nodes import alarm_frames

        replay.register()
        # The console's alarm strip shows the unrecorded cameras and the lost nodes at load.
        alarm_source_register(alarm_frames)
