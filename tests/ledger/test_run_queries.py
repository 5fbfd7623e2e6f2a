"""One definition of "the latest outcome of each pipeline" (`Run.objects.latest_outcome()`):
its newest success-or-failed run."""

from datetime import timedelta

import pytest

from ledger.models import Pipeline, Run
from tests.factories.ledger import PipelineFactory

from .conftest import T0

pytestmark = pytest.mark.django_db


def test_latest_outcome_is_one_run_per_pipeline_by_start_time(make_runs):
    daily = PipelineFactory(name="daily")
    hourly = PipelineFactory(name="hourly")
    make_runs(daily, "SSF")
    hourly_runs = make_runs(hourly, "FSAR")  # aborted and running after the success
    make_runs(PipelineFactory(name="cancelled"), "A")
    PipelineFactory(name="never")

    latest = {run.pipeline.name: run for run in Run.objects.latest_outcome().select_related("pipeline")}

    assert {name: run.status for name, run in latest.items()} == {"daily": "failed", "hourly": "success"}
    assert latest["hourly"] == hourly_runs[1]


def test_with_latest_outcome_annotates_the_run_latest_outcome_picks(make_runs):
    pipeline = PipelineFactory(name="p")
    runs = make_runs(pipeline, "SFAR")
    PipelineFactory(name="never")

    annotated = {p.name: p for p in Pipeline.objects.with_latest_outcome()}

    assert (annotated["p"].latest_outcome_run_id, annotated["p"].latest_outcome_status) == (
        runs[1].run_id,
        "failed",
    )
    assert annotated["p"].latest_outcome_started_at == runs[1].started_at
    assert annotated["never"].latest_outcome_run_id is None


def test_latest_outcome_ignores_runs_without_a_start(make_runs):
    pipeline = PipelineFactory(name="p")
    (done,) = make_runs(pipeline, "S")
    Run.objects.create(
        pipeline=pipeline, external_run_id="x", status=Run.FAILED, ended_at=T0 + timedelta(days=1)
    )

    assert list(Run.objects.latest_outcome()) == [done]


def test_latest_outcome_is_one_query_whatever_the_pipelines(make_runs, django_assert_num_queries):
    for i in range(5):
        make_runs(PipelineFactory(name=f"p{i}"), "SF")
    with django_assert_num_queries(1):
        assert len(list(Run.objects.latest_outcome())) == 5


def test_with_latest_run_annotates_the_newest_run_and_the_oldest_unfinished(make_runs):
    pipeline = PipelineFactory(name="p")
    runs = make_runs(pipeline, "SRF")

    (annotated,) = Pipeline.objects.filter(pk=pipeline.pk).with_latest_run()

    assert (annotated.latest_run_id, annotated.latest_status) == (runs[2].run_id, "failed")
    assert annotated.running_since == runs[1].started_at


def test_watermark_advance_is_a_manager_verb_that_never_moves_back(django_assert_num_queries):
    from ledger.ingest import WatermarkIn
    from ledger.models import Watermark

    later, earlier = T0 + timedelta(days=2), T0 + timedelta(days=1)
    with django_assert_num_queries(1):
        Watermark.objects.advance(
            [
                WatermarkIn("raw.orders", later),
                WatermarkIn("raw.orders", earlier),
                WatermarkIn("raw.users", T0),
            ]
        )
    Watermark.objects.advance([WatermarkIn("raw.orders", earlier)])

    assert dict(Watermark.objects.values_list("asset_key", "watermark_ts")) == {
        "raw.orders": later,
        "raw.users": T0,
    }
