"""``python manage.py video --node NAME --port P``: a video node (``make run``, Procfile ``videoN:``).

Daphne serving the hub (WHEP and the cameras' pipelines) in this process, which is also video
node NAME: it holds its share of the cameras through leases, and the WHEP offers for the cameras
other nodes hold are sent on to them (``streaming.video_nodes``). SIGTERM or SIGINT stop Daphne;
the node then hangs its viewers up and gives its cameras back.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from streaming.nodes import MAX_WEIGHT
from streaming.video_nodes import video_node_run


class Command(BaseCommand):
    help = "Serve live video (Daphne) as video node NAME, holding its share of the cameras."

    def add_arguments(self, parser):
        parser.add_argument("--node", metavar="NAME", required=True,
                            help="the node's name, also its server's name in HAProxy "
                                 "(letters, digits, . - _)")
        parser.add_argument("--port", type=int, required=True, help="the port Daphne listens on")
        parser.add_argument("--bind", default="127.0.0.1", help="the address Daphne listens on")
        parser.add_argument("--weight", type=int, default=1,
                            help=f"capacity weight of the node (1 to {MAX_WEIGHT}): a node of weight 2 "
                                 "holds twice the cameras of a node of weight 1")
        parser.add_argument("--access-log", metavar="PATH", help="Daphne's access log (one line a request)")

    def handle(self, *args, **options):
        name = options["node"]
        argv = ["-b", options["bind"], "-p", str(options["port"])]
        if options["access_log"]:
            argv += ["--access-log", options["access_log"]]
        argv.append("config.asgi:application")

        def serve() -> None:
            # The views read which node this process is from the setting (offers sent on, the
            # session's URL); it is decided here, once the name is this process's.
            settings.HUB_VIDEO_NODE = name
            from daphne.cli import CommandLineInterface

            # Daphne's reactor stops on SIGTERM and SIGINT, and run() returns.
            CommandLineInterface().run(argv)

        try:
            video_node_run(name=name, weight=options["weight"], serve=serve,
                           on_change=lambda line: self.stdout.write(line))
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
