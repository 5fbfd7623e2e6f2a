"""`manage.py rebuild_ledger`: re-derive OpenLineage runs from the raw event log."""

from django.core.management.base import BaseCommand

from ledger.openlineage import rebuild


class Command(BaseCommand):
    help = (
        "Delete the runs, run assets and check results of OpenLineage origin and re-derive them "
        "from the stored raw events, in event-time order (deterministic)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, batch_size: int, **options):
        replayed = rebuild(batch_size=batch_size)
        self.stdout.write(f"Replayed {replayed} OpenLineage events.")
