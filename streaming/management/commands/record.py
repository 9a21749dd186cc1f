"""``python manage.py record``: the recorder process (started by ``make run``, Procfile ``recorder:``)."""

import signal
import threading

from django.core.management.base import BaseCommand

from streaming.recorder import run_recorders


class Command(BaseCommand):
    help = "Record every camera set to record, in fixed-length indexed segments, until stopped."

    def handle(self, *args, **options):
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        self.stdout.write("recorder started")
        run_recorders(stop=stop)
        self.stdout.write("recorder stopped")
