"""Run data checks against their sources: one scan per table, every result kept.

`run_checks(checks)`:
  1. group the checks by source, then by object;
  2. per source, open one connection (the source engine's, with the connect timeout);
     an unreachable source gives every one of its checks an `error` result;
  3. per object, one read-only transaction with
     `OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS` as statement timeout (and
     `OPSHEALTH_DATA_CHECK_WORK_MEM_MB` as work_mem on PostgreSQL, when set), in the
     engine's own terms (checks.datachecks.sessions):
     a. the shareable checks' aggregate expressions in ONE `SELECT` over the table (over
        a subquery adding `lag()` columns when a monotonic or a unique check of several
        columns needs them); when that
        statement fails, each check is measured alone, so only the broken
        one errors (not when the table is missing or the statement timed out: all would);
     b. up to 5 sample rows of each failing check (one `LIMIT` query each; not when the
        check or `OPSHEALTH_DATA_CHECK_SAMPLES` turns samples off);
     c. each unshareable check's own statement;
  4. write every result as a ledger `CheckResult` of one run of `opshealth.data_checks`
     (one ledger write whatever the number of checks);
  5. point each check at its result and set its next run time (one statement).

A statement is always one statement, whose failure leaves the transaction usable for the
next (the session's `execute`): a `where` filter or custom SQL cannot smuggle a `COMMIT`
and a write after it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from django.conf import settings
from django.utils import timezone
from psycopg import sql

from checks.datachecks import queries
from checks.datachecks.kinds import ERROR, FAIL, Outcome, RowCount, RunContext, sample_rows
from checks.datachecks.models import PIPELINE, DataCheck
from checks.datachecks.sessions import SESSIONS, Session
from checks.jobs import exclusive, record_skipped
from common.secrets import safe_message
from ledger import ingest
from ledger.logger import RunLogger
from ledger.models import Run
from registry.engines import engine_for
from registry.models import Source

logger = logging.getLogger(__name__)
WINDOW_PREFIX = "__opshealth_w"


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


def _hash(query: sql.Composable, session: Session) -> str:
    return hashlib.sha256(session.render(query).encode()).hexdigest()[:16]


def samples_allowed(check: DataCheck) -> bool:
    return settings.OPSHEALTH_DATA_CHECK_SAMPLES and check.samples


class _TableRun:
    """The checks of one object, in a session on its source."""

    def __init__(self, session: Session, checks: list[DataCheck], ctx: RunContext):
        self.session, self.checks, self.ctx = session, checks, ctx

    def run(self) -> list[Result]:
        shared = [c for c in self.checks if c.kind_class.shares(c)]
        alone = [c for c in self.checks if not c.kind_class.shares(c)]
        results: list[Result] = []
        with self.session.transaction():
            if shared:
                results += self.shared(shared)
            results += [self.alone(c) for c in alone]
        return results

    def _execute(self, query: sql.Composable):
        """Run one statement; returns (cursor, duration ms)."""
        t0 = time.perf_counter()
        cursor = self.session.execute(query)
        return cursor, int((time.perf_counter() - t0) * 1000)

    def shared(self, checks: list[DataCheck]) -> list[Result]:
        query, slices = self.shared_query(checks)
        sql_hash = _hash(query, self.session)
        try:
            cursor, duration = self._execute(query)
            row = cursor.fetchone()
        except self.session.errors as exc:
            # Retried check by check, unless every check of the table would fail the same way.
            if len(checks) == 1 or self.session.whole_table(exc):
                return [
                    _error(c, self.session.message(exc), sql_hash=sql_hash, statement_checks=len(checks))
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
        dialect = self.session.dialect
        table = dialect.table(checks[0])
        columns: dict[str, int] = {}  # expression text → position in the SELECT list
        expressions: list[sql.Composable] = []
        windows: dict[str, sql.Composable] = {}  # window expression text → its column
        window_list: list[sql.Composable] = []
        slices = []
        for check in checks:
            previous = []
            for window in check.kind_class.windows(check):
                text = self.session.render(window)
                if text not in windows:
                    windows[text] = dialect.ident(f"{WINDOW_PREFIX}{len(windows)}")
                    window_list.append(sql.SQL("{} AS {}").format(window, windows[text]))
                previous.append(windows[text])
            positions = []
            for aggregate in check.kind_class.aggregates(check, previous):
                text = self.session.render(aggregate)
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
        except self.session.errors as exc:  # the result stands; only its samples are missing
            logger.warning("samples of data check %s failed: %s", check.pk, self.session.message(exc))
            return None

    def alone(self, check: DataCheck) -> Result:
        try:
            query = check.kind_class.alone_query(check, self.ctx)
        except (TypeError, ValueError) as exc:
            return _error(check, str(exc))
        sql_hash = _hash(query, self.session)
        try:
            cursor, duration = self._execute(query)
            outcome = check.kind_class.read_alone(cursor, check, self.ctx)
        except self.session.errors as exc:
            return _error(check, self.session.message(exc), sql_hash=sql_hash)
        except (TypeError, ValueError) as exc:
            return _error(check, str(exc), sql_hash=sql_hash)
        if not samples_allowed(check):
            outcome.samples = None
        return Result(check, outcome, sql_hash, duration)


def _run_source(source: Source, checks: list[DataCheck], ctx: RunContext) -> list[Result]:
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
    session = SESSIONS[checks[0].object.source.engine](conn)
    results: list[Result] = []
    for _, group in groupby(checks, key=lambda c: c.object_id):
        group = list(group)
        try:
            results += _TableRun(session, group, ctx).run()
        except session.errors as exc:  # the table's transaction itself failed
            what = "source connection lost" if session.closed else "source transaction failed"
            results += [_error(c, f"{what}: {session.message(exc)}") for c in group]
            if session.closed:
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
