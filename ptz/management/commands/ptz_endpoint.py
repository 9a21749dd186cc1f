"""Give a PTZ camera its ONVIF address and credentials (the password read from stdin, stored
encrypted), and check that the hub can drive it."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from cameras.choices import CameraKind
from cameras.models import Camera
from ptz.models import PtzEndpoint


class Command(BaseCommand):
    help = "Set a PTZ camera's ONVIF address and credentials: ptz_endpoint CODE HOST [--port] [--user]"

    def add_arguments(self, parser) -> None:
        parser.add_argument("camera", help="the camera's code (or id)")
        parser.add_argument("host", help="the camera's ONVIF address (name or IP)")
        parser.add_argument("--port", type=int, default=80)
        parser.add_argument("--user", default="")
        parser.add_argument("--password-stdin", action="store_true",
                            help="read the password from the first line of stdin")
        parser.add_argument("--pan-zero-heading", type=float, default=None,
                            help="compass heading (degrees) the camera looks at when its pan is 0")
        parser.add_argument("--home-preset", type=int, default=None)
        parser.add_argument("--no-check", action="store_true", help="do not contact the camera")

    def handle(self, *args, **options) -> None:
        reference = options["camera"]
        camera = (Camera.objects.filter(code=reference).first()
                  or (Camera.objects.filter(pk=int(reference)).first() if reference.isdigit() else None))
        if camera is None:
            raise CommandError(f"No camera {reference}")
        if camera.kind != CameraKind.PTZ:
            raise CommandError(f"{camera.code} is not a PTZ camera")
        endpoint, _ = PtzEndpoint.objects.get_or_create(camera=camera, defaults={"host": options["host"]})
        endpoint.host, endpoint.port, endpoint.username = options["host"], options["port"], options["user"]
        if options["password_stdin"]:
            endpoint.set_password(sys.stdin.readline().rstrip("\n"))
        if options["pan_zero_heading"] is not None:
            endpoint.pan_zero_heading = options["pan_zero_heading"] % 360
        if options["home_preset"] is not None:
            endpoint.home_preset = options["home_preset"]
        endpoint.save()
        self.stdout.write(f"{camera.code}: ONVIF {endpoint.host}:{endpoint.port}")
        if options["no_check"]:
            return
        from ptz.runtime import get_runtime
        from ptz.services import conf_of

        try:
            caps = get_runtime().call(conf_of(endpoint), lambda d: d.capabilities())
        except Exception as exc:  # noqa: BLE001 - said to the person at the terminal
            raise CommandError(f"The camera did not answer as expected: {exc}") from exc
        self.stdout.write(f"  PTZ node {caps.node_token}: absolute={caps.absolute} "
                          f"continuous={caps.continuous} home={caps.home} presets≤{caps.max_presets}; "
                          f"stream {caps.stream_uri}")
