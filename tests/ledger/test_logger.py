import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from ledger.logger import RunLogger, RunLoggerInAtomicBlock, stack_hash
from ledger.models import CheckResult, Run, RunAsset, Watermark
from ledger.signals import assets_ingested


class Boom(Exception):
    pass


def _explode():
    raise Boom("disk full")


def _hash_of(source: str) -> str:
    """Raise Boom from code compiled at the given line layout, in one module name."""
    namespace = {"__name__": "tests.ledger.generated", "Boom": Boom}
    exec(compile(source, "generated.py", "exec"), namespace)
    try:
        namespace["job"]()
    except Boom as exc:
        return stack_hash(exc)
    raise AssertionError("job did not raise")


@pytest.mark.django_db
def test_runlogger_writes_started_then_success():
    with RunLogger("opshealth.discover", triggered_by="cli", args={"source": "demo"}) as run:
        assert Run.objects.get(pk=run.run.pk).status == Run.STARTED
        run.log_asset("mart.daily_sales", kind="matview", rows_inserted=10, rows_updated=2)
        run.record_check("raw.orders", "not_null(order_id)", status="pass", metrics={"nulls": 0})
    row = Run.objects.get(pk=run.run.pk)
    assert row.status == Run.SUCCESS
    assert row.pipeline.name == "opshealth.discover"
    assert row.triggered_by == "cli" and row.args == {"source": "demo"}
    assert row.ended_at >= row.started_at and row.duration_ms is not None
    asset = RunAsset.objects.get(run=row)
    assert (asset.kind, asset.rows_inserted, asset.rows_updated, asset.status) == (
        "matview",
        10,
        2,
        "success",
    )
    assert CheckResult.objects.get(run=row).metrics == {"nulls": 0}


@pytest.mark.django_db
def test_runlogger_failure_records_error_and_reraises():
    with pytest.raises(Boom), RunLogger("nightly") as run:
        _explode()
    row = Run.objects.get(pk=run.run.pk)
    assert row.status == Run.FAILED
    assert row.error_type == "tests.ledger.test_logger.Boom"
    assert row.error_message == "disk full"
    assert len(row.error_stack_hash) == 32


@pytest.mark.django_db
def test_same_bug_gives_same_stack_hash_across_runs():
    hashes = set()
    for _ in range(2):
        with pytest.raises(Boom), RunLogger("nightly") as run:
            _explode()
        hashes.add(Run.objects.get(pk=run.run.pk).error_stack_hash)
    assert len(hashes) == 1


def test_stack_hash_ignores_line_numbers_but_not_functions():
    base = _hash_of("def job():\n    step()\n\ndef step():\n    raise Boom('x')\n")
    moved = _hash_of(
        "\n\n\n# an edit elsewhere\ndef job():\n\n    step()\n\ndef step():\n    raise Boom('y')\n"
    )
    other = _hash_of("def job():\n    other()\n\ndef other():\n    raise Boom('x')\n")
    assert base == moved
    assert base != other


def test_keyboard_interrupt_closes_the_run_as_aborted(transactional_db):
    with pytest.raises(KeyboardInterrupt), RunLogger("nightly") as run:
        raise KeyboardInterrupt
    assert Run.objects.get(pk=run.run.pk).status == Run.ABORTED


def test_runlogger_refuses_to_start_inside_a_callers_transaction(transactional_db):
    with pytest.raises(RunLoggerInAtomicBlock, match=r"outside transaction\.atomic"), transaction.atomic():
        RunLogger("nightly").__enter__()
    assert not Run.objects.exists()


def test_runlogger_rows_survive_a_rollback_of_the_callers_transaction(transactional_db):
    ts = timezone.now()
    with pytest.raises(Boom), RunLogger("discover") as run:
        run.update_watermark("raw.committed", ts)
        with transaction.atomic():
            run.log_asset("raw.orders", rows_inserted=5, status="failed")
            run.record_check("raw.orders", "row_count(1, 10)", status="fail")
            run.update_watermark("raw.orders", ts)
            _explode()
    row = Run.objects.get(pk=run.run.pk)
    assert row.status == Run.FAILED
    # What was attempted stays on record; the watermark of the rolled-back load does not.
    assert RunAsset.objects.get(run=row).rows_inserted == 5
    assert CheckResult.objects.get(run=row).status == "fail"
    assert list(Watermark.objects.values_list("asset_key", flat=True)) == ["raw.committed"]


def test_watermark_inside_a_committed_block_is_applied(transactional_db):
    ts = timezone.now()
    with RunLogger("discover") as run, transaction.atomic():
        run.update_watermark("raw.orders", ts, scope_key="AAPL")
    mark = Watermark.objects.get()
    assert (mark.scope_key, mark.watermark_ts, mark.last_run_id) == ("AAPL", ts, run.run.pk)


def test_assets_ingested_is_sent_after_commit_with_normalized_keys(transactional_db):
    received = []

    def receiver(sender, keys, **kwargs):
        # Sent on commit: the rows are visible to a fresh query.
        received.append((set(keys), RunAsset.objects.filter(normalized_key__in=keys).count()))

    assets_ingested.connect(receiver)
    try:
        with RunLogger("discover") as run:
            run.log_asset('"RAW"."Orders"')
    finally:
        assets_ingested.disconnect(receiver)
    assert received == [({'"RAW"."Orders"'}, 1)]


def test_a_failing_receiver_does_not_fail_the_ingestion(transactional_db, caplog):
    def broken(sender, keys, **kwargs):
        raise RuntimeError("registry down")

    assets_ingested.connect(broken)
    try:
        with RunLogger("discover") as run:
            run.log_asset("raw.orders")
    finally:
        assets_ingested.disconnect(broken)
    assert Run.objects.get(pk=run.run.pk).status == Run.SUCCESS
    assert "assets_ingested receiver" in caplog.text


def test_a_clock_records_a_run_that_happened_in_the_past(db):
    now = [dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)]
    with RunLogger("backfill_orders", clock=lambda: now[0]) as run:
        now[0] += dt.timedelta(minutes=3)
        run.log_asset("raw.orders", rows_inserted=5)
        run.record_check("raw.orders", "not_null(order_id)", status="pass")
    recorded = Run.objects.get(pk=run.run.pk)
    assert recorded.status == Run.SUCCESS
    assert recorded.started_at == dt.datetime(2026, 1, 5, 6, 0, tzinfo=dt.UTC)
    assert recorded.ended_at == dt.datetime(2026, 1, 5, 6, 3, tzinfo=dt.UTC)
    assert recorded.duration_ms == 180_000
    assert recorded.assets.get().ended_at == now[0]
    assert recorded.check_results.get().checked_at == now[0]
