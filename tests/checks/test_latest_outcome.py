"""One rule for "the latest run failed": a pipeline's latest outcome (`Run.objects.outcomes()`,
its newest success-or-failed run), the same in the check, the alert condition, the API,
/metrics and the dashboard. An aborted run, such as the skipped overlap OpsHealth's
scheduler records, is no outcome: neither a failure nor a recovery."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from checks.alerts.conditions import evaluator
from checks.models import ERROR, OK
from ledger.models import Run
from opshealth.dashboard.tabs.runs import Runs
from tests.checks.conftest import run_check
from tests.factories.alerts import AlertRuleFactory
from tests.factories.ledger import PipelineFactory, RunFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def _answers(read_token, read_client, now) -> dict:
    """What each surface says of the pipeline `load_orders`."""
    check = run_check("pipeline_run_failed", now)
    rule = AlertRuleFactory(kind="run_failed")
    firing = evaluator(rule.kind).firing([rule], now)
    (row,) = read_client.get("/api/v1/ledger/pipelines?name=load_orders").json()["results"]
    body = Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics").content.decode()
    (success,) = [
        s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
        if s.name == "opshealth_pipeline_last_run_success" and s.labels == {"pipeline": "load_orders"}
    ]
    return {
        "check": [(i.subject, i.detail["run"]) for i in check.items],
        "alert": [(f.subject, f.evidence["failing_runs"][0]["run"]) for f in firing],
        "api": (row["latest_outcome"]["status"], row["latest_outcome"]["run_id"]),
        "metrics": success,
    }


def test_a_failure_followed_by_an_aborted_run_is_failing_everywhere(read_token, read_client):
    now = timezone.now()
    pipe = PipelineFactory(name="load_orders")
    failed = RunFactory(pipeline=pipe, status=Run.FAILED, started_at=now - 3 * HOUR)
    RunFactory(pipeline=pipe, status=Run.ABORTED, started_at=now - 2 * HOUR, error_type="SkippedOverlap")
    RunFactory(pipeline=pipe, status=Run.RUNNING, started_at=now - HOUR)

    assert _answers(read_token, read_client, now) == {
        "check": [("load_orders", failed.external_run_id)],
        "alert": [("load_orders", failed.external_run_id)],
        "api": ("failed", str(failed.run_id)),
        "metrics": 0,
    }


def test_a_success_followed_by_an_aborted_run_is_healthy_everywhere(read_token, read_client):
    now = timezone.now()
    pipe = PipelineFactory(name="load_orders")
    RunFactory(pipeline=pipe, status=Run.FAILED, started_at=now - 3 * HOUR)
    passed = RunFactory(pipeline=pipe, status=Run.SUCCESS, started_at=now - 2 * HOUR)
    RunFactory(pipeline=pipe, status=Run.ABORTED, started_at=now - HOUR)

    assert run_check("pipeline_run_failed", now).status == OK
    assert _answers(read_token, read_client, now) == {
        "check": [],
        "alert": [],
        "api": ("success", str(passed.run_id)),
        "metrics": 1,
    }


def test_the_api_shows_the_newest_run_beside_the_latest_outcome(read_client):
    now = timezone.now()
    pipe = PipelineFactory(name="load_orders")
    RunFactory(pipeline=pipe, status=Run.FAILED, started_at=now - 2 * HOUR)
    aborted = RunFactory(pipeline=pipe, status=Run.ABORTED, started_at=now - HOUR)
    PipelineFactory(name="never_decided")
    RunFactory(pipeline=PipelineFactory(name="only_aborted"), status=Run.ABORTED, started_at=now)

    rows = {p["name"]: p for p in read_client.get("/api/v1/ledger/pipelines").json()["results"]}

    assert (rows["load_orders"]["latest_run"]["run_id"], rows["load_orders"]["latest_run"]["status"]) == (
        str(aborted.run_id),
        "aborted",
    )
    assert rows["load_orders"]["latest_outcome"]["status"] == "failed"
    assert rows["never_decided"]["latest_outcome"] is None
    assert rows["only_aborted"]["latest_outcome"] is None
    assert run_check("pipeline_run_failed", now).status == ERROR


def test_the_runs_tab_lists_a_pipeline_failing_behind_an_aborted_run_first(viewer_user):
    now = timezone.now()
    RunFactory(pipeline=PipelineFactory(name="a_healthy"), status=Run.SUCCESS, started_at=now - HOUR)
    behind = PipelineFactory(name="z_failing")
    RunFactory(pipeline=behind, status=Run.FAILED, started_at=now - 2 * HOUR)
    RunFactory(pipeline=behind, status=Run.ABORTED, started_at=now - HOUR)
    request = RequestFactory().get("/ops/health", {"tab": "runs"})
    request.user = viewer_user

    pipelines = Runs().context(request, None)["pipelines"]

    assert [str(p) for p, _state in pipelines] == ["z_failing", "a_healthy"]


def test_the_runs_tab_shows_the_latest_outcome_and_the_newer_run_beside_it(viewer_user):
    now = timezone.now()
    RunFactory(pipeline=PipelineFactory(name="a_healthy"), status=Run.SUCCESS, started_at=now - HOUR)
    behind = PipelineFactory(name="b_failing")
    RunFactory(pipeline=behind, status=Run.FAILED, started_at=now - 3 * HOUR)
    RunFactory(pipeline=behind, status=Run.ABORTED, started_at=now - 2 * HOUR, error_type="SkippedOverlap")
    busy = PipelineFactory(name="c_busy")
    RunFactory(pipeline=busy, status=Run.SUCCESS, started_at=now - 2 * HOUR)
    RunFactory(pipeline=busy, status=Run.RUNNING, started_at=now - HOUR)
    RunFactory(pipeline=PipelineFactory(name="d_undecided"), status=Run.ABORTED, started_at=now - HOUR)
    PipelineFactory(name="e_idle")
    client = Client()
    client.force_login(viewer_user)

    html = client.get("/ops/health", {"tab": "runs"}).content.decode()

    table = html[html.index("<th>schedule</th>") :]  # the table of every pipeline
    rows = {
        name: " ".join(re.sub(r"<[^>]+>", " ", row).split())
        for row in table.split("<tr>")[1:]
        for name in ("a_healthy", "b_failing", "c_busy", "d_undecided", "e_idle")
        if f"<td>{name}" in row
    }
    assert rows["b_failing"].startswith("b_failing failed · then aborted")
    assert rows["a_healthy"].startswith("a_healthy success 20")  # no newer run to name
    assert rows["c_busy"].startswith("c_busy success · then running")
    assert rows["d_undecided"].startswith("d_undecided no outcome yet · aborted")
    assert rows["e_idle"].startswith("e_idle never ran")
    assert list(rows) == ["b_failing", "a_healthy", "c_busy", "d_undecided", "e_idle"]  # failing first
