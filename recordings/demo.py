"""Demo recordings: two cameras recorded by ``make run``'s recorder, so that requisitions,
extractions, snapshots and the register can be tried at once (docs/recordings.md)."""

from __future__ import annotations

from cameras.models import Camera
from cameras.selectors import cameras_with_authorisation
from recordings.models import RecordingPlan

# Smaller pictures than the live default (1280x720 at 25 fps): the recorder encodes synthetic
# pictures, and the demo runs on a laptop.
DEMO_RECORDING_URI = "synthetic:640x360@15"
# The synthetic pictures are noisy (~1.1 MB a minute each): kept 2 days rather than 14, a demo
# left running holds about 7 GB of recordings instead of 46.
DEMO_RETENTION_DAYS = 2


def demo_recording_ensure() -> list[Camera]:
    """Record the first authorised camera with privacy masks and the first without (by code, on a
    fixed site, not in a nomadic pool):
    one extraction is then re-encoded with its masks burned in, the other remuxed. Idempotent."""
    authorised = (cameras_with_authorisation().filter(authorised=True, site__nomadic_pool=False)
                  .order_by("code"))
    chosen: list[Camera] = [
        camera for camera in (authorised.filter(masks__isnull=False).first(),
                              authorised.filter(masks__isnull=True).first()) if camera is not None]
    for camera in chosen:
        if camera.stream_uri == "synthetic:":
            camera.stream_uri, camera.retention_days = DEMO_RECORDING_URI, DEMO_RETENTION_DAYS
            camera.save(update_fields=["stream_uri", "retention_days", "updated_at"])
        RecordingPlan.objects.get_or_create(camera=camera)
    return chosen
