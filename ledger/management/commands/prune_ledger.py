"""`manage.py prune_ledger --older-than 90d`: the ledger's retention (ledger/retention.py)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.durations import EXAMPLES, parse_duration
from ledger import retention


class Command(BaseCommand):
    help = "Delete runs, check results and raw lineage events older than the retention window."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=f"{settings.OPSHEALTH_LEDGER_RETENTION_DAYS}d",
            help=f"a duration: {EXAMPLES} (default: OPSHEALTH_LEDGER_RETENTION_DAYS days)",
        )
        parser.add_argument("--batch-size", type=int, default=5000, help="ids per DELETE statement")
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted")
        parser.add_argument("--keep-lineage", action="store_true", help="keep raw OpenLineage events")

    def handle(self, *args, older_than: str, batch_size: int, dry_run: bool, keep_lineage: bool, **options):
        self.verbosity = options["verbosity"]
        try:
            age = parse_duration(older_than)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        cutoff = timezone.now() - age
        self.stdout.write(
            f"pruning ledger history before {cutoff.isoformat()}{' (dry run)' if dry_run else ''}"
        )
        if dry_run:
            counts = {label: query(cutoff).count() for label, query in retention.targets(keep_lineage)}
        else:
            counts = retention.prune(
                cutoff, batch_size=batch_size, keep_lineage=keep_lineage, progress=self._progress
            )
        for label, count in counts.items():
            self.stdout.write(f"{label}: {'would delete' if dry_run else 'deleted'} {count}")

    def _progress(self, label: str, total: int) -> None:
        if self.verbosity > 1:
            self.stdout.write(f"  {label}: {total} so far")
