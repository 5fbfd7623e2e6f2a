"""The run state machine (`Run.record_event`), driven through `ingest_events` (the path every ingestion takes)."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError, connection, transaction

from ledger.ingest import (
    CREATED,
    DUPLICATE,
    UPDATED,
    AssetIn,
    ParentRef,
    RunEvent,
    WatermarkIn,
    ingest_events,
    retry_on_deadlock,
)
from ledger.models import Client, Pipeline, Run, RunAsset, Watermark

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def ev(status, minutes, run="r1", **kw):
    return RunEvent(
        pipeline="ingest_candles",
        external_run_id=run,
        status=status,
        event_time=T0 + timedelta(minutes=minutes),
        **kw,
    )


def final(run="r1") -> Run:
    return Run.objects.get(external_run_id=run)


def test_start_then_success_sets_times_and_duration():
    outcomes = ingest_events([ev(Run.STARTED, 0)]) + ingest_events([ev(Run.SUCCESS, 5)])
    assert [o.status for o in outcomes] == [CREATED, UPDATED]
    run = final()
    assert (run.status, run.started_at, run.ended_at, run.duration_ms) == (
        Run.SUCCESS,
        T0,
        T0 + timedelta(minutes=5),
        300_000,
    )


def test_duplicate_event_is_a_no_op():
    ingest_events([ev(Run.STARTED, 0)])
    before = final().updated_at
    (outcome,) = ingest_events([ev(Run.STARTED, 0)])
    assert outcome.status == DUPLICATE
    assert final().updated_at == before


def test_late_start_never_regresses_a_success():
    ingest_events([ev(Run.SUCCESS, 5)])
    ingest_events([ev(Run.STARTED, 0)])
    run = final()
    assert (run.status, run.started_at, run.duration_ms) == (Run.SUCCESS, T0, 300_000)
    assert run.anomalies == []


def test_start_after_the_end_is_an_anomaly_not_applied():
    ingest_events([ev(Run.STARTED, 0), ev(Run.SUCCESS, 5)])
    (outcome,) = ingest_events([ev(Run.STARTED, 10)])
    run = final()
    assert (run.status, run.started_at) == (Run.SUCCESS, T0)
    assert outcome.anomaly["event"] == Run.STARTED
    assert run.anomalies == [outcome.anomaly]
    assert ingest_events([ev(Run.STARTED, 10)])[0].status == DUPLICATE


def test_earliest_start_wins():
    ingest_events([ev(Run.STARTED, 3)])
    ingest_events([ev(Run.STARTED, 1)])
    ingest_events([ev(Run.STARTED, 2)])
    assert final().started_at == T0 + timedelta(minutes=1)


def test_other_never_changes_state_but_records_its_assets():
    ingest_events([ev(Run.RUNNING, 1)])
    ingest_events([ev(Run.OTHER, 9, assets=[AssetIn("raw.orders", rows_inserted=3)])])
    run = final()
    assert (run.status, run.last_event_at) == (Run.RUNNING, T0 + timedelta(minutes=1))
    assert RunAsset.objects.get(run=run).rows_inserted == 3


def test_running_follows_event_time_not_arrival():
    ingest_events([ev(Run.RUNNING, 2)])
    ingest_events([ev(Run.STARTED, 1)])
    assert final().status == Run.RUNNING


def test_terminal_status_keeps_its_end_time_against_a_later_terminal():
    ingest_events([ev(Run.SUCCESS, 5)])
    (outcome,) = ingest_events([ev(Run.FAILED, 8, error_message="retry blew up")])
    run = final()
    assert (run.status, run.ended_at, run.error_message) == (Run.SUCCESS, T0 + timedelta(minutes=5), "")
    assert outcome.anomaly["event"] == Run.FAILED


def test_earliest_terminal_wins_in_any_arrival_order():
    events = [ev(Run.STARTED, 0), ev(Run.SUCCESS, 9), ev(Run.FAILED, 5, error_type="E"), ev(Run.RUNNING, 1)]
    results = set()
    for i, order in enumerate(itertools.permutations(events)):
        run_id = f"perm{i}"
        for e in order:
            ingest_events([RunEvent(**{**e.__dict__, "external_run_id": run_id})])
        r = final(run_id)
        results.add((r.status, r.started_at, r.ended_at, r.error_type, str(r.anomalies)))
    assert len(results) == 1
    status, started, ended, error_type, _ = results.pop()
    assert (status, started, ended, error_type) == (Run.FAILED, T0, T0 + timedelta(minutes=5), "E")


def test_simultaneous_terminals_prefer_the_failure():
    ingest_events([ev(Run.SUCCESS, 5)])
    ingest_events([ev(Run.FAILED, 5)])
    assert final().status == Run.FAILED


def test_pipelines_runs_and_parents_are_created_on_first_sight():
    ingest_events(
        [ev(Run.STARTED, 0, run="child", client="acme", parent=ParentRef("orchestrator", "dag-run-1"))]
    )
    child = final("child")
    assert child.parent_run.external_run_id == "dag-run-1"
    assert child.parent_run.pipeline.name == "orchestrator"
    assert child.pipeline.client.name == "acme"
    assert not child.external_run_id_is_uuid
    assert Pipeline.objects.count() == 2


def test_a_batch_applies_events_in_event_time_order():
    ingest_events([ev(Run.SUCCESS, 5), ev(Run.STARTED, 0), ev(Run.RUNNING, 1)])
    run = final()
    assert (run.status, run.started_at, run.anomalies) == (Run.SUCCESS, T0, [])


def test_watermarks_never_move_back():
    ingest_events([ev(Run.SUCCESS, 5, watermarks=[WatermarkIn("raw.orders", T0 + timedelta(days=2))])])
    ingest_events([ev(Run.SUCCESS, 5, run="r2", watermarks=[WatermarkIn("raw.orders", T0)])])
    mark = Watermark.objects.get()
    assert mark.watermark_ts == T0 + timedelta(days=2)
    assert mark.last_run == final("r1")


def test_asset_statistics_are_not_erased_by_a_later_event_without_them():
    ingest_events([ev(Run.SUCCESS, 5, assets=[AssetIn("raw.orders", rows_inserted=7, bytes_written=70)])])
    ingest_events([ev(Run.STARTED, 0, assets=[AssetIn("raw.orders", status=None)])])
    asset = RunAsset.objects.get()
    assert (asset.rows_inserted, asset.bytes_written, asset.status) == (7, 70, "success")


def test_batch_of_many_runs_takes_a_constant_number_of_queries(django_assert_num_queries):
    events = [ev(Run.STARTED, 0, run=f"r{i}", assets=[AssetIn("raw.orders")]) for i in range(50)]
    # pipelines upsert+read, runs insert+lock, runs update, assets upsert (no client named,
    # no savepoint: the test's transaction is the caller's)
    with django_assert_num_queries(4):
        ingest_events(events)


def test_a_deadlock_victim_is_retried_and_applied_once(transactional_db):
    """PostgreSQL aborts one of two deadlocked ingestions; the victim runs again."""
    attempts = []

    @retry_on_deadlock
    def ingest_once():
        with transaction.atomic():
            attempts.append(1)
            with connection.cursor() as cur:
                cur.execute(
                    "INSERT INTO ledger_client (name, description, created_at) VALUES ('c', '', now())"
                )
                if len(attempts) == 1:
                    # The server's own deadlock error (SQLSTATE 40P01), as the victim gets it.
                    cur.execute("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")

    ingest_once()
    assert len(attempts) == 2
    assert Client.objects.filter(name="c").count() == 1


def test_a_deadlock_inside_a_callers_transaction_is_not_retried(db):
    attempts = []

    @retry_on_deadlock
    def ingest_inside():
        attempts.append(1)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; END $$")

    with pytest.raises(OperationalError):
        ingest_inside()
    assert attempts == [1]


def test_record_event_is_a_verb_of_run_that_needs_no_database():
    run = Run(pipeline_id=1, external_run_id="r1")

    started = run.record_event(ev(Run.STARTED, 0))
    ended = run.record_event(ev(Run.FAILED, 5))
    late_start = run.record_event(ev(Run.STARTED, 9))

    assert (started.changed, ended.changed) == (True, True)
    assert (run.status, run.started_at, run.duration_ms) == (Run.FAILED, T0, 300_000)
    assert late_start.anomaly["reason"] == "start or progress event after the run ended"
    assert run.record_event(ev(Run.FAILED, 5)).changed is False
