"""Delete ledger history older than a retention window, in batches.

Never deleted, whatever their age:
- the latest run of each pipeline (by start time), so "latest status" survives;
- the latest result of each check (per normalized asset key and check name);
- watermarks (they are current state, not history).

Deleted with a run: its run assets (cascade). Rows pointing at a deleted run (check
results, child runs, watermarks, lineage events, other apps' links) are handled by
Django's collector with set-based UPDATE/DELETE statements, a few per batch.

Raw OpenLineage events older than the window are deleted too, unless they belong to a
run that is kept, or `--keep-lineage` is given. `rebuild_ledger` can then only re-derive
the runs inside the window: the pruned runs are gone from the ledger anyway, and the
kept latest runs keep their events.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.durations import EXAMPLES, parse_duration
from ledger.models import CheckResult, LineageEvent, Run


def prunable_runs(cutoff) -> QuerySet:
    """Runs that started before `cutoff` and are not their pipeline's latest."""
    runs = Run.objects.annotate(at=Coalesce("started_at", "created_at"))
    newer = runs.filter(pipeline=OuterRef("pipeline"), at__gt=OuterRef("at"))
    return runs.filter(at__lt=cutoff).filter(Exists(newer))


def prunable_check_results(cutoff) -> QuerySet:
    """Results checked before `cutoff` that a newer result of the same check supersedes."""
    # Served by ledger_check_latest (normalized_key, check_name, -checked_at).
    newer = CheckResult.objects.filter(
        normalized_key=OuterRef("normalized_key"),
        check_name=OuterRef("check_name"),
        checked_at__gt=OuterRef("checked_at"),
    )
    return CheckResult.objects.filter(checked_at__lt=cutoff).filter(Exists(newer))


def prunable_lineage_events(cutoff) -> QuerySet:
    # Events of a kept run still point at it (pruned runs' events were set to NULL).
    return LineageEvent.objects.filter(event_time__lt=cutoff, run__isnull=True)


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
        targets = [("runs", prunable_runs), ("check results", prunable_check_results)]
        if not keep_lineage:
            # After the runs: deleting a run clears its events' link, making them prunable.
            targets.append(("lineage events", prunable_lineage_events))
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"pruning ledger history before {cutoff.isoformat()}{' (dry run)' if dry_run else ''}"
        )
        for label, query in targets:
            count = query(cutoff).count() if dry_run else self._delete(query, cutoff, batch_size, label)
            self.stdout.write(f"{label}: {verb} {count}")

    def _delete(self, query, cutoff, batch_size: int, label: str) -> int:
        """Delete in batches of ids, one short transaction each; returns the row count."""
        total = 0
        while True:
            with transaction.atomic():
                ids = list(query(cutoff).values_list("id", flat=True)[:batch_size])
                if not ids:
                    return total
                query(cutoff).model.objects.filter(id__in=ids).delete()
            total += len(ids)
            if self.verbosity > 1:
                self.stdout.write(f"  {label}: {total} so far")
