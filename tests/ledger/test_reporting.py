"""ops_reporting views, the read-only role, and the Grafana dashboards' SQL."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ledger.models import LATEST_OUTCOME_FIELDS, Pipeline
from tests.factories.ledger import (
    CheckResultFactory,
    ClientFactory,
    PipelineFactory,
    RunAssetFactory,
    RunFactory,
    WatermarkFactory,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
ROLE = "opshealth_reporting_test"


@pytest.fixture
def populated(db, make_runs):
    now = timezone.now()
    acme = ClientFactory(name="acme")
    flappy = PipelineFactory(namespace="", name="flappy", client=acme, max_duration=timedelta(hours=1))
    down = PipelineFactory(namespace="dbt", name="down")
    PipelineFactory(namespace="", name="never_ran")
    runs = make_runs(flappy, "SFSFSSFSFSSF" + "S", start=now - timedelta(days=6), every=timedelta(hours=10))
    make_runs(down, "SSFFFF", start=now - timedelta(days=3), every=timedelta(hours=6))
    make_runs(PipelineFactory(namespace="", name="busy"), "R", start=now - timedelta(minutes=5))
    RunAssetFactory(run=runs[-1], asset_key="raw.orders")
    WatermarkFactory(asset_key="raw.orders", watermark_ts=now - timedelta(hours=3), last_run=runs[-1])
    CheckResultFactory(run=runs[1], status="fail", checked_at=now - timedelta(days=1), message="nulls")
    CheckResultFactory(run=runs[0], status="pass", checked_at=now - timedelta(days=2))
    return {"flappy": flappy, "down": down}


@pytest.fixture
def reporting_role(db):
    call_command("reporting_role", "--name", ROLE, stdout=io.StringIO())
    return ROLE


def as_role(role: str, sql: str, params=None) -> list[tuple]:
    """Run `sql` with the privileges of `role` (inside the test's transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # On an error the savepoint's rollback also undoes SET LOCAL ROLE.
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        cursor.execute("RESET ROLE")
        return rows


def documented_columns() -> dict[str, list[str]]:
    """Column names per view, from the tables of docs/reporting.md."""
    views, current = {}, None
    for line in (ROOT / "docs" / "reporting.md").read_text().splitlines():
        if m := re.match(r"### `ops_reporting\.(\w+)`", line):
            current = views.setdefault(m.group(1), [])
        elif current is not None and (m := re.match(r"\| `(\w+)` \|", line)):
            current.append(m.group(1))
    return views


def test_every_view_is_documented_column_by_column(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
            "FROM information_schema.columns WHERE table_schema = 'ops_reporting' GROUP BY table_name"
        )
        actual = dict(cursor.fetchall())
    assert set(actual) >= {
        "v1_runs",
        "v1_latest_run_per_pipeline",
        "v1_runs_daily",
        "v1_failure_rate",
        "v1_mttr",
        "v1_flaky_ranking",
        "v1_watermarks",
        "v1_check_results",
        "v2_latest_outcome_per_pipeline",
    }
    assert documented_columns() == actual


def test_views_agree_with_the_api_analytics(populated):
    from ledger import analytics

    since = timezone.now() - timedelta(days=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pipeline, sample_size, flips, flip_rate::float8, retry_successes, failure_streak, "
            "classification FROM ops_reporting.v1_flaky_ranking ORDER BY pipeline"
        )
        view = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("SELECT pipeline, runs_30d, failed_30d FROM ops_reporting.v1_failure_rate")
        rates = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("SELECT pipeline, incidents, recovered, mttr_seconds FROM ops_reporting.v1_mttr")
        mttr = {row[0]: row[1:] for row in cursor.fetchall()}
    api = {
        r.pipeline: (
            r.sample_size,
            r.flips,
            r.flip_rate,
            r.retry_successes,
            r.failure_streak,
            r.classification,
        )
        for r in analytics.flaky_ranking(since, analytics.FlakyCriteria(10, 0.3, 2, 3))
    }
    assert view == api
    assert view["flappy"][-1] == "flaky" and view["dbt/down"][-1] == "broken"
    assert rates["flappy"] == (13, 5)
    _, per_pipeline = analytics.mean_time_to_recovery(since)
    assert {r.pipeline: (r.incidents, r.recovered, r.mttr_seconds) for r in per_pipeline} == {
        k: (v[0], v[1], round(v[2], 3) if v[2] is not None else None) for k, v in mttr.items()
    }


def test_latest_run_per_pipeline_includes_pipelines_that_never_ran(populated):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pipeline, status FROM ops_reporting.v1_latest_run_per_pipeline")
        latest = dict(cursor.fetchall())
    assert latest == {"flappy": "success", "dbt/down": "failed", "never_ran": None, "busy": "running"}


def test_latest_run_per_pipeline_is_the_ledgers_one_definition_of_the_newest_run(populated):
    """The view keeps its own frozen copy of `Pipeline.objects.with_latest_run()` (see the
    migration): both pick the newest run by start time, then id, and ignore runs that
    have no start time yet."""
    tied = timezone.now() - timedelta(hours=1)
    tie = PipelineFactory(namespace="", name="tie")
    RunFactory(pipeline=tie, started_at=tied, status="failed")
    RunFactory(pipeline=tie, started_at=tied, status="aborted")  # same start: the higher id wins
    RunFactory(pipeline=tie, started_at=None, status="running")  # no start time: never the newest
    unstarted = PipelineFactory(namespace="", name="unstarted")
    RunFactory(pipeline=unstarted, started_at=None, status="running")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pipeline_id, run_id, status, started_at, ended_at "
            "FROM ops_reporting.v1_latest_run_per_pipeline"
        )
        view = {row[0]: row[1:] for row in cursor.fetchall()}
    ledger = {
        p.pk: (p.latest_run_id, p.latest_status, p.latest_started_at, p.latest_ended_at)
        for p in Pipeline.objects.with_latest_run()
    }
    assert view == ledger
    assert view[tie.pk][1] == "aborted"
    assert view[unstarted.pk] == (None, None, None, None)


def test_latest_outcome_per_pipeline_is_the_ledgers_one_definition_of_the_latest_outcome(populated):
    """v2's frozen copy of `Pipeline.objects.with_latest_outcome()` (see the migration): both
    read back past aborted and unfinished runs to the newest success-or-failed run, by start
    time then id, and ignore runs that have no start time yet."""
    now = timezone.now()
    behind = PipelineFactory(namespace="", name="behind")
    failed = RunFactory(pipeline=behind, started_at=now - timedelta(hours=3), status="failed")
    RunFactory(pipeline=behind, started_at=now - timedelta(hours=2), status="aborted")
    RunFactory(pipeline=behind, started_at=now - timedelta(hours=1), status="running")
    tie = PipelineFactory(namespace="", name="tie")
    RunFactory(pipeline=tie, started_at=now - timedelta(hours=1), status="failed")
    RunFactory(pipeline=tie, started_at=now - timedelta(hours=1), status="success")  # the higher id wins
    RunFactory(pipeline=tie, started_at=None, status="failed")  # no start time: never an outcome
    RunFactory(pipeline=PipelineFactory(namespace="", name="only_aborted"), started_at=now, status="aborted")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT pipeline_id, {', '.join(LATEST_OUTCOME_FIELDS)} "
            "FROM ops_reporting.v2_latest_outcome_per_pipeline"
        )
        view = {row[0]: row[1:] for row in cursor.fetchall()}
        cursor.execute("SELECT pipeline, status FROM ops_reporting.v1_latest_run_per_pipeline")
        newest = dict(cursor.fetchall())
    ledger = {
        p.pk: tuple(getattr(p, f"latest_outcome_{field}") for field in LATEST_OUTCOME_FIELDS)
        for p in Pipeline.objects.with_latest_outcome()
    }
    assert view == ledger
    assert (newest["behind"], view[behind.pk][:2]) == ("running", (failed.run_id, "failed"))
    assert view[tie.pk][1] == "success"
    names = dict(Pipeline.objects.values_list("pk", "name"))
    assert {names[pk]: row[1] for pk, row in view.items()} == {
        "flappy": "success",
        "down": "failed",
        "never_ran": None,
        "busy": None,
        "behind": "failed",
        "tie": "success",
        "only_aborted": None,
    }


@pytest.mark.django_db(transaction=True)
def test_the_v2_view_is_granted_to_whoever_reads_the_v1_views():
    """A reporting role made before the v2 migration, by a user whose default privileges do
    not cover the migrating user's new views, reads the v2 view all the same."""
    call_command("reporting_role", "--name", ROLE, stdout=io.StringIO())
    try:
        call_command("migrate", "ledger", "0006", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                f'ALTER DEFAULT PRIVILEGES IN SCHEMA ops_reporting REVOKE SELECT ON TABLES FROM "{ROLE}"'
            )
        call_command("migrate", "ledger", verbosity=0)
        assert as_role(ROLE, "SELECT count(*) FROM ops_reporting.v2_latest_outcome_per_pipeline") == [(0,)]
    finally:
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{ROLE}"')
            cursor.execute(f'DROP ROLE "{ROLE}"')


def grafana_sql(raw: str) -> str:
    """Grafana's macros replaced by what the PostgreSQL datasource expands them to."""
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 BETWEEN now() - interval '30 days' AND now()",
        raw,
    )
    sql = sql.replace("$__timeFrom()", "(now() - interval '30 days')").replace("$__timeTo()", "now()")
    assert "$" not in sql, f"unsupported Grafana macro or variable in: {raw}"
    return sql


def dashboard_panels():
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                yield path.stem, panel["title"], target["rawSql"]


def test_two_dashboards_are_provisioned():
    assert [p.stem for p in DASHBOARDS] == ["business", "operations"]
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["panels"]
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "opshealth"
    datasource = (ROOT / "deploy/grafana/provisioning/datasources/opshealth.yaml").read_text()
    assert "uid: opshealth" in datasource and "${OPSHEALTH_REPORTING_PASSWORD}" in datasource


@pytest.mark.parametrize(("dashboard", "title", "raw_sql"), list(dashboard_panels()))
def test_dashboard_panel_sql_runs_as_the_reporting_role(populated, reporting_role, dashboard, title, raw_sql):
    referenced = set(re.findall(r"\b(?:from|join)\s+([\w.]+)", raw_sql, flags=re.IGNORECASE))
    assert referenced and all(name.startswith("ops_reporting.") for name in referenced), referenced
    rows = as_role(reporting_role, grafana_sql(raw_sql))
    assert rows, f"{dashboard}: '{title}' returned no rows on a populated ledger"
    assert any(value is not None for value in rows[0]), f"{dashboard}: '{title}' returned only NULLs"


def test_reporting_role_reads_views_and_nothing_else(populated, reporting_role):
    assert as_role(reporting_role, "SELECT count(*) FROM ops_reporting.v1_runs")[0][0] == 20
    forbidden = [
        "SELECT count(*) FROM ledger_run",
        "SELECT count(*) FROM ledger_apitoken",
        "SELECT count(*) FROM auth_user",
        "INSERT INTO ledger_client (name, description, created_at) VALUES ('x', '', now())",
        "DELETE FROM ops_reporting.v1_runs",
        "UPDATE ops_reporting.v1_watermarks SET scope_key = 'x'",
        "CREATE TABLE ops_reporting.sneaky (id int)",
        "CREATE TABLE public.sneaky (id int)",
        "CREATE VIEW ops_reporting.v9 AS SELECT 1",
    ]
    for statement in forbidden:
        # Views over joins are not updatable at all: refused before privileges are checked.
        with pytest.raises(DatabaseError, match=r"permission denied|not automatically updatable"):
            as_role(reporting_role, statement)


def test_reporting_role_command_is_idempotent_and_never_prints_the_password(db, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-Pa55\n")
    first, second = io.StringIO(), io.StringIO()
    call_command("reporting_role", "--name", ROLE, "--password-file", str(secret), stdout=first)
    call_command("reporting_role", "--name", ROLE, "--password-file", str(secret), stdout=second)
    assert "created" in first.getvalue() and "updated" in second.getvalue()
    assert "SELECT on 9 views" in second.getvalue()
    assert "s3cret" not in first.getvalue() + second.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolinherit, r.rolconfig, "
            "a.rolpassword FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = %s",
            [ROLE],
        )
        login, superuser, createdb, createrole, inherit, config, password = cursor.fetchone()
    assert (login, superuser, createdb, createrole, inherit) == (True, False, False, False, False)
    assert "default_transaction_read_only=on" in config
    assert password.startswith("SCRAM-SHA-256$4096:") and "s3cret" not in password


def test_reporting_role_command_errors(db, tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(CommandError, match="empty"):
        call_command("reporting_role", "--name", ROLE, "--password-file", str(empty))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("reporting_role", "--name", ROLE, "--password-file", str(tmp_path / "missing"))


@pytest.mark.django_db(transaction=True)
def test_reporting_role_logs_in_read_only():
    """A real login as the role: it reads the views, and its sessions are read-only."""
    call_command("reporting_role", "--name", ROLE, stdout=io.StringIO())
    db = connection.settings_dict
    params = {"host": db["HOST"], "port": db["PORT"], "dbname": db["NAME"], "user": ROLE}
    try:
        with psycopg.connect(
            **{k: v for k, v in params.items() if k in {"host", "port", "user", "dbname"}}
        ) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
            assert conn.execute("SELECT count(*) FROM ops_reporting.v1_runs").fetchone()[0] == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT 1 FROM ledger_run")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{ROLE}"')
            cursor.execute(f'DROP ROLE "{ROLE}"')


@pytest.mark.django_db(transaction=True)
def test_reporting_migration_is_reversible():
    def schema_exists() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'ops_reporting'")
            return cursor.fetchone()[0] == 1

    call_command("migrate", "ledger", "0001", verbosity=0)
    try:
        assert not schema_exists()
    finally:
        # Every app: going back to 0001 also unapplies what depends on later ledger migrations.
        call_command("migrate", verbosity=0)
    assert schema_exists()
