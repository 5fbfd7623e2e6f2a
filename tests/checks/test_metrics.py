"""/metrics: Prometheus text format, behind a read token or a session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from checks.evaluate import evaluate
from ledger.models import ApiToken, Run
from tests.factories.ledger import PipelineFactory, RunFactory, WatermarkFactory

pytestmark = pytest.mark.django_db


def _samples(body: bytes) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_metrics_need_a_read_token_or_a_session(read_token, viewer_user):
    assert Client().get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 401
    _, revoked = ApiToken.issue("old", ApiToken.SCOPE_READ)
    ApiToken.objects.filter(name="old").update(revoked_at=timezone.now())
    assert Client(HTTP_AUTHORIZATION=f"Bearer {revoked}").get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics").status_code == 200
    session = Client()
    session.force_login(viewer_user)
    assert session.get("/metrics").status_code == 200


def test_metrics_expose_global_and_check_status_pipelines_and_watermark_ages(read_token):
    now = timezone.now()
    flaky = PipelineFactory(name="flaky")
    for i, status in enumerate([Run.SUCCESS, Run.FAILED, Run.SUCCESS, Run.FAILED]):
        RunFactory(pipeline=flaky, status=status, started_at=now - timedelta(hours=4 - i))
    WatermarkFactory(asset_key="raw.orders", watermark_ts=now - timedelta(hours=2))
    evaluate()
    response = Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics")
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content)
    assert samples[("opshealth_global_status", ())] == 2  # the latest flaky run failed: ERROR
    assert (
        samples[("opshealth_check_status", (("check_key", "pipeline_run_failed"), ("severity", "error")))]
        == 2
    )
    assert (
        samples[("opshealth_check_status", (("check_key", "mv_not_populated"), ("severity", "error")))] == 0
    )
    assert samples[("opshealth_health_band", (("band", "healthy"),))] == 1
    assert samples[("opshealth_pipeline_last_run_success", (("pipeline", "flaky"),))] == 0
    assert samples[("opshealth_pipeline_flip_rate", (("pipeline", "flaky"),))] == 1.0
    age = samples[("opshealth_watermark_age_seconds", (("asset_key", "raw.orders"), ("scope_key", "")))]
    assert 7190 < age < 7300


def test_metrics_before_any_evaluation_expose_the_ledger_only(read_token):
    samples = _samples(Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics").content)
    assert not any(name == "opshealth_global_status" for name, _ in samples)


def test_metrics_flip_rate_is_the_flaky_rankings(read_token, read_client):
    # 25 runs, an aborted one among them: /metrics once counted the last 20 finished runs,
    # aborted included, where /ledger/flaky counts success/failed runs over its window.
    now = timezone.now()
    pipeline = PipelineFactory(name="wobbly")
    codes = [Run.SUCCESS, Run.FAILED, Run.SUCCESS, Run.SUCCESS, Run.ABORTED] * 5
    for i, status in enumerate(codes):
        RunFactory(pipeline=pipeline, status=status, started_at=now - timedelta(hours=len(codes) - i))
    flaky = read_client.get("/api/v1/ledger/flaky").json()
    (row,) = [p for p in flaky["pipelines"] if p["pipeline"] == "wobbly"]

    samples = _samples(Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics").content)

    assert samples[("opshealth_pipeline_flip_rate", (("pipeline", "wobbly"),))] == row["flip_rate"]


def test_metrics_last_run_is_the_latest_outcome(read_token):
    now = timezone.now()
    pipeline = PipelineFactory(name="nightly")
    RunFactory(pipeline=pipeline, status=Run.FAILED, started_at=now - timedelta(hours=3))
    RunFactory(pipeline=pipeline, status=Run.SUCCESS, started_at=now - timedelta(hours=2))
    RunFactory(pipeline=pipeline, status=Run.RUNNING, started_at=now - timedelta(hours=1))

    samples = _samples(Client(HTTP_AUTHORIZATION=f"Bearer {read_token}").get("/metrics").content)

    assert samples[("opshealth_pipeline_last_run_success", (("pipeline", "nightly"),))] == 1
