from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class RecordingsConfig(AppConfig):
    name = "recordings"
    verbose_name = pgettext_lazy("app", "Recordings")

    def ready(self) -> None:
        # The live video app knows no recording: this app tells it what it needs at start.
        from incidents.alarms import alarm_source_register
        from recordings import (
            events,  # noqa: F401 - registers the event types
            replay,
        )
        from recordings.objects import outage_frames
        from recordings.recorder import node_recorder_thread, recorded_cameras
        from recordings.selectors import cameras_with_recordings
        from streaming.models import NodeRole
        from streaming.nodes import RoleWork, node_role_register
        from streaming.selectors import recorded_cameras_register

        replay.register()
        # The live video app knows no recording: this app tells it what the recorder nodes do and
        # which cameras are recorded.
        node_role_register(NodeRole.RECORD, RoleWork(
            cameras=lambda: recorded_cameras().values_list("pk", flat=True), start=node_recorder_thread))
        recorded_cameras_register(cameras_with_recordings)
        # The console's alarm strip shows an open outage of the object store at load.
        alarm_source_register(outage_frames)
