"""Running data checks: one scan per table, read-only, errors as results, every result in
the ledger under a run of `opshealth.data_checks`."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import override_settings
from psycopg import sql

from checks.datachecks.kinds import RunContext
from checks.datachecks.models import PIPELINE, DataCheck
from checks.datachecks.runner import _TableRun, run_checks, run_on_connection
from checks.datachecks.sessions import SESSIONS, DuckdbSession, PostgresSession
from checks.health import CHECKS, Context
from ledger.models import CheckResult, Run
from registry.engines import ENGINES, engine_for
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


def test_a_table_whose_transaction_fails_is_an_error_for_its_checks_and_the_run_goes_on(
    candles, registry_object
):
    checks = make_checks(candles, [("row_count", {"min": 1})])
    checks += make_checks(registry_object("trades"), [("row_count", {"min": 1})])
    # A work_mem beyond PostgreSQL's maximum: every table's transaction is refused.
    with override_settings(OPSHEALTH_DATA_CHECK_WORK_MEM_MB=10**9):
        results = run(checks)
    for result in results.values():
        assert result.outcome.status == "error"
        assert (
            "source transaction failed: " in result.outcome.message and "work_mem" in result.outcome.message
        )


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


# --- every engine ---------------------------------------------------------------------


def selects_of(defects, work) -> int:
    """The SELECT statements `work(conn)` sent on a connection of the engine, as the
    server counts them (MariaDB's Com_select of the session; DuckDB's query log; on
    PostgreSQL, the table's sequential scans)."""
    if defects.engine == "postgresql":
        before = seq_scans(defects.db.dsn, "raw.candles")
        with psycopg.connect(defects.db.dsn) as conn:
            work(conn)
        return scans_after(defects.db.dsn, "raw.candles", before) - before
    if defects.engine == "mysql":
        with engine_for(defects.source).connect(defects.db.dsn, timeout=5) as conn:
            count = "SHOW SESSION STATUS LIKE 'Com_select'"
            with conn.cursor() as cur:
                cur.execute(count)
                before = int(cur.fetchone()[1])
                work(conn)
                cur.execute(count)
                return int(cur.fetchone()[1]) - before
    # The engine's connections write no file (no external access): the query log needs one.
    with duckdb.connect(defects.db.dsn, read_only=True) as conn:
        log = Path(defects.db.dsn).with_name(f"queries_{os.getpid()}.log")
        log.unlink(missing_ok=True)
        conn.execute(f"SET log_query_path = '{log}'")
        work(conn)
        conn.execute("RESET log_query_path")
        return sum(1 for line in log.read_text().splitlines() if line.startswith("SELECT"))


@override_settings(OPSHEALTH_DATA_CHECK_SAMPLES=False)
def test_eight_checks_of_one_table_are_one_statement_on_every_engine(defects):
    checks = make_checks(defects.object("candles"), EIGHT_CHECKS)
    ctx = RunContext(NOW)
    results = []
    assert selects_of(defects, lambda conn: results.extend(run_on_connection(conn, checks, ctx))) == 1
    assert len({r.sql_hash for r in results}) == 1 and {r.statement_checks for r in results} == {8}
    assert [r.outcome.status for r in results] == [
        "fail",
        "pass",
        "fail",
        "fail",
        "pass",
        "fail",
        "pass",
        "pass",
    ]


MISSING_COLUMN = {
    "postgresql": 'column "closing_price" does not exist',
    "mysql": "Unknown column 'closing_price' in 'SELECT' (error 1054)",
    "duckdb": 'Binder Error: Referenced column "closing_price" not found in FROM clause!',
}


def test_a_missing_column_errors_alone_and_the_other_checks_still_run(defects):
    checks = make_checks(
        defects.object("candles"),
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
        f"not_null check c0_not_null on defects:{defects.db.raw}.candles: {MISSING_COLUMN[defects.engine]}"
    )
    assert results["c1_no_negative"].outcome.status == "fail"
    assert results["c2_row_count"].outcome.observed == 60


BAD_SQL = {
    "postgresql": "syntax error at or near",
    "mysql": "You have an error in your SQL syntax",
    "duckdb": "Parser Error: syntax error at or near",
}
DROPPED = {
    "postgresql": 'relation "raw.dropped_last_week" does not exist',
    "mysql": "Table '{raw}.dropped_last_week' doesn't exist (error 1146)",
    "duckdb": "Catalog Error: Table with name dropped_last_week does not exist!",
}


def test_bad_sql_and_a_dropped_table_are_error_results(defects):
    bad = make_checks(
        defects.object("candles"), [("custom_sql", {"sql": defects.sql("SELEC * FROM {raw}.candles")})]
    )
    gone = make_checks(
        defects.object("dropped_last_week"),
        [
            ("row_count", {"min": 1}),
            ("relationships", {"column": "a", "to": defects.sql("{raw}.symbols.symbol")}),
        ],
    )
    results = run([*bad, *gone])
    assert results["c0_custom_sql"].outcome.status == "error"
    assert BAD_SQL[defects.engine] in results["c0_custom_sql"].outcome.message
    for name in ("c0_row_count", "c1_relationships"):
        assert results[name].outcome.status == "error"
        assert defects.sql(DROPPED[defects.engine]) in results[name].outcome.message


@pytest.mark.parametrize(
    ("engine", "dsn", "message"),
    [
        ("mysql", "mysql://etl:s3cr3t@127.0.0.1:1/warehouse", "source unreachable: OperationalError: (2003,"),
        (
            "duckdb",
            "/nonexistent/lake.duckdb",
            "source unreachable: FileNotFoundError: no DuckDB file",
        ),
    ],
)
def test_an_unreachable_source_of_another_engine_is_an_error_for_its_checks(db, engine, dsn, message):
    source = SourceFactory(name="down", engine=engine, dsn=dsn)
    (check,) = make_checks(
        RegistryObjectFactory(source=source, schema_name="raw", object_name="orders"),
        [("row_count", {"min": 1})],
    )
    outcome = run([check])[check.name].outcome
    assert outcome.status == "error" and message in outcome.message
    assert "s3cr3t" not in outcome.message


SMUGGLED = "SELECT 1) AS q; COMMIT; CREATE TABLE {raw}.pwned (i int); SELECT (1"
REFUSED = {
    "mysql": ("Cannot execute statement in a READ ONLY transaction", "You have an error in your SQL syntax"),
    "duckdb": ("attached in read-only mode", "one statement only"),
}


@pytest.mark.parametrize(
    "defects", [pytest.param("mysql", marks=pytest.mark.services), "duckdb"], indirect=True
)
def test_custom_sql_cannot_write_on_other_engines(defects):
    """A write in the one statement is refused by the read-only transaction (MariaDB: a
    function that deletes) or connection (DuckDB: its session writes directly); a second
    statement after a `;` never runs."""
    if defects.engine == "mysql":
        checks = [
            DataCheck.objects.create(
                object=defects.object("candles"),
                name=f"w{i}",
                kind="custom_sql",
                params={"sql": defects.sql(q)},
            )
            for i, q in enumerate(["SELECT {raw}.purge_candles()", SMUGGLED])
        ]
        results = run(checks)
        write, second = results["w0"].outcome.message, results["w1"].outcome.message
    else:
        (check,) = [
            DataCheck.objects.create(
                object=defects.object("candles"),
                name="w1",
                kind="custom_sql",
                params={"sql": defects.sql(SMUGGLED)},
            )
        ]
        second = run([check])["w1"].outcome.message
        with (
            engine_for(defects.source).connect(defects.db.dsn, timeout=5) as conn,
            pytest.raises(duckdb.Error) as excinfo,
        ):
            DuckdbSession(conn).execute(sql.SQL(defects.sql("CREATE TABLE {raw}.pwned (i int)")))
        write = str(excinfo.value)
    assert REFUSED[defects.engine][0] in write
    assert REFUSED[defects.engine][1] in second
    (check,) = make_checks(
        defects.object("candles"),
        [
            (
                "custom_sql",
                {"sql": defects.sql("SELECT count(*) AS n FROM {raw}.candles HAVING count(*) <> 60")},
            )
        ],
    )
    assert run([check])[check.name].outcome.status == "pass"  # nothing was deleted
    (check,) = make_checks(defects.object("pwned"), [("row_count", {"min": 0})])
    assert run([check])[check.name].outcome.status == "error"  # nor created


@pytest.mark.parametrize("defects", ["duckdb"], indirect=True)
def test_custom_sql_on_duckdb_reads_no_file_of_the_opshealth_host(defects, tmp_path):
    """The DuckDB source is opened without external access: a check's SQL reads no file
    of the host OpsHealth runs on, attaches no other database, and cannot turn it back on."""
    (check,) = make_checks(
        defects.object("candles"), [("custom_sql", {"sql": "SELECT * FROM read_csv('/etc/hostname')"})]
    )
    outcome = run([check])[check.name].outcome
    assert outcome.status == "error"
    assert "file system operations are disabled by configuration" in outcome.message
    with engine_for(defects.source).connect(defects.db.dsn, timeout=5) as conn:
        with pytest.raises(duckdb.Error, match="Cannot enable external access"):
            conn.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="disabled by configuration"):
            conn.execute(f"ATTACH '{tmp_path / 'other.duckdb'}' AS other")


SLOW = {
    "mysql": ("SELECT SLEEP(5)", "max_statement_time exceeded"),
    "duckdb": (
        "SELECT sum(hash(i)) FROM range(100000000000) AS t(i)",
        "canceling statement due to statement timeout (200 ms)",
    ),
}


@override_settings(OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS=200)
@pytest.mark.parametrize(
    "defects", [pytest.param("mysql", marks=pytest.mark.services), "duckdb"], indirect=True
)
def test_the_statement_timeout_stops_a_slow_query_on_other_engines(defects):
    query, message = SLOW[defects.engine]
    checks = make_checks(
        defects.object("candles"), [("custom_sql", {"sql": query}), ("row_count", {"min": 1})]
    )
    started = time.monotonic()
    results = run(checks)
    assert time.monotonic() - started < 4
    assert message in results["c0_custom_sql"].outcome.message
    assert results["c1_row_count"].outcome.status == "pass"


def test_quoted_names_are_quoted_on_every_engine(defects):
    obj = defects.object("Daily.Stats", schema=defects.db.public)
    check = DataCheckFactory(object=obj, name="day_not_null", kind="not_null", params={"column": "Day"})
    result = run([check])["day_not_null"]
    assert (result.outcome.status, result.outcome.failing) == ("fail", 1)
    assert result.outcome.samples == {"columns": ["Day", "n"], "rows": [[None, 2]]}


@pytest.mark.parametrize(
    "defects", [pytest.param("mysql", marks=pytest.mark.services), "duckdb"], indirect=True
)
def test_monotonic_without_order_by_follows_duckdb_s_row_order_and_is_an_error_on_mysql(defects):
    (check,) = make_checks(
        defects.object("candles"), [("monotonic", {"column": "day", "partition_by": ["symbol"]})]
    )
    outcome = run([check])[check.name].outcome
    if defects.engine == "duckdb":  # the rows in insertion order: the late row last
        assert (outcome.status, outcome.failing) == ("fail", 1)
    else:
        assert outcome.status == "error"
        assert outcome.message.endswith(
            "order_by is required on this engine: its rows have no order of their own."
        )
