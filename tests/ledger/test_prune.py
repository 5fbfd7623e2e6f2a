"""prune_ledger: retention in batches, never the latest run, the latest outcome or the latest
check result."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.models import CheckResult, LineageEvent, Run, RunAsset, Watermark
from tests.factories.ledger import CheckResultFactory, PipelineFactory, RunAssetFactory, WatermarkFactory

from .conftest import T0

NOW = T0 + timedelta(days=200)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def prune(*args) -> str:
    out = io.StringIO()
    call_command("prune_ledger", *args, stdout=out)
    return out.getvalue()


def lineage_event(run, when, n):
    return LineageEvent.objects.create(
        content_hash=f"{n:064d}",
        event_time=when,
        event_type="COMPLETE",
        job_namespace="",
        job_name=run.pipeline.name if run else "orphan",
        run_external_id=run.external_run_id if run else "x",
        payload={},
        run=run,
    )


@pytest.fixture
def history(make_runs):
    busy, dormant = PipelineFactory(namespace="", name="busy"), PipelineFactory(namespace="", name="dormant")
    old = make_runs(busy, "SFSFS", start=NOW - timedelta(days=150), every=timedelta(days=1))
    recent = make_runs(busy, "SS", start=NOW - timedelta(days=10))
    # Dormant pipeline: its only runs are old; the latest must survive.
    dormant_runs = make_runs(dormant, "SF", start=NOW - timedelta(days=300))
    for run in old + dormant_runs:
        RunAssetFactory(run=run)
    # A newer run whose parent is old: the link is cleared, the child kept.
    recent[0].parent_run = old[0]
    recent[0].save()
    WatermarkFactory(asset_key="raw.orders", last_run=old[1])
    # Check results: an old one superseded, and an old one that is still the latest.
    CheckResultFactory(check_name="fresh", checked_at=NOW - timedelta(days=120), run=old[0])
    CheckResultFactory(check_name="fresh", checked_at=NOW - timedelta(days=1))
    lonely = CheckResultFactory(check_name="lonely", checked_at=NOW - timedelta(days=120))
    events = [lineage_event(r, r.started_at, i) for i, r in enumerate(old + dormant_runs)]
    events.append(lineage_event(None, NOW - timedelta(days=100), 99))
    return {"old": old, "recent": recent, "dormant": dormant_runs, "lonely": lonely, "events": events}


@pytest.mark.parametrize("age", ["90 days", "P90D", "2160h"])
def test_prune_takes_the_common_duration_syntax(history, age):
    assert "runs: deleted 6" in prune("--older-than", age)


@pytest.mark.parametrize("bad", ["90", "0d", "-3 days", "1y", "", "ninety"])
def test_prune_refuses_a_bad_age(bad):
    with pytest.raises(CommandError, match=r"duration|unit|negative|zero"):
        prune("--older-than", bad)


def test_prune_deletes_old_history_and_keeps_latest(history):
    output = prune("--older-than", "90d")
    assert "runs: deleted 6" in output
    assert "check results: deleted 1" in output
    assert "lineage events: deleted 7" in output
    remaining = set(Run.objects.values_list("id", flat=True))
    # busy keeps its two recent runs; dormant keeps its latest (failed) run though 300 days old.
    assert remaining == {r.id for r in history["recent"]} | {history["dormant"][-1].id}
    assert RunAsset.objects.count() == 1  # the dormant latest run's asset
    assert set(CheckResult.objects.values_list("check_name", flat=True)) == {"fresh", "lonely"}
    assert CheckResult.objects.filter(pk=history["lonely"].pk).exists()
    # References to deleted runs are cleared, not dangling.
    history["recent"][0].refresh_from_db()
    assert history["recent"][0].parent_run is None
    assert Watermark.objects.get().last_run is None
    # The kept run keeps its raw events, so rebuild_ledger can still derive it.
    assert list(LineageEvent.objects.values_list("run_id", flat=True)) == [history["dormant"][-1].id]


def test_prune_keeps_a_failure_followed_only_by_aborted_runs(make_runs):
    """The latest outcome survives, not only the newest run: pruning the failure behind a
    streak of skipped overlaps would clear pipeline_run_failed and the run_failed alert."""
    skipping = PipelineFactory(namespace="", name="skipping")
    _passed, failed, *aborted = make_runs(
        skipping, "SFAAA", start=NOW - timedelta(days=150), every=timedelta(days=10)
    )
    before = list(Run.objects.latest_outcome())

    assert "runs: deleted 3" in prune("--older-than", "90d")

    assert set(Run.objects.values_list("id", flat=True)) == {failed.id, aborted[-1].id}
    assert list(Run.objects.latest_outcome()) == before == [failed]


def test_dry_run_counts_and_deletes_nothing(history):
    before = (Run.objects.count(), CheckResult.objects.count(), LineageEvent.objects.count())
    output = prune("--older-than", "90d", "--dry-run")
    assert "would delete 6" in output and "(dry run)" in output
    assert "lineage events: would delete 1" in output  # only the orphan: runs still exist
    assert (Run.objects.count(), CheckResult.objects.count(), LineageEvent.objects.count()) == before


def test_keep_lineage(history):
    output = prune("--older-than", "90d", "--keep-lineage")
    assert "lineage" not in output.split("\n", 1)[1]
    assert LineageEvent.objects.count() == len(history["events"])


def test_small_batches_give_the_same_result(history):
    output = prune("--older-than", "90d", "--batch-size", "2", "-v", "2")
    assert "runs: 2 so far" in output and "runs: deleted 6" in output
    assert Run.objects.count() == 3


def test_default_window_comes_from_settings(history, settings):
    settings.OPSHEALTH_LEDGER_RETENTION_DAYS = 400
    # The default is read when the command's parser is built.
    assert "runs: deleted 0" in prune()
    assert "runs: deleted 6" in prune("--older-than", "12w")


def test_hours_window(make_runs):
    p = PipelineFactory(namespace="", name="hourly")
    make_runs(p, "SSSS", start=timezone.now() - timedelta(hours=20), every=timedelta(hours=5))
    assert "runs: deleted 2" in prune("--older-than", "12h")


def test_bad_batch_size_is_an_error(db):
    with pytest.raises(CommandError, match="batch-size"):
        prune("--batch-size", "0")


def test_query_count_does_not_grow_with_the_rows(history, make_runs):
    """Per batch: select ids, collect the runs, one UPDATE/DELETE per relation, delete the runs."""

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            prune("--older-than", "90d", "--keep-lineage")
        return len(captured)

    baseline = queries()
    busy = Run.objects.get(id=history["recent"][0].id).pipeline
    for i in range(3):
        runs = make_runs(busy, "SFSFSSFSFS", start=NOW - timedelta(days=180 - i))
        for run in runs:
            RunAssetFactory(run=run)
            CheckResultFactory(check_name="fresh", checked_at=run.started_at, run=run)
    assert Run.objects.count() == 33
    assert queries() == baseline
    assert Run.objects.count() == 3
