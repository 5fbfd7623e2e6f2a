"""`manage.py dispatch_alerts [--loop]`: one alerting cycle, or one every `--interval`."""

import signal
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from checks.alerts.cycle import run_cycle_as_job


class Command(BaseCommand):
    help = (
        "Evaluate the alert rules, open/update/resolve incidents, enqueue notifications and "
        "deliver the due ones. --loop repeats it in the foreground until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="run a cycle every --interval seconds")
        parser.add_argument("--interval", type=int, default=60, help="seconds between cycles (--loop)")

    def handle(self, *args, loop: bool, interval: int, **options):
        if not loop:
            self.stdout.write(str(run_cycle_as_job()))
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.is_set():
            close_old_connections()
            self.stdout.write(str(run_cycle_as_job()))
            stop.wait(max(1, interval))
        self.stdout.write("stopped")
