"""`manage.py demo_activity` on a freshly built demo platform: every check has
something real to show, with at least one OK, one WARN and one ERROR."""

from __future__ import annotations

import io
import os

import psycopg
import pytest
from django.core.management import call_command
from psycopg import sql

from checks.alerts.models import Incident
from checks.datachecks.models import DataCheck
from checks.models import Evaluation
from ledger.models import Run
from opshealth.demo import warehouse

DATABASE = f"test_demo_activity_{os.getpid()}"


@pytest.fixture(scope="module", autouse=True)
def _drop_demo_database():
    yield
    with psycopg.connect(warehouse.demo_dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def test_demo_activity_shows_ok_warn_and_error_with_the_planned_stories(db, tmp_path):
    call_command(
        "demo",
        no_serve=True,
        database=DATABASE,
        credentials_file=str(tmp_path / "pw"),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    out = io.StringIO()
    call_command("demo_activity", stdout=out)
    evaluation = Evaluation.latest()
    statuses = dict(evaluation.results.values_list("check_key", "status"))
    assert {"OK", "WARN", "ERROR"} <= set(statuses.values())
    subjects = {(v.check_key, v.subject) for v in evaluation.violations.exclude(level="INFO")}
    assert {
        ("mv_refresh_failed", "mart.customer_ltv"),
        ("mv_not_populated", "mart.customer_ltv"),
        ("mv_refresh_stale", "mart.product_performance"),
        ("raw_source_stale_affecting_critical", "raw.web_sessions"),
        ("pipeline_run_failed", "sync_fx_rates"),
        ("pipeline_overdue", "load_inventory"),
        ("data_check_failed", "canon.payments: unique(payment_id)"),
        # OpsHealth's own data checks, from demo/app/opshealth.yml
        ("data_check_failed", "raw.payments: demo/payments_unique_payment_id"),
        ("data_check_failed", "raw.payments: demo/payments_no_negative_amount"),
        ("health_view_source_unknown", "raw.clickstream_legacy"),
        ("monitored_not_in_health_views", "public.audit_trail"),
        ("used_object_missing", "mart.v_churn_forecast"),
        ("used_column_missing", "mart.daily_sales.revenue"),
        ("unregistered_used_object", "ops.job_log"),
    } <= subjects
    columns = {v.subject: v for v in evaluation.violations.filter(check_key="used_column_missing")}
    assert {s: v.level for s, v in columns.items()} == {
        "mart.daily_sales.revenue": "ERROR",  # GET /revenue/daily fails
        "mart.v_revenue_by_day.revenue": "WARN",  # only a script would call revenue_with_fx()
    }
    assert columns["mart.daily_sales.revenue"].detail["location"] == "services/revenue.py:10"
    assert columns["mart.daily_sales.revenue"].detail["route"] == "GET /revenue/daily"
    # the flaky pipeline recovered: it is not failing, but its history flips
    latest = Run.objects.filter(pipeline__name="load_customers").order_by("-started_at").first()
    assert latest.status == Run.SUCCESS
    assert Run.objects.filter(pipeline__name="load_customers", status=Run.FAILED).count() >= 5
    assert "global ERROR" in out.getvalue()
    # A past for the dashboard's trend: one evaluation a day, each judged at its time (the
    # RAW table that stopped loading three days ago was fresh ten days ago), made once.
    assert len(Evaluation.objects.dates("evaluated_at", "day")) == 11
    oldest = Evaluation.objects.order_by("evaluated_at").first()
    assert not oldest.violations.filter(check_key="raw_source_stale_affecting_critical").exists()
    outcomes = {c.name: c.last_result.status for c in DataCheck.objects.select_related("last_result")}
    assert outcomes == {
        "payments_unique_payment_id": "fail",
        "payments_no_negative_amount": "fail",
        "payments_accepted_method": "pass",
        "payments_order_exists": "pass",
        "orders_not_null_customer": "pass",
        "orders_row_count": "pass",
        "orders_paid_without_payment": "pass",
        "fx_rates_gap_days_last_30": "fail",
        "fx_rates_monotonic_date": "pass",
        "web_sessions_fresh": "fail",
    }
    duplicates = DataCheck.objects.get(name="payments_unique_payment_id").last_result.metrics
    assert (duplicates["observed"], len(duplicates["samples"]["rows"])) == (12, 5)
    # alerting: rules and channels, an open, an acknowledged and a suppressed incident
    unresolved = Incident.objects.unresolved()
    assert unresolved.filter(state=Incident.OPEN, quiet_reason="").exists()
    assert (
        unresolved.get(subject="sync_fx_rates", rule__name="Pipeline failed").state == Incident.ACKNOWLEDGED
    )
    assert unresolved.filter(suppressed_by__isnull=False, quiet_reason="upstream").exists()
    assert "alerts: " in out.getvalue()
    # idempotent: a second run adds an evaluation, not a second history
    runs = Run.objects.exclude(pipeline__name__startswith="opshealth.").count()
    call_command("demo_activity", stdout=io.StringIO())
    assert Run.objects.exclude(pipeline__name__startswith="opshealth.").count() == runs
