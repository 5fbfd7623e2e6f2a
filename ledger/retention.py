"""Retention of the ledger: history older than a window is deleted in batches.

Never deleted, whatever their age:
- the latest run of each pipeline (by start time), so "latest status" survives;
- the latest outcome of each pipeline (`Run.objects.latest_outcome()`), so a failure
  followed only by aborted runs for longer than the window is still failing
  (pipeline_run_failed, the alert run_failed): pruning it would clear them;
- the latest result of each check (per normalized asset key and check name);
- watermarks (they are current state, not history).

Deleted with a run: its run assets (cascade). Rows pointing at a deleted run (check
results, child runs, watermarks, lineage events, other apps' links) are handled by
Django's collector with set-based UPDATE/DELETE statements, a few per batch.

Raw OpenLineage events older than the window are deleted too, unless they belong to a
run that is kept, or `--keep-lineage` is given. `rebuild_ledger` can then only re-derive
the runs inside the window: the pruned runs are gone from the ledger anyway, and the
kept latest runs and outcomes keep their events.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.functions import Coalesce

from ledger.models import CheckResult, LineageEvent, Run


def prunable_runs(cutoff) -> QuerySet:
    """Runs that started before `cutoff` and are neither their pipeline's latest run nor
    its latest outcome (one index probe per pipeline, in the same statement)."""
    runs = Run.objects.annotate(at=Coalesce("started_at", "created_at"))
    newer = runs.filter(pipeline=OuterRef("pipeline"), at__gt=OuterRef("at"))
    outcomes = Run.objects.latest_outcome().values("pk")
    return runs.filter(at__lt=cutoff).filter(Exists(newer)).exclude(pk__in=outcomes)


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


def targets(keep_lineage: bool = False) -> list[tuple[str, Callable[[datetime], QuerySet]]]:
    """What is pruned, in order: (label, query of the prunable rows before a cutoff)."""
    found = [("runs", prunable_runs), ("check results", prunable_check_results)]
    if not keep_lineage:
        # After the runs: deleting a run clears its events' link, making them prunable.
        found.append(("lineage events", prunable_lineage_events))
    return found


def prune(
    cutoff: datetime,
    *,
    batch_size: int = 5000,
    keep_lineage: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete what `targets` finds before `cutoff`; the row count of each label."""
    return {
        label: _delete(query, cutoff, batch_size, label, progress) for label, query in targets(keep_lineage)
    }


def _delete(query, cutoff, batch_size: int, label: str, progress) -> int:
    """Delete in batches of ids, one short transaction each; returns the row count."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(query(cutoff).values_list("id", flat=True)[:batch_size])
            if not ids:
                return total
            query(cutoff).model.objects.filter(id__in=ids).delete()
        total += len(ids)
        if progress:
            progress(label, total)
