"""``python manage.py record``: the recorder process (started by ``make run``, Procfile ``recorder:``).

Without ``--node`` it records every camera set to record. With ``--node NAME`` it is one
recorder node among several: it records the cameras it holds through leases, takes its share
and the cameras of a node that died, gives back its excess (``streaming.nodes``).

The two kinds never run against the same database (each camera would be recorded twice): the
plain recorder holds an advisory lock for its life and refuses to start while a live recorder
node runs; a node refuses to join while a plain recorder holds the lock (``streaming.nodes.solo_start``).
"""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from config.errors import DomainError
from recordings.objects import pending_uploader
from recordings.recorder import run_recorders
from recordings.storage import recording_store
from streaming.models import NodeRole
from streaming.nodes import MAX_WEIGHT, run_node, solo_start


class Command(BaseCommand):
    help = "Record every camera set to record, in fixed-length indexed segments, until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--node", metavar="NAME",
                            help="run as recorder node NAME: record only the cameras this node holds "
                                 "(several nodes share the cameras and take over from each other)")
        parser.add_argument("--weight", type=int, default=1,
                            help=f"capacity weight of the node (1 to {MAX_WEIGHT}): a node of weight 2 "
                                 "holds twice the cameras of a node of weight 1")

    def handle(self, *args, **options):
        if options["node"] is None and options["weight"] != 1:
            raise CommandError(_("--weight goes with --node."))
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        if options["node"] is None:
            try:
                hold = solo_start(NodeRole.RECORD)
            except DomainError as exc:
                raise CommandError(str(exc.detail)) from exc
            self.stdout.write("recorder started")
            try:
                run_recorders(stop=stop)
            finally:
                hold.release()
        else:
            self.stdout.write("recorder started")
            if recording_store().kind != "local":
                # The segments buffered while the object store was down, also of cameras this node
                # no longer holds.
                pending_uploader(stop=stop)
            try:
                run_node(name=options["node"], weight=options["weight"], stop=stop,
                         on_change=lambda line: self.stdout.write(line))
            except DomainError as exc:
                raise CommandError(str(exc.detail)) from exc
        self.stdout.write("recorder stopped")
