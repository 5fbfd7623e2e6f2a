"""Running data checks: one scan per table, read-only, errors as results, every result in
the ledger under a run of `opshealth.data_checks`."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import override_settings
from psycopg import sql

from checks.datachecks.models import PIPELINE, DataCheck
from checks.datachecks.runner import _TableRun, run_checks
from checks.datachecks.sessions import SESSIONS, PostgresSession
from checks.health import CHECKS, Context
from ledger.models import CheckResult, Run
from registry.engines import ENGINES
from tests.factories.checks import DataCheckFactory
from tests.factories.registry import RegistryObjectFactory, SourceFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

EIGHT_CHECKS = [
    ("not_null", {"column": "close"}),
    ("not_null", {"column": "symbol"}),
    ("unique", {"columns": ["symbol", "day"]}),
    ("no_negative", {"column": "close"}),
    ("accepted_values", {"column": "status", "values": ["ok", "halted"]}),
    ("monotonic", {"column": "day", "order_by": ["seq"], "partition_by": ["symbol"]}),
    ("freshness", {"column": "loaded_at", "max_age": "1d"}),
    ("row_count", {"min": 1}),
]


def seq_scans(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE relid = %s::regclass", [table]
        ).fetchone()
        return row[0]


def scans_after(dsn: str, table: str, before: int) -> int:
    """The table's seq_scan once the checking backend's statistics arrived (a backend
    flushes them when its connection closes): a bounded wait."""
    deadline = time.monotonic() + 10
    while (now := seq_scans(dsn, table)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def make_checks(obj, specs) -> list[DataCheck]:
    return [
        DataCheckFactory(object=obj, name=f"c{i}_{kind}", kind=kind, params=params)
        for i, (kind, params) in enumerate(specs)
    ]


def run(checks):
    with time_machine.travel(NOW, tick=False):
        return {r.check.name: r for r in run_checks(checks).results}


@override_settings(OPSHEALTH_DATA_CHECK_SAMPLES=False)
def test_eight_checks_of_one_table_cost_one_sequential_scan(candles, defects_db):
    checks = make_checks(candles, EIGHT_CHECKS)
    before = seq_scans(defects_db, "raw.candles")
    results = run(checks)
    assert scans_after(defects_db, "raw.candles", before) - before == 1
    assert len({r.sql_hash for r in results.values()}) == 1
    assert {r.statement_checks for r in results.values()} == {8}
    assert [r.outcome.status for r in results.values()] == [
        "fail",
        "pass",
        "fail",
        "fail",
        "pass",
        "fail",
        "pass",
        "pass",
    ]


def test_checks_of_one_order_share_their_window_and_its_sort(candles, defects_db):
    """A unique (symbol, day) and monotonic checks of day per symbol: one window pass over
    one sort for all three."""
    checks = make_checks(
        candles,
        [
            ("unique", {"columns": ["symbol", "day"]}),
            ("monotonic", {"column": "day", "order_by": ["day"], "partition_by": ["symbol"]}),
            (
                "monotonic",
                {"column": "day", "order_by": ["day"], "partition_by": ["symbol"], "strictly": True},
            ),
        ],
    )
    with psycopg.connect(defects_db, autocommit=True) as conn:
        query, _ = _TableRun(PostgresSession(conn), checks, None).shared_query(checks)
        text = query.as_string(conn)
        plan = "\n".join(r[0] for r in conn.execute(sql.SQL("EXPLAIN {}").format(query)).fetchall())
    # lag(day) per symbol, for unique and both monotonic checks
    assert text.count("lag(") == 1
    assert (plan.count("Seq Scan"), plan.count("Sort Key"), plan.count("WindowAgg")) == (1, 1, 1)
    results = run(checks)
    assert [r.outcome.failing for r in results.values()] == [1, 0, 1]


def test_a_missing_column_errors_alone_and_the_other_checks_still_run(candles):
    checks = make_checks(
        candles,
        [
            ("not_null", {"column": "closing_price"}),
            ("no_negative", {"column": "close"}),
            ("row_count", {"min": 1}),
        ],
    )
    results = run(checks)
    broken = results["c0_not_null"].outcome
    assert broken.status == "error"
    assert broken.message == (
        'not_null check c0_not_null on defects:raw.candles: column "closing_price" does not exist'
    )
    assert results["c1_no_negative"].outcome.status == "fail"
    assert results["c2_row_count"].outcome.observed == 60


def test_bad_custom_sql_is_an_error_result(candles):
    (check,) = make_checks(candles, [("custom_sql", {"sql": "SELEC * FROM raw.candles"})])
    outcome = run([check])[check.name].outcome
    assert outcome.status == "error" and "syntax error at or near" in outcome.message


def test_a_dropped_table_errors_every_check_of_it(defects_source):
    gone = RegistryObjectFactory(source=defects_source, schema_name="raw", object_name="dropped_last_week")
    checks = make_checks(
        gone, [("row_count", {"min": 1}), ("relationships", {"column": "a", "to": "raw.symbols.symbol"})]
    )
    results = run(checks)
    for result in results.values():
        assert result.outcome.status == "error"
        assert 'relation "raw.dropped_last_week" does not exist' in result.outcome.message


def test_an_unreachable_source_is_an_error_for_its_checks_without_the_password(db):
    source = SourceFactory(name="down", dsn="postgresql://etl:s3cr3t@127.0.0.1:1/warehouse")
    obj = RegistryObjectFactory(source=source, schema_name="raw", object_name="orders")
    (check,) = make_checks(obj, [("row_count", {"min": 1})])
    outcome = run([check])[check.name].outcome
    assert outcome.status == "error"
    assert outcome.message.startswith(
        "row_count check c0_row_count on down:raw.orders: source unreachable: OperationalError"
    )
    assert "s3cr3t" not in outcome.message


@pytest.mark.services
def test_sources_of_every_engine_run_in_one_run(candles, defects_mariadb, defects_duckdb):
    others = [
        RegistryObjectFactory(
            source=SourceFactory(name=name, engine=db.engine, dsn=db.dsn),
            schema_name=db.raw,
            object_name="candles",
        )
        for name, db in [("shop", defects_mariadb), ("lake", defects_duckdb)]
    ]
    checks = [
        DataCheckFactory(object=obj, name="rows", kind="row_count", params={"min": 1})
        for obj in [candles, *others]
    ]
    with time_machine.travel(NOW, tick=False):
        results = run_checks(checks).results
    assert [(r.check.object.source.name, r.outcome.status, r.outcome.observed) for r in results] == [
        ("defects", "pass", 60),
        ("shop", "pass", 60),
        ("lake", "pass", 60),
    ]


def test_every_source_engine_has_a_data_check_session():
    assert set(SESSIONS) == set(ENGINES)


def test_custom_sql_cannot_write(candles, defects_db):
    writes = [
        "SELECT raw.purge_candles()",
        # a second statement after a COMMIT: refused, every statement is prepared
        "SELECT 1) AS q; COMMIT; CREATE TABLE raw.pwned (i int); SELECT (1",
    ]
    # objects.create skips clean(), which refuses ';' already
    checks = [
        DataCheck.objects.create(object=candles, name=f"w{i}", kind="custom_sql", params={"sql": q})
        for i, q in enumerate(writes)
    ]
    results = run(checks)
    assert "read-only transaction" in results["w0"].outcome.message
    assert "cannot insert multiple commands into a prepared statement" in results["w1"].outcome.message
    with psycopg.connect(defects_db) as conn:
        assert conn.execute("SELECT count(*), to_regclass('raw.pwned') FROM raw.candles").fetchone() == (
            60,
            None,
        )


@override_settings(OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS=200)
def test_the_statement_timeout_stops_a_slow_query_and_the_table_goes_on(candles):
    checks = make_checks(candles, [("custom_sql", {"sql": "SELECT pg_sleep(5)"}), ("row_count", {"min": 1})])
    started = time.monotonic()
    results = run(checks)
    assert time.monotonic() - started < 4
    assert "canceling statement due to statement timeout" in results["c0_custom_sql"].outcome.message
    assert results["c1_row_count"].outcome.status == "pass"


def test_work_mem_is_the_setting_s_when_set(candles):
    (check,) = make_checks(
        candles, [("custom_sql", {"sql": "SELECT current_setting('work_mem') AS work_mem"})]
    )
    assert run([check])[check.name].outcome.samples["rows"] != [["64MB"]]
    with override_settings(OPSHEALTH_DATA_CHECK_WORK_MEM_MB=64):
        assert run([check])[check.name].outcome.samples["rows"] == [["64MB"]]


def test_samples_can_be_turned_off_per_check_and_by_setting(candles):
    (on, off) = make_checks(
        candles, [("no_negative", {"column": "close"}), ("unique", {"columns": ["symbol", "day"]})]
    )
    off.samples = False
    off.save()
    results = run([on, off])
    assert len(results[on.name].outcome.samples["rows"]) == 1 and results[off.name].outcome.samples is None
    with override_settings(OPSHEALTH_DATA_CHECK_SAMPLES=False):
        assert run([on])[on.name].outcome.samples is None


def test_results_are_ledger_check_results_of_one_run(candles):
    checks = make_checks(
        candles, [*EIGHT_CHECKS[:3], ("gap_days", {"date_column": "day", "partition_by": ["symbol"]})]
    )
    run(checks)
    (ledger_run,) = Run.objects.filter(pipeline__name=PIPELINE)
    assert ledger_run.status == Run.SUCCESS and ledger_run.triggered_by == "cli"
    stored = {r.check_name: r for r in CheckResult.objects.filter(run=ledger_run)}
    assert set(stored) == {f"defects/{c.name}" for c in checks}
    stored = {name.removeprefix("defects/"): r for name, r in stored.items()}
    unique = stored["c2_unique"]
    assert (unique.asset_key, unique.status, unique.severity, unique.checked_at) == (
        "raw.candles",
        "fail",
        "error",
        NOW,
    )
    assert unique.metrics["observed"] == 1 and unique.metrics["failing_count"] == 1
    # stored in the ledger's jsonb with the columns' order kept
    assert unique.metrics["samples"] == {
        "columns": ["symbol", "day", "occurrences"],
        "rows": [["AAA", "2026-11-10", 2]],
    }
    assert unique.metrics["definition_hash"] == checks[2].definition_hash
    assert unique.metrics["statement_checks"] == 3 and stored["c3_gap_days"].metrics["statement_checks"] == 1
    assert (
        stored["c0_not_null"].metrics["sql_hash"]
        == unique.metrics["sql_hash"]
        != stored["c3_gap_days"].metrics["sql_hash"]
    )
    assert isinstance(unique.metrics["duration_ms"], int)
    for check in checks:
        check.refresh_from_db()
        assert check.last_result == stored[check.name]
        assert check.next_run_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def test_same_named_checks_of_two_sources_same_named_tables_keep_their_own_results(candles, defects_db):
    """Both sources read raw.candles (here the same database): one run, two results, each
    check's own, and data_check_failed tells them apart."""
    replica = RegistryObjectFactory(
        source=SourceFactory(name="replica", dsn=defects_db), schema_name="raw", object_name="candles"
    )
    checks = [
        DataCheckFactory(
            object=obj, name="unique_symbol_day", kind="unique", params={"columns": ["symbol", "day"]}
        )
        for obj in (candles, replica)
    ]
    run(checks)
    (ledger_run,) = Run.objects.filter(pipeline__name=PIPELINE)
    stored = CheckResult.objects.filter(run=ledger_run).order_by("check_name")
    assert [(r.asset_key, r.check_name) for r in stored] == [
        ("raw.candles", "defects/unique_symbol_day"),
        ("raw.candles", "replica/unique_symbol_day"),
    ]
    for check in checks:
        check.refresh_from_db()
        assert list(check.results()) == [check.last_result]
        assert check.last_result.metrics["data_check_id"] == check.pk
    with time_machine.travel(NOW, tick=False):
        outcome = CHECKS["data_check_failed"]().evaluate(Context(NOW))
    assert [i.detail["check"] for i in outcome.items] == [
        "defects/unique_symbol_day",
        "replica/unique_symbol_day",
    ]


def test_a_name_too_long_for_the_ledger_with_its_source_is_refused(candles):
    check = DataCheck(object=candles, name="n" * 193, kind="row_count", params={"min": 1})
    with pytest.raises(ValidationError, match="At most 192 characters on source defects"):
        check.full_clean()


def test_an_edited_definition_keeps_the_old_hash_on_old_results(candles):
    (check,) = make_checks(candles, [("row_count", {"min": 1})])
    first_hash = check.definition_hash
    run([check])
    check.params = {"min": 100}
    check.save()
    assert check.definition_hash != first_hash
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        run_checks([check])
    hashes = list(
        CheckResult.objects.order_by("checked_at").values_list("metrics__definition_hash", "status")
    )
    assert hashes == [(first_hash, "pass"), (check.definition_hash, "fail")]


def test_a_failing_error_check_fires_data_check_failed(candles):
    (check,) = make_checks(candles, [("unique", {"columns": ["symbol", "day"]})])
    run([check])
    outcome = CHECKS["data_check_failed"]().evaluate(Context(NOW))
    assert [i.subject for i in outcome.items] == [f"raw.candles: {check.ledger_name}"]


def test_quoted_names_are_quoted_in_queries_and_keys(defects_source):
    obj = RegistryObjectFactory(source=defects_source, schema_name="public", object_name="Daily.Stats")
    check = DataCheckFactory(object=obj, name="day_not_null", kind="not_null", params={"column": "Day"})
    result = run([check])["day_not_null"]
    assert (result.outcome.status, result.outcome.failing) == ("fail", 1)
    assert CheckResult.objects.get().asset_key == 'public."Daily.Stats"'


def test_a_check_that_cannot_run_fires_data_check_failed_too(candles):
    (check,) = make_checks(candles, [("not_null", {"column": "closing_price"})])
    run([check])
    (item,) = CHECKS["data_check_failed"]().evaluate(Context(NOW)).items
    assert (item.subject, item.detail["status"]) == (f"raw.candles: {check.ledger_name}", "error")
