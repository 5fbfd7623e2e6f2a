"""The ops and health API contracts: shapes, permissions, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from checks.evaluate import evaluate
from checks.health import CHECKS
from checks.models import Evaluation
from ledger.models import Run
from registry.models import RegistryObject
from tests.checks.conftest import link
from tests.factories.ledger import PipelineFactory, RunAssetFactory, RunFactory, WatermarkFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
READ_ENDPOINTS = [
    "/api/v1/ops/health-checks",
    "/api/v1/ops/health-checks/mv_refresh_failed",
    "/api/v1/ops/health-global",
    "/api/v1/ops/raw-health/status",
    "/api/v1/ops/raw-health/freshness",
    "/api/v1/ops/raw-health/ingestion-daily",
    "/api/v1/ops/mv-health",
    "/api/v1/health/status",
    "/api/v1/health/latest-report",
    "/api/v1/health/violations",
    "/api/v1/health/metrics",
]
CHECK_ROW = {
    "check_key",
    "severity",
    "status",
    "message",
    "drilldown_url",
    "last_evaluated_at",
    "offending_count",
    "info_count",
    "description",
}


@pytest.fixture
def platform(db):
    """A small platform with something failing: a failed MV refresh, a stale raw table
    feeding it, a failed pipeline, an unmonitored healthy table."""
    source = SourceFactory(is_active=False)
    raw = RegistryObjectFactory(
        source=source, schema_name="raw", object_name="web_sessions", layer="RAW", should_monitor=True
    )
    ok = RegistryObjectFactory(
        source=source, schema_name="raw", object_name="orders", layer="RAW", should_monitor=True
    )
    mv = RegistryObjectFactory(
        source=source,
        schema_name="mart",
        object_name="session_funnel",
        object_type="matview",
        layer="MV",
        criticality="critical",
        should_monitor=True,
        is_populated=True,
    )
    DependencyFactory(upstream=raw, downstream=mv)
    for obj in (raw, ok, mv):
        link(obj)
    now = timezone.now()
    WatermarkFactory(asset_key="raw.web_sessions", watermark_ts=now - 60 * HOUR)
    WatermarkFactory(asset_key="raw.orders", watermark_ts=now - HOUR)
    load = RunFactory(pipeline=PipelineFactory(name="load_raw"), status=Run.FAILED, started_at=now - HOUR)
    RunAssetFactory(run=load, asset_key="raw.orders", rows_inserted=10, ended_at=now - HOUR)
    refresh = RunFactory(pipeline=PipelineFactory(name="opshealth.refresh_matviews"), started_at=now - HOUR)
    RunAssetFactory(
        run=refresh,
        asset_key="mart.session_funnel",
        kind="matview",
        status="failed",
        error_message="boom",
        ended_at=now - HOUR,
        duration_ms=12,
    )
    evaluate()
    return {"raw": raw, "ok": ok, "mv": mv}


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_reads_need_authentication(anon_client, url, db):
    response = anon_client.get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_reads_are_open_to_viewers_and_read_tokens(viewer_client, read_client, platform, url):
    assert viewer_client.get(url).status_code == 200
    assert read_client.get(url).status_code == 200
    assert read_client.get(url + "/").status_code == 200  # trailing slash optional


def test_health_checks_lists_every_check_of_the_latest_evaluation(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/health-checks").json()
    assert set(body) == {"evaluated_at", "global_status", "checks"}
    assert [c["check_key"] for c in body["checks"]] == sorted(CHECKS)
    assert all(set(c) == CHECK_ROW for c in body["checks"])
    failed = next(c for c in body["checks"] if c["check_key"] == "mv_refresh_failed")
    assert (failed["status"], failed["severity"], failed["offending_count"]) == ("ERROR", "error", 1)
    assert failed["drilldown_url"] == "/ops/health?tab=checks&check=mv_refresh_failed"
    # The drilldown answers, with the offending item (the dashboard page; the API's is beside it).
    assert "mart.session_funnel" in viewer_client.get(failed["drilldown_url"]).content.decode()
    drilldown = viewer_client.get("/api/v1/ops/health-checks/mv_refresh_failed").json()
    assert drilldown["count"] == 1 and drilldown["results"][0]["check_key"] == "mv_refresh_failed"


def test_health_check_detail_is_the_drilldown_with_its_offending_items(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/health-checks/raw_source_stale_affecting_critical").json()
    assert set(body) == {"check", "count", "next", "previous", "results"}
    assert body["check"]["status"] == "ERROR" and body["count"] == 1
    [item] = body["results"]
    assert set(item) == {
        "id",
        "check_key",
        "level",
        "subject_type",
        "subject",
        "object_id",
        "detail",
        "evaluated_at",
    }
    assert (item["subject"], item["object_id"]) == ("raw.web_sessions", platform["raw"].pk)
    assert item["detail"]["affects_critical"] == ["mart.session_funnel"]
    assert item["detail"]["decided_by"] == "watermark"


def test_health_check_detail_rejects_unknown_keys_and_levels(viewer_client, platform):
    assert viewer_client.get("/api/v1/ops/health-checks/nope").status_code == 404
    response = viewer_client.get("/api/v1/ops/health-checks/mv_refresh_failed?level=BAD")
    assert response.status_code == 400 and "level" in response.json()


def test_health_global_carries_counts_score_band_and_explanation(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/health-global").json()
    assert set(body) == {
        "global_status",
        "error_count",
        "warn_count",
        "ok_count",
        "calculated_at",
        "health_score",
        "band",
        "thresholds",
        "monitored_count",
        "failing_monitored_count",
        "explanation",
        "evaluated_global_status",
        "scheduler",
    }
    assert body["global_status"] == "ERROR"
    assert body["error_count"] + body["warn_count"] + body["ok_count"] == len(CHECKS)
    assert body["thresholds"] == {"healthy": 99.0, "degraded": 95.0}
    # web_sessions (stale) and session_funnel (failed refresh) fail; orders does not
    assert (body["monitored_count"], body["failing_monitored_count"]) == (3, 2)
    assert body["health_score"] == 33.33 and body["band"] == "critical"
    contributing = body["explanation"]["contributing"]
    assert contributing[0]["status"] == "ERROR"
    assert set(contributing[0]) == {
        "check_key",
        "severity",
        "status",
        "message",
        "offending_count",
        "drilldown_url",
    }
    actions = {g["check_key"]: g["action"] for g in body["explanation"]["to_turn_green"]}
    assert actions["mv_refresh_failed"] == "Fix and re-run the failed refreshes: mart.session_funnel."
    assert actions["pipeline_run_failed"] == "Fix and re-run the failed pipelines: load_raw."


def test_snapshots_show_each_new_evaluation_and_render_for_the_browser(viewer_client, platform):
    first = viewer_client.get("/api/v1/ops/health-global").json()
    report = viewer_client.get("/api/v1/health/latest-report").json()

    later = evaluate(now=timezone.now() + timedelta(minutes=5))

    body = viewer_client.get("/api/v1/ops/health-global").json()
    assert body["calculated_at"] != first["calculated_at"]
    assert body == viewer_client.get("/api/v1/ops/health-global").json()
    assert viewer_client.get("/api/v1/health/latest-report").json()["evaluation_id"] == later.pk
    assert report["evaluation_id"] != later.pk
    html = viewer_client.get("/api/v1/ops/health-global", HTTP_ACCEPT="text/html")
    assert html["Content-Type"].startswith("text/html") and b"health_score" in html.content


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/ops/health-global",
        "/api/v1/ops/health-checks",
        "/api/v1/ops/health-checks/mv_refresh_failed",
        "/api/v1/health/status",
        "/api/v1/health/latest-report",
        "/api/v1/health/violations",
        "/api/v1/health/metrics",
    ],
)
def test_a_get_never_evaluates_before_the_first_evaluation_it_is_a_404(viewer_client, db, url):
    # A GET used to run the first evaluation inside the request, connecting to every source.
    response = viewer_client.get(url)

    assert response.status_code == 404
    assert response.json()["detail"].startswith("No evaluation yet")
    assert not Evaluation.objects.exists()


def test_raw_health_status_gives_each_raw_object_its_staleness(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/raw-health/status").json()
    assert body["counts"] == {"ok": 1, "stale": 1, "no_signal": 0}
    assert body["count"] == 2 and body["next"] is None
    rows = {r["object_name"]: r for r in body["results"]}
    assert rows["web_sessions"]["status"] == "STALE"
    assert rows["orders"]["status"] == "OK" and rows["orders"]["decided_by"] in ("watermark", "run_asset")
    assert set(rows["orders"]) == {
        "object_id",
        "schema_name",
        "object_name",
        "layer",
        "status",
        "decided_by",
        "last_signal_at",
        "age_hours",
        "allowed_hours",
        "allowed_by",
        "watermark_at",
        "last_write_at",
        "last_refresh_at",
    }
    assert viewer_client.get("/api/v1/ops/raw-health/status?limit=1").json()["next"] is not None


def test_raw_health_freshness_lists_watermarks_with_age_against_the_allowed_age(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/raw-health/freshness").json()
    assert [(r["asset_key"], r["is_stale"]) for r in body["results"]] == [
        ("raw.web_sessions", True),
        ("raw.orders", False),
    ]
    assert body["results"][0]["allowed_hours"] == 24 and body["results"][0]["age_hours"] == 60


def test_raw_health_ingestion_daily_aggregates_run_assets_per_day(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/raw-health/ingestion-daily?days=7").json()
    assert body["days"] == 7
    [row] = body["results"]
    assert (row["object_name"], row["runs"], row["failed"], row["rows_inserted"]) == ("orders", 1, 0, 10)
    response = viewer_client.get("/api/v1/ops/raw-health/ingestion-daily?days=0")
    assert response.status_code == 400 and "days" in response.json()
    assert viewer_client.get("/api/v1/ops/raw-health/ingestion-daily?days=abc").status_code == 400


def test_mv_health_reports_last_refresh_and_status(viewer_client, platform):
    body = viewer_client.get("/api/v1/ops/mv-health?limit=5").json()
    [row] = body["results"]
    assert row["status"] == "FAILED" and row["last_refresh_error"] == "boom"
    assert row["last_refresh_status"] == "failed" and row["last_refresh_duration_ms"] == 12
    assert row["is_critical"] is True and row["is_populated"] is True
    assert row["upstream"] == "raw.web_sessions"


def test_health_status_follows_the_integrity_checker_contract(viewer_client, platform):
    body = viewer_client.get("/api/v1/health/status").json()
    assert set(body) == {
        "status",
        "global_status",
        "last_check",
        "consistency_rate",
        "total_violations",
        "requires_attention",
        "thresholds",
        "violations",
    }
    assert body["status"] == "critical" and body["requires_attention"] is True
    assert body["total_violations"] == len(body["violations"]) or len(body["violations"]) == 20
    assert body["violations"][0]["level"] == "ERROR"  # worst first


def test_latest_report_and_violations(viewer_client, platform):
    report = viewer_client.get("/api/v1/health/latest-report").json()
    assert report["total_checked"] == 3 and report["consistent"] == 1 and report["inconsistent"] == 2
    assert report["violations_truncated"] is False
    assert len(report["violations"]) == report["total_violations"]
    listed = viewer_client.get("/api/v1/health/violations?check_key=mv_refresh_failed").json()
    assert listed["count"] == 1 and listed["results"][0]["subject"] == "mart.session_funnel"
    older = viewer_client.get(f"/api/v1/health/violations?evaluation={report['evaluation_id']}").json()
    assert older["count"] == report["total_violations"]
    assert viewer_client.get("/api/v1/health/violations?evaluation=x").status_code == 400
    assert viewer_client.get("/api/v1/health/violations?evaluation=999999").status_code == 404


def test_health_metrics_gives_the_trend_over_a_window(viewer_client, platform):
    RegistryObject.objects.filter(pk=platform["mv"].pk).update(should_monitor=False)
    evaluate()
    body = viewer_client.get("/api/v1/health/metrics?hours=24").json()
    assert body["evaluations"] == 2 and len(body["trend"]) == 2
    assert body["evaluations_by_global_status"] == {"ERROR": 2}
    assert body["min_consistency_rate"] == 33.33
    assert body["check_statuses"]["mv_refresh_failed"] == "ERROR"
    assert viewer_client.get("/api/v1/health/metrics?hours=0").status_code == 400


def test_check_now_is_staff_only(anon_client, viewer_client, read_client, ingest_client, db):
    assert anon_client.post("/api/v1/health/check-now").status_code == 401
    assert viewer_client.post("/api/v1/health/check-now").status_code == 403
    assert read_client.post("/api/v1/health/check-now").status_code == 403
    assert ingest_client.post("/api/v1/health/check-now").status_code == 403
    assert not Evaluation.objects.exists()


def test_check_now_runs_an_evaluation_and_returns_the_report(staff_client, platform):
    before = Evaluation.objects.count()
    body = staff_client.post("/api/v1/health/check-now").json()
    assert Evaluation.objects.count() == before + 1
    assert body["evaluation_id"] == Evaluation.latest().pk and body["global_status"] == "ERROR"
    assert {c["check_key"] for c in body["checks"]} == set(CHECKS)
    assert Evaluation.latest().trigger == "api"


def test_check_now_with_an_admin_token(admin_token_client, platform):
    assert admin_token_client.post("/api/v1/health/check-now").status_code == 200
    assert Evaluation.latest().trigger == "api"


def test_writes_to_read_endpoints_are_refused(anon_client, viewer_client, staff_client, platform):
    # The method is judged first: a POST to a GET-only endpoint is a 405 for everyone.
    for client in (anon_client, viewer_client, staff_client):
        assert client.post("/api/v1/ops/health-global").status_code == 405


def test_a_get_on_a_post_only_endpoint_is_a_405(anon_client, viewer_client, read_client, db):
    for client in (anon_client, viewer_client, read_client):
        assert client.get("/api/v1/health/check-now").status_code == 405


def test_a_database_error_is_an_opaque_500(viewer_client, platform, caplog):
    # A real error: the table the staleness query reads is gone (rolled back with the test).
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_watermark RENAME TO ledger_watermark_gone")
    response = viewer_client.get("/api/v1/ops/raw-health/status")
    assert response.status_code == 500 and response.json() == {"detail": "database_error"}
    assert "ledger_watermark" in caplog.text  # the traceback is logged server-side


def test_schema_documents_the_contracts(staff_client, db):
    schema = staff_client.get("/api/schema/?format=json").json()
    for url in [*READ_ENDPOINTS, "/api/v1/health/check-now"]:
        path = url.replace("/mv_refresh_failed", "/{check_key}") + "/"
        assert path in schema["paths"], path
    component = schema["components"]["schemas"]["HealthGlobalResponse"]
    assert "explanation" in component["properties"]


def test_a_token_records_its_last_use_at_most_once_a_minute(read_client, read_token, platform):
    # one UPDATE per request serialized concurrent clients on the token row (bench/health.py)
    from ledger.models import ApiToken

    token = ApiToken.objects.get(token_hash=ApiToken.hash(read_token))
    assert token.last_used_at is None
    read_client.get("/api/v1/health/status")
    first = ApiToken.objects.get(pk=token.pk).last_used_at
    read_client.get("/api/v1/health/status")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    read_client.get("/api/v1/health/status")
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first


def test_snapshot_reads_are_a_constant_number_of_queries(viewer_client, platform, django_assert_num_queries):
    for i in range(30):
        RegistryObjectFactory(
            schema_name="raw",
            object_name=f"gone{i}",
            is_expected=True,
            exists_in_db=False,
            source=platform["raw"].source,
        )
    evaluate()
    # session, user, latest evaluation's id, the evaluation, its results
    with django_assert_num_queries(5):
        first = viewer_client.get("/api/v1/ops/health-checks").json()
    assert len(first["checks"]) == len(CHECKS)
    # then served rendered from the cache: session, user, latest evaluation's id
    with django_assert_num_queries(3):
        assert viewer_client.get("/api/v1/ops/health-checks").json() == first
    # session, user, latest evaluation, COUNT, the page (evaluation joined)
    with django_assert_num_queries(5):
        assert viewer_client.get("/api/v1/health/violations?limit=100").json()["count"] > 30
