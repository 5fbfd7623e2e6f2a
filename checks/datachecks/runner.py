"""Run data checks against their sources: one scan per table, every result kept.

`run_checks(checks)`:
  1. group the checks by source, then by object;
  2. per source, open one connection (the source engine's, with the connect timeout);
     an unreachable source gives every one of its checks an `error` result;
  3. per object, one read-only transaction (`SET TRANSACTION READ ONLY`) with
     `OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS` as statement timeout (and
     `OPSHEALTH_DATA_CHECK_WORK_MEM_MB` as work_mem, when set):
     a. the shareable checks' aggregate expressions in ONE `SELECT` over the table (over
        a subquery adding `lag()` columns when a monotonic or a unique check of several
        columns needs them); when that
        statement fails, each check is measured alone in a savepoint, so only the broken
        one errors (not when the table is missing or the statement timed out: all would);
     b. up to 5 sample rows of each failing check (one `LIMIT` query each; not when the
        check or `OPSHEALTH_DATA_CHECK_SAMPLES` turns samples off);
     c. each unshareable check's own statement, in a savepoint;
  4. write every result as a ledger `CheckResult` of one run of `opshealth.data_checks`
     (one ledger write whatever the number of checks);
  5. point each check at its result and set its next run time (one statement).

Every statement is prepared (`prepare=True`): PostgreSQL refuses several commands in a
prepared statement, so a `where` filter or custom SQL cannot smuggle a `COMMIT` and a
write after it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

import psycopg
from django.conf import settings
from django.utils import timezone
from psycopg import errors as pg_errors
from psycopg import sql

from checks.datachecks import queries
from checks.datachecks.kinds import ERROR, FAIL, Outcome, RowCount, RunContext, sample_rows
from checks.datachecks.models import PIPELINE, DataCheck
from checks.jobs import exclusive, record_skipped
from common.secrets import safe_message
from ledger import ingest
from ledger.logger import RunLogger
from ledger.models import Run
from registry.engines import engine_for
from registry.models import Source

logger = logging.getLogger(__name__)
WINDOW_PREFIX = "__opshealth_w"
# A failed shared statement is retried check by check, except for these: every check
# of the table would fail the same way.
_WHOLE_TABLE_ERRORS = (pg_errors.UndefinedTable, pg_errors.QueryCanceled, pg_errors.InsufficientPrivilege)


@dataclass
class Result:
    check: DataCheck
    outcome: Outcome
    sql_hash: str = ""
    duration_ms: int = 0
    # How many checks the statement measured (1 for a check run alone).
    statement_checks: int = 1

    def check_in(self, now: datetime) -> ingest.CheckIn:
        c, o = self.check, self.outcome
        metrics = {
            "data_check_id": c.pk,
            "kind": c.kind,
            "source": c.object.source.name,
            "observed": o.observed,
            "threshold": o.threshold,
            "failing_count": o.failing,
            "samples": o.samples,
            "duration_ms": self.duration_ms,
            "sql_hash": self.sql_hash,
            "definition_hash": c.definition_hash,
            "statement_checks": self.statement_checks,
            **o.extra,
        }
        return ingest.CheckIn(
            c.asset_key,
            c.ledger_name,
            o.status,
            severity=o.severity or c.severity,
            metrics=metrics,
            message=o.message,
            checked_at=now,
        )


def _error(check: DataCheck, reason: str, **fields) -> Result:
    where = f"{check.object.source.name}:{check.object.qualified_name}"
    return Result(check, Outcome(ERROR, f"{check.kind} check {check.name} on {where}: {reason}"), **fields)


def _hash(query: sql.Composable, conn) -> str:
    return hashlib.sha256(query.as_string(conn).encode()).hexdigest()[:16]


def samples_allowed(check: DataCheck) -> bool:
    return settings.OPSHEALTH_DATA_CHECK_SAMPLES and check.samples


class _TableRun:
    """The checks of one object, on an open connection to its source."""

    def __init__(self, conn, checks: list[DataCheck], ctx: RunContext):
        self.conn, self.checks, self.ctx = conn, checks, ctx

    def run(self) -> list[Result]:
        shared = [c for c in self.checks if c.kind_class.shares(c)]
        alone = [c for c in self.checks if not c.kind_class.shares(c)]
        timeout = sql.Literal(int(settings.OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS))
        results: list[Result] = []
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION READ ONLY")
            self.conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(timeout))
            # gap_days and freshness read dates in UTC, whatever the server's default.
            self.conn.execute("SET LOCAL TimeZone = 'UTC'")
            if settings.OPSHEALTH_DATA_CHECK_WORK_MEM_MB:
                # The sorts of unique and monotonic checks in memory rather than on disk.
                work_mem = sql.Literal(f"{int(settings.OPSHEALTH_DATA_CHECK_WORK_MEM_MB)}MB")
                self.conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(work_mem))
            if shared:
                results += self.shared(shared)
            results += [self.alone(c) for c in alone]
        return results

    def _execute(self, query: sql.Composable):
        """Run one statement in a savepoint; returns (cursor, duration ms)."""
        cursor = self.conn.cursor()
        t0 = time.perf_counter()
        with self.conn.transaction():
            cursor.execute(query, prepare=True)
        return cursor, int((time.perf_counter() - t0) * 1000)

    def shared(self, checks: list[DataCheck]) -> list[Result]:
        query, slices = self.shared_query(checks)
        sql_hash = _hash(query, self.conn)
        try:
            cursor, duration = self._execute(query)
            row = cursor.fetchone()
        except psycopg.Error as exc:
            if len(checks) == 1 or isinstance(exc, _WHOLE_TABLE_ERRORS):
                return [
                    _error(c, safe_message(exc, limit=500), sql_hash=sql_hash, statement_checks=len(checks))
                    for c in checks
                ]
            return [result for c in checks for result in self.shared([c])]
        results = []
        for check, positions in slices:
            try:
                outcome = check.kind_class.judge(check, [row[i] for i in positions], self.ctx)
            except (TypeError, ValueError) as exc:
                results.append(_error(check, str(exc), sql_hash=sql_hash, duration_ms=duration))
                continue
            if outcome.status == FAIL and samples_allowed(check):
                outcome.samples = self.samples(check)
            results.append(Result(check, outcome, sql_hash, duration, len(checks)))
        return results

    def shared_query(
        self, checks: list[DataCheck]
    ) -> tuple[sql.Composable, list[tuple[DataCheck, list[int]]]]:
        """One SELECT of every check's aggregates, each distinct expression computed once
        (three not_null checks share one `count(*)`), over a subquery adding each distinct
        window expression once (PostgreSQL sorts once for the windows of one order, and
        prunes the columns no aggregate reads); says which columns are whose."""
        first = checks[0].object
        table = sql.Identifier(first.schema_name, first.object_name)
        columns: dict[str, int] = {}  # expression text → position in the SELECT list
        expressions: list[sql.Composable] = []
        windows: dict[str, sql.Identifier] = {}  # window expression text → its column
        window_list: list[sql.Composable] = []
        slices = []
        for check in checks:
            previous = []
            for window in check.kind_class.windows(check):
                text = window.as_string(self.conn)
                if text not in windows:
                    windows[text] = sql.Identifier(f"{WINDOW_PREFIX}{len(windows)}")
                    window_list.append(sql.SQL("{} AS {}").format(window, windows[text]))
                previous.append(windows[text])
            positions = []
            for aggregate in check.kind_class.aggregates(check, previous):
                text = aggregate.as_string(self.conn)
                if text not in columns:
                    columns[text] = len(expressions)
                    expressions.append(aggregate)
                positions.append(columns[text])
            slices.append((check, positions))
        scanned: sql.Composable = table
        if window_list:
            scanned = sql.SQL("(SELECT *, {} FROM {}) AS scanned").format(
                sql.SQL(", ").join(window_list), table
            )
        query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(expressions), scanned)
        return query, slices

    def samples(self, check: DataCheck) -> dict | None:
        query = check.kind_class.sample_query(check)
        if query is None:
            return None
        try:
            cursor, _ = self._execute(query)
            return sample_rows(cursor, cursor.fetchall())
        except psycopg.Error as exc:  # the result stands; only its samples are missing
            logger.warning("samples of data check %s failed: %s", check.pk, safe_message(exc, limit=500))
            return None

    def alone(self, check: DataCheck) -> Result:
        try:
            query = check.kind_class.alone_query(check, self.ctx)
        except (TypeError, ValueError) as exc:
            return _error(check, str(exc))
        sql_hash = _hash(query, self.conn)
        try:
            cursor, duration = self._execute(query)
            outcome = check.kind_class.read_alone(cursor, check, self.ctx)
        except psycopg.Error as exc:
            return _error(check, safe_message(exc, limit=500), sql_hash=sql_hash)
        except (TypeError, ValueError) as exc:
            return _error(check, str(exc), sql_hash=sql_hash)
        if not samples_allowed(check):
            outcome.samples = None
        return Result(check, outcome, sql_hash, duration)


def _run_source(source: Source, checks: list[DataCheck], ctx: RunContext) -> list[Result]:
    if source.engine != "postgresql":
        return [
            _error(c, f"data checks run on PostgreSQL sources; {source.name} is {source.engine}")
            for c in checks
        ]
    dsn = ""
    try:
        dsn = source.resolved_dsn()
        conn = engine_for(source).connect(dsn, timeout=settings.OPSHEALTH_CONNECT_TIMEOUT_S)
    except Exception as exc:  # any failure to connect is the finding, for every check
        message = safe_message(exc, dsn=dsn)
        return [_error(c, f"source unreachable: {type(exc).__name__}: {message}") for c in checks]
    with conn:
        return run_on_connection(conn, checks, ctx)


def run_on_connection(conn, checks: list[DataCheck], ctx: RunContext) -> list[Result]:
    """The checks of one source (sorted by object) on an open connection, object by object."""
    conn.autocommit = True  # each table in a transaction of its own
    results: list[Result] = []
    for _, group in groupby(checks, key=lambda c: c.object_id):
        group = list(group)
        try:
            results += _TableRun(conn, group, ctx).run()
        except psycopg.OperationalError as exc:  # the connection broke mid-run
            results += [_error(c, f"source connection lost: {safe_message(exc, limit=500)}") for c in group]
            if conn.closed:
                break
    done = {id(r.check) for r in results}
    results += [
        _error(c, "source connection lost before this check ran") for c in checks if id(c) not in done
    ]
    return results


@dataclass
class RunReport:
    """The results of one run; its text is what the command prints last and what the
    scheduled task stores as its result."""

    results: list[Result]

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.outcome.status == status)

    def __str__(self) -> str:
        objects = len({r.check.object_id for r in self.results})
        counts = ", ".join(f"{self.count(s)} {s}" for s in ("pass", "fail", "error", "skip") if self.count(s))
        return f"{len(self.results)} data check(s) on {objects} object(s)" + (f": {counts}" if counts else "")


def run_checks(
    checks: Iterable[DataCheck], *, now: datetime | None = None, trigger: str = "cli"
) -> RunReport:
    """Run these checks now; their results are also written to the ledger. `trigger`:
    cli, api (an action) or schedule."""
    now = now or timezone.now()
    checks = sorted(checks, key=lambda c: (c.object.source_id, c.object_id, c.pk))
    counted = [
        c.pk for c in checks if isinstance(c.kind_class, RowCount) and c.params.get("change_pct") is not None
    ]
    ctx = RunContext(now, queries.observed_history(counted, now - timedelta(weeks=RowCount.WEEKS, days=1)))
    args = {"trigger": trigger, "checks": len(checks), "objects": len({c.object_id for c in checks})}
    with RunLogger(PIPELINE, triggered_by=Run.triggered_by_for(trigger), args=args) as run:
        results: list[Result] = []
        for _, group in groupby(checks, key=lambda c: c.object.source_id):
            group = list(group)
            results += _run_source(group[0].object.source, group, ctx)
        run.record_checks([r.check_in(now) for r in results])
    queries.link_results(
        run.run.pk, [r.check.pk for r in results], [r.check.next_run_after(now) for r in results]
    )
    return RunReport(results)


def run_due(now: datetime | None = None, *, trigger: str = "cli") -> RunReport | None:
    """The scheduled job `opshealth.data_checks`: run every enabled check whose next run
    time has come, on active sources. None when another run holds the job's lock (the
    overlap is recorded). A tick with nothing due is recorded too (an empty run): the
    scheduler's self-monitoring expects a run of the job every interval."""
    now = now or timezone.now()
    with exclusive(PIPELINE) as acquired:
        if not acquired:
            record_skipped(PIPELINE, triggered_by=Run.triggered_by_for(trigger))
            return None
        due = DataCheck.objects.due(now).filter(object__source__is_active=True).with_latest()
        return run_checks(due, now=now, trigger=trigger)
