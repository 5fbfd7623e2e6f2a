"""The kinds of data checks: a dict of small classes (healthchecks' `transports.py`).

A kind validates its parameters (`clean_params`) and says how it is measured:

- a *shareable* kind contributes aggregate expressions (`aggregates`) to the one
  `SELECT` the runner builds per table, judges the values that come back (`judge`) and,
  when it failed, names its failing rows (`sample_query`);
- an unshareable kind (custom_sql, relationships, gap_days, and a few shapes of the
  others) runs its own statement (`alone_query`) returning its failing rows with their
  total count (`count(*) OVER ()`) as the last column.

Statements are built with `psycopg.sql`; identifiers, literals and the constructs
engines spell differently come from the dialect of the check's source
(`checks.datachecks.dialects`). `where` filters and custom SQL are the check author's
SQL (an admin), in the source's own dialect: they run only in a read-only transaction, as
one statement (checks.datachecks.sessions).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from django.core.exceptions import ValidationError
from psycopg import sql

from checks.datachecks.dialects import dialect_of
from common.durations import parse_duration
from common.identifiers import split_identifier
from registry.engines import engine_for

SAMPLE_ROWS = 5
PASS, FAIL, ERROR, SKIP = "pass", "fail", "error", "skip"
COUNT_COLUMN = "__opshealth_failing"


@dataclass
class Outcome:
    """What one check found. `severity` overrides the check's (custom_sql thresholds)."""

    status: str
    message: str
    observed: Any = None
    threshold: Any = None
    failing: int | None = None
    # {"columns": [...], "rows": [[...], ...]} (see sample_rows), or None.
    samples: dict | None = None
    severity: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class RunContext:
    """What a run knows beside the source: the time, and past observations of row_count
    checks ({check id: [(checked_at, observed count)]})."""

    now: datetime
    history: dict[int, list[tuple[datetime, float]]] = field(default_factory=dict)


def _where(check) -> sql.Composable | None:
    text = check.where.strip()
    return sql.SQL("({})").format(sql.SQL(text)) if text else None


def _both(*conditions: sql.Composable | None) -> sql.Composable | None:
    parts = [c for c in conditions if c is not None]
    return sql.SQL(" AND ").join(parts) if parts else None


def where_clause(condition: sql.Composable | None) -> sql.Composable:
    return sql.SQL(" WHERE {}").format(condition) if condition is not None else sql.SQL("")


def _required_name(params: dict, key: str, errors: list[str]) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: a column name is required.")
        return ""
    return value.strip()


def _names(params: dict, key: str, errors: list[str], *, required: bool) -> list[str]:
    value = params.get(key)
    if value is None and not required:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(f"{key}: a list of column names is required.")
        return []
    return [v.strip() for v in value]


def _bool(params: dict, key: str, errors: list[str], default: bool = False) -> bool:
    value = params.get(key, default)
    if not isinstance(value, bool):
        errors.append(f"{key}: true or false.")
        return default
    return value


def _number(params: dict, key: str, errors: list[str], *, minimum: float | None = None) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(f"{key}: a number is required.")
        return None
    if minimum is not None and value < minimum:
        errors.append(f"{key}: must be at least {minimum}.")
        return None
    return value


def _duration(params: dict, key: str, errors: list[str], *, allow_zero: bool = False) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    try:
        parse_duration(value, allow_zero=allow_zero)
    except ValueError as exc:
        errors.append(f"{key}: {exc}")
        return None
    return value


def jsonable(value: Any) -> Any:
    """A sample value as JSON can carry it (long texts cut, bytes shown by length)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def sample_rows(cursor, rows: list[tuple], *, drop_last: bool = False) -> dict:
    """Up to 5 rows as `{"columns": [names], "rows": [[values]]}`, in the query's column
    order: a jsonb object does not keep the order of its keys, an array does."""
    names = [d[0] for d in cursor.description]
    if drop_last:
        names = names[:-1]
    return {
        "columns": names,
        "rows": [[jsonable(v) for v in row[: len(names)]] for row in rows[:SAMPLE_ROWS]],
    }


class DataCheckKind:
    kind = ""
    # Parameter names this kind accepts; any other is refused by clean_params.
    params: tuple[str, ...] = ()
    accepts_where = True

    @classmethod
    def clean_params(cls, params: Any, *, check=None) -> dict:
        """The parameters, validated; raises ValidationError with one message per problem."""
        if not isinstance(params, dict):
            raise ValidationError("params must be an object.")
        params = dict(params)
        errors = [f"{key}: unknown parameter of {cls.kind}." for key in params if key not in cls.params]
        cls.validate(params, errors)
        if check is not None and check.where.strip() and not cls.accepts_where:
            errors.append(f"{cls.kind} takes no where filter: put the condition in the query.")
        if check is not None and check.object_id is not None:
            cls.validate_on_source(check, params, errors)
        if errors:
            raise ValidationError(errors)
        return params

    @classmethod
    def validate(cls, params: dict, errors: list[str]) -> None:
        raise NotImplementedError

    @classmethod
    def validate_on_source(cls, check, params: dict, errors: list[str]) -> None:
        """What the check's source engine adds to `validate` (nothing, for most kinds)."""

    def shares(self, check) -> bool:
        """Whether this check can be measured inside the table's shared scan."""
        return True

    def windows(self, check) -> list[sql.Composable]:
        """Window expressions the shared scan must compute before aggregating (`lag()`:
        the previous row's value in some order). The runner computes each distinct one
        once and passes the names of their columns to `aggregates`, in this order."""
        return []

    def aggregates(self, check, previous: list[sql.Composable]) -> list[sql.Composable]:
        raise NotImplementedError

    def judge(self, check, values: list, ctx: RunContext) -> Outcome:
        raise NotImplementedError

    def sample_query(self, check) -> sql.Composable | None:
        return None

    def alone_query(self, check, ctx: RunContext) -> sql.Composable:
        raise NotImplementedError

    def read_alone(self, cursor, check, ctx: RunContext) -> Outcome:
        """Judge what `alone_query` returned: failing rows, their count as last column."""
        rows = cursor.fetchall()
        failing = rows[0][-1] if rows else 0
        return self.judge_alone(check, failing, sample_rows(cursor, rows, drop_last=True), ctx)

    def judge_alone(self, check, failing: int, samples: dict, ctx: RunContext) -> Outcome:
        if failing == 0:
            return Outcome(PASS, "No failing rows.", observed=0, threshold=0, failing=0)
        return Outcome(
            FAIL,
            self.failing_message(check, failing),
            observed=failing,
            threshold=0,
            failing=failing,
            samples=samples,
        )

    def failing_message(self, check, failing: int) -> str:
        return f"{failing} failing row(s)."


def _counted(noun: str, failing: int, total: int | None = None) -> str:
    of = f" of {total}" if total is not None else ""
    return f"{failing}{of} row(s) {noun}."


class NotNull(DataCheckKind):
    kind = "not_null"
    params = ("column", "mostly")

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "column", errors)
        mostly = _number(params, "mostly", errors, minimum=0)
        if mostly is not None and mostly > 1:
            errors.append("mostly: a share between 0 and 1.")

    def _null(self, check) -> sql.Composable:
        return sql.SQL("{} IS NULL").format(dialect_of(check).ident(check.params["column"]))

    def aggregates(self, check, previous):
        d = dialect_of(check)
        # count(column) counts the non-NULL values: cheaper per row than a FILTER.
        non_null = d.aggregate("count", d.ident(check.params["column"]), _where(check))
        return [d.count_where(_where(check)), non_null]

    def judge(self, check, values, ctx):
        total, non_null = values
        nulls = total - non_null
        mostly = check.params.get("mostly", 1.0)
        share = 1.0 if not total else round((total - nulls) / total, 6)
        status = PASS if share >= mostly else FAIL
        column = check.params["column"]
        return Outcome(
            status,
            _counted(f"with {column} NULL", nulls, total),
            observed=share,
            threshold=mostly,
            failing=nulls,
        )

    def sample_query(self, check):
        condition = _both(_where(check), self._null(check))
        return sql.SQL("SELECT * FROM {}{} LIMIT {}").format(
            dialect_of(check).table(check), where_clause(condition), SAMPLE_ROWS
        )


class Unique(DataCheckKind):
    """Rows whose key columns repeat; rows with a NULL in the key are not compared (as
    SQL's UNIQUE). Failing = rows beyond the first of each key.

    In the shared scan, a key of one column is counted with `count(DISTINCT)` (a sort of
    that column's values alone). A key of several columns (a, b, c) without a `where`
    filter is sorted as rows instead: a row repeats its key when its c equals the
    previous row's within its (a, b) partition in c order (`lag(c)`: the partition
    already holds a and b equal), which costs a third of `count(DISTINCT (a, b, c))`'s
    record comparisons, and is the very window of a monotonic check partitioned by
    (a, b) and ordered by c (seed 001's pair: unique (symbol, day), monotonic day per
    symbol): one sort and one window pass for both. One lag() rather than one per key
    column: a third less CPU for seed 001's pair on 10 million rows (bench/data_checks.py)."""

    kind = "unique"
    params = ("columns",)

    @classmethod
    def validate(cls, params, errors):
        params["columns"] = _names(params, "columns", errors, required=True)

    def _key(self, check) -> sql.Composable:
        return sql.SQL(", ").join(map(dialect_of(check).ident, check.params["columns"]))

    def _not_null(self, check) -> sql.Composable:
        return sql.SQL(" AND ").join(
            sql.SQL("{} IS NOT NULL").format(dialect_of(check).ident(c)) for c in check.params["columns"]
        )

    def windows(self, check):
        columns = check.params["columns"]
        if len(columns) == 1 or _where(check) is not None:
            return []
        return [dialect_of(check).lag(columns[-1], columns[:-1], columns[-1:])]

    def aggregates(self, check, previous):
        d = dialect_of(check)
        condition = _both(_where(check), self._not_null(check))
        columns = check.params["columns"]
        if previous:
            # Equal non-NULL keys are adjacent in their partition (NULLs sort last), and
            # PARTITION BY groups NULLs as equals: the partition's columns must be set.
            repeated = _both(
                *(sql.SQL("{} IS NOT NULL").format(d.ident(c)) for c in columns[:-1]),
                sql.SQL("{} = {}").format(d.ident(columns[-1]), previous[0]),
            )
            return [d.count_where(condition), d.count_where(repeated)]
        return [
            d.count_where(condition),
            sql.SQL("{} - {}").format(
                d.count_where(condition), d.count_distinct([d.ident(c) for c in columns], condition)
            ),
        ]

    def judge(self, check, values, ctx):
        total, duplicates = values
        key = ", ".join(check.params["columns"])
        message = _counted(f"repeat a ({key}) key of an earlier row", duplicates, total)
        return Outcome(
            PASS if duplicates == 0 else FAIL, message, observed=duplicates, threshold=0, failing=duplicates
        )

    def sample_query(self, check):
        condition = _both(_where(check), self._not_null(check))
        return sql.SQL(
            "SELECT {key}, count(*) AS occurrences FROM {table}{where} GROUP BY {key} "
            "HAVING count(*) > 1 ORDER BY count(*) DESC, {key} LIMIT {n}"
        ).format(
            key=self._key(check),
            table=dialect_of(check).table(check),
            where=where_clause(condition),
            n=SAMPLE_ROWS,
        )


class FailingRows(DataCheckKind):
    """A kind that counts the rows matching a failing condition; passes at zero."""

    def condition(self, check, previous: sql.Composable | None) -> sql.Composable:
        """The failing condition (`previous`: the shared scan's window column, if any;
        None in the sample query)."""
        raise NotImplementedError

    def noun(self, check) -> str:
        """What a failing row has, for the message: `with a negative close`."""
        raise NotImplementedError

    def aggregates(self, check, previous):
        window_column = previous[0] if previous else None
        return [dialect_of(check).count_where(_both(_where(check), self.condition(check, window_column)))]

    def judge(self, check, values, ctx):
        (failing,) = values
        return Outcome(
            PASS if failing == 0 else FAIL,
            self.failing_message(check, failing),
            observed=failing,
            threshold=0,
            failing=failing,
        )

    def failing_message(self, check, failing):
        return _counted(self.noun(check), failing)

    def sample_query(self, check):
        condition = _both(_where(check), self.condition(check, None))
        return sql.SQL("SELECT * FROM {}{} LIMIT {}").format(
            dialect_of(check).table(check), where_clause(condition), SAMPLE_ROWS
        )


class NoNegative(FailingRows):
    kind = "no_negative"
    params = ("column",)

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "column", errors)

    def condition(self, check, previous):
        return sql.SQL("{} < 0").format(dialect_of(check).ident(check.params["column"]))

    def noun(self, check):
        return f"with a negative {check.params['column']}"


class AcceptedValues(FailingRows):
    """Non-NULL values outside the list (read as the column's type)."""

    kind = "accepted_values"
    params = ("column", "values")

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "column", errors)
        values = params.get("values")
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int | float) for v in values)
        ):
            errors.append("values: a non-empty list of accepted values.")

    def condition(self, check, previous):
        d = dialect_of(check)
        column = d.ident(check.params["column"])
        accepted = d.in_values(column, [str(v) for v in check.params["values"]])
        return sql.SQL("{c} IS NOT NULL AND NOT ({a})").format(c=column, a=accepted)

    def noun(self, check):
        return f"with a {check.params['column']} outside the accepted values"

    def sample_query(self, check):
        d = dialect_of(check)
        column = d.ident(check.params["column"])
        condition = _both(_where(check), self.condition(check, None))
        return sql.SQL(
            "SELECT {c} AS value, count(*) AS occurrences FROM {t}{w} GROUP BY {c} ORDER BY count(*) DESC LIMIT {n}"
        ).format(c=column, t=d.table(check), w=where_clause(condition), n=SAMPLE_ROWS)


class Monotonic(FailingRows):
    """`column` never decreases (with `strictly`, always increases) from one row to the
    next in `order_by` order (default: the physical row order, PostgreSQL's `ctid`,
    DuckDB's `rowid`; MySQL has none), within each `partition_by` group. Measured with
    `lag()` over the shared scan; with a `where` filter it runs alone (the filter must
    apply before the rows are ordered)."""

    kind = "monotonic"
    params = ("column", "order_by", "partition_by", "strictly")

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "column", errors)
        for key in ("order_by", "partition_by"):
            if key in params:
                params[key] = _names(params, key, errors, required=True)
        _bool(params, "strictly", errors)

    @classmethod
    def validate_on_source(cls, check, params, errors):
        if not params.get("order_by") and dialect_of(check).row_order is None:
            label = engine_for(check.object.source).label
            errors.append(f"order_by: required on a {label} source: its rows have no order of their own.")

    def shares(self, check):
        # Without an order to follow (a check saved before its source changed engine), it
        # runs alone: there its ValueError is its result.
        return not check.where.strip() and bool(check.params.get("order_by") or dialect_of(check).row_order)

    def _window(self, check) -> sql.Composable:
        p, d = check.params, dialect_of(check)
        order_by = p.get("order_by") or ([d.row_order] if d.row_order else [])
        if not order_by:
            raise ValueError("order_by is required on this engine: its rows have no order of their own.")
        return d.lag(p["column"], p.get("partition_by") or [], order_by)

    def condition(self, check, previous):
        d = dialect_of(check)
        op = sql.SQL("<=" if check.params.get("strictly") else "<")
        return sql.SQL("{prev} IS NOT NULL AND {c} {op} {prev}").format(
            prev=previous if previous is not None else d.ident("previous_value"),
            c=d.ident(check.params["column"]),
            op=op,
        )

    def windows(self, check):
        return [self._window(check)]

    def aggregates(self, check, previous):
        # `where` never reaches here: a filtered monotonic runs alone (shares() is False).
        return [dialect_of(check).count_where(self.condition(check, previous[0]))]

    def noun(self, check):
        word = "not after" if check.params.get("strictly") else "before"
        return f"with a {check.params['column']} {word} the previous row's"

    def _ordered(self, check) -> sql.Composable:
        return sql.SQL("(SELECT *, {w} AS previous_value FROM {t}{where}) AS ordered").format(
            w=self._window(check), t=dialect_of(check).table(check), where=where_clause(_where(check))
        )

    def sample_query(self, check):
        return sql.SQL("SELECT * FROM {} WHERE {} LIMIT {}").format(
            self._ordered(check), self.condition(check, None), SAMPLE_ROWS
        )

    def alone_query(self, check, ctx):
        return sql.SQL("SELECT *, count(*) OVER () AS {n} FROM {o} WHERE {b} LIMIT {k}").format(
            n=dialect_of(check).ident(COUNT_COLUMN),
            o=self._ordered(check),
            b=self.condition(check, None),
            k=SAMPLE_ROWS,
        )


def _as_aware(value, tz: ZoneInfo) -> datetime | None:
    """The newest value as an aware datetime: a date counts from the end of its day."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value + timedelta(days=1), time(), tzinfo=tz)
    raise TypeError(f"not a date or timestamp: {type(value).__name__}")


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(p for p in parts if p) or f"{seconds} s"


class Freshness(DataCheckKind):
    """The newest `column` value (or the single value `query` returns) is recent enough:
    younger than `max_age`, or — calendar-aware — no older than the last time a load was
    due by the cron `expected` (in `timezone`), minus `grace`. The due time is taken at
    `now - grace`, so a load may be up to `grace` late; a weekday loader (`0 6 * * 1-5`)
    is not stale on Sunday, its last due load being Friday's."""

    kind = "freshness"
    params = ("column", "query", "max_age", "expected", "timezone", "grace")

    @classmethod
    def validate(cls, params, errors):
        if bool(params.get("column")) == bool(params.get("query")):
            errors.append("column or query: exactly one is required.")
        elif params.get("column"):
            _required_name(params, "column", errors)
        elif not isinstance(params.get("query"), str):
            errors.append("query: an SQL query returning one timestamp.")
        max_age = _duration(params, "max_age", errors)
        expected = params.get("expected")
        if (max_age is None) == (expected is None) and not any(e.startswith("max_age") for e in errors):
            errors.append("max_age or expected (a cron expression): exactly one is required.")
        if expected is not None and not (isinstance(expected, str) and croniter.is_valid(expected)):
            errors.append(f"expected: {expected!r} is not a cron expression such as '0 6 * * 1-5'.")
        try:
            ZoneInfo(params.get("timezone") or "UTC")
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            errors.append(f"timezone: unknown time zone {params.get('timezone')!r}.")
        _duration(params, "grace", errors, allow_zero=True)

    def shares(self, check):
        return bool(check.params.get("column"))

    def aggregates(self, check, previous):
        d = dialect_of(check)
        return [d.aggregate("max", d.ident(check.params["column"]), _where(check))]

    def cutoff(self, check, now: datetime) -> tuple[datetime, str]:
        """The oldest acceptable newest value, and how it was derived."""
        p = check.params
        if p.get("max_age"):
            return now - parse_duration(p["max_age"]), f"max age {p['max_age']}"
        tz = ZoneInfo(p.get("timezone") or "UTC")
        grace = parse_duration(p["grace"], allow_zero=True) if p.get("grace") else timedelta(0)
        due = croniter(p["expected"], (now - grace).astimezone(tz)).get_prev(datetime)
        return due - grace, f"loads due '{p['expected']}' {tz.key}, grace {p.get('grace') or '0s'}"

    def judge(self, check, values, ctx):
        (newest,) = values
        tz = ZoneInfo(check.params.get("timezone") or "UTC")
        cutoff, rule = self.cutoff(check, ctx.now)
        allowed = (ctx.now - cutoff).total_seconds()
        what = check.params.get("column") or "query value"
        newest_at = _as_aware(newest, tz)
        if newest_at is None:
            return Outcome(FAIL, f"No rows: no newest {what} ({rule}).", threshold=allowed)
        age = ctx.now - newest_at
        extra = {
            "newest": newest_at.astimezone(UTC).isoformat(),
            "cutoff": cutoff.astimezone(UTC).isoformat(),
        }
        status = PASS if newest_at >= cutoff else FAIL
        message = f"Newest {what} is {_age(age)} old ({rule}: allowed {_age(ctx.now - cutoff)})."
        return Outcome(
            status, message, observed=round(age.total_seconds()), threshold=round(allowed), extra=extra
        )

    def alone_query(self, check, ctx):
        query = check.params["query"].strip().rstrip(";")
        return sql.SQL("SELECT * FROM ({}) AS freshness LIMIT 1").format(sql.SQL(query))

    def read_alone(self, cursor, check, ctx):
        row = cursor.fetchone()
        return self.judge(check, [row[0] if row else None], ctx)


class RowCount(DataCheckKind):
    """The row count is within `min`/`max`, and — with `change_pct` — within that many
    percent of the median count this check observed on the same weekday over the last
    4 weeks (no judgement until it has such a history)."""

    kind = "row_count"
    params = ("min", "max", "change_pct")
    WEEKS = 4

    @classmethod
    def validate(cls, params, errors):
        low = _number(params, "min", errors, minimum=0)
        high = _number(params, "max", errors, minimum=0)
        _number(params, "change_pct", errors, minimum=0)
        if low is not None and high is not None and low > high:
            errors.append("min: greater than max.")
        if not any(k in params for k in cls.params):
            errors.append("min, max or change_pct: at least one is required.")

    def aggregates(self, check, previous):
        return [dialect_of(check).count_where(_where(check))]

    def baseline(self, check, ctx: RunContext) -> float | None:
        """Median of the last count per day on the same weekday, over the last 4 weeks."""
        today = ctx.now.astimezone(UTC).date()
        wanted = {today - timedelta(weeks=w) for w in range(1, self.WEEKS + 1)}
        per_day: dict[date, tuple[datetime, float]] = {}
        for at, value in ctx.history.get(check.pk, []):
            day = at.astimezone(UTC).date()
            if day in wanted and (day not in per_day or at > per_day[day][0]):
                per_day[day] = (at, value)
        values = [v for _, v in per_day.values()]
        return statistics.median(values) if values else None

    def judge(self, check, values, ctx):
        (count,) = values
        p = check.params
        problems = []
        if p.get("min") is not None and count < p["min"]:
            problems.append(f"below the minimum {p['min']}")
        if p.get("max") is not None and count > p["max"]:
            problems.append(f"above the maximum {p['max']}")
        threshold = {k: p[k] for k in ("min", "max", "change_pct") if p.get(k) is not None}
        extra = {}
        if p.get("change_pct") is not None:
            median = self.baseline(check, ctx)
            threshold["baseline"] = median
            if median is None:
                extra["baseline"] = "no result on the same weekday in the last 4 weeks yet"
                if p.get("min") is None and p.get("max") is None:
                    # Nothing to judge yet: a skip, not a pass (the count is kept: it is
                    # the baseline of the weeks to come).
                    message = f"{count} rows: no result on the same weekday in the last 4 weeks to compare with yet."
                    return Outcome(SKIP, message, observed=count, threshold=threshold, extra=extra)
            else:
                change = 100.0 * (count - median) / median if median else (0.0 if count == 0 else 100.0)
                extra["change_pct"] = round(change, 2)
                if abs(change) > p["change_pct"]:
                    problems.append(f"{change:+.1f}% against the same weekday's median {median:g}")
        message = f"{count} rows" + (": " + "; ".join(problems) + "." if problems else ".")
        return Outcome(FAIL if problems else PASS, message, observed=count, threshold=threshold, extra=extra)


class GapDays(DataCheckKind):
    """Days without a row in the last `window_days` days (today excluded: its load may be
    under way), per `partition_by` group, except `exclude_dates`. Runs alone: one
    statement that generates the calendar and anti-joins the table's distinct days."""

    kind = "gap_days"
    params = ("date_column", "window_days", "partition_by", "exclude_dates")
    MAX_WINDOW = 3660

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "date_column", errors)
        window = params.get("window_days", 30)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= cls.MAX_WINDOW:
            errors.append(f"window_days: a whole number of days between 1 and {cls.MAX_WINDOW}.")
        if "partition_by" in params:
            params["partition_by"] = _names(params, "partition_by", errors, required=True)
        excluded = params.get("exclude_dates", [])
        try:
            [date.fromisoformat(d) for d in excluded]
        except (TypeError, ValueError):
            errors.append("exclude_dates: a list of dates such as 2026-12-25.")

    def shares(self, check):
        return False

    def alone_query(self, check, ctx):
        p, d = check.params, dialect_of(check)
        today = ctx.now.astimezone(UTC).date()
        start, end = today - timedelta(days=p.get("window_days", 30)), today - timedelta(days=1)
        column = d.ident(p["date_column"])
        parts = [d.ident(c) for c in (p.get("partition_by") or [])]
        in_window = sql.SQL("{c} >= {s} AND {c} < {e}").format(
            c=column, s=d.literal(start), e=d.literal(end + timedelta(days=1))
        )
        part_list = sql.SQL("").join(sql.SQL("{}, ").format(x) for x in parts)
        groups = (
            sql.SQL(" CROSS JOIN (SELECT DISTINCT {} FROM present) AS parts").format(
                sql.SQL(", ").join(parts)
            )
            if parts
            else sql.SQL("")
        )
        same_part = sql.SQL("").join(
            sql.SQL(" AND {}").format(d.not_distinct(sql.SQL("p.{}").format(x), sql.SQL("e.{}").format(x)))
            for x in parts
        )
        return sql.SQL(
            "WITH {days},"
            " present AS (SELECT DISTINCT {pl}{c} AS day FROM {t} WHERE {w}),"
            " expected AS (SELECT {pl}days.day FROM days{g})"
            " SELECT e.*, count(*) OVER () AS {n} FROM expected AS e"
            " WHERE NOT EXISTS (SELECT 1 FROM present AS p WHERE p.day = e.day{sp})"
            " ORDER BY {o} LIMIT {k}"
        ).format(
            days=d.calendar(start, end, [date.fromisoformat(x) for x in p.get("exclude_dates", [])]),
            pl=part_list,
            c=d.as_date(column),
            t=d.table(check),
            w=_both(_where(check), in_window),
            g=groups,
            n=d.ident(COUNT_COLUMN),
            sp=same_part,
            o=sql.SQL(", ").join([sql.SQL("e.day"), *parts]),
            k=SAMPLE_ROWS,
        )

    def failing_message(self, check, failing):
        return f"{failing} day(s) without rows in the last {check.params.get('window_days', 30)} days."


class Relationships(DataCheckKind):
    """Every non-NULL `column` value exists in `to` (`schema.object.column`): orphans
    counted with one anti-join, run alone."""

    kind = "relationships"
    params = ("column", "to")

    @classmethod
    def validate(cls, params, errors):
        _required_name(params, "column", errors)
        to = params.get("to")
        if (
            not isinstance(to, str)
            or len(split_identifier(to, strict=False)) != 3
            or not all(split_identifier(to, strict=False))
        ):
            errors.append("to: the referenced column as schema.object.column.")

    def shares(self, check):
        return False

    def alone_query(self, check, ctx):
        d = dialect_of(check)
        schema, name, target = split_identifier(check.params["to"], strict=False)
        column = d.ident(check.params["column"])
        orphan = sql.SQL(
            "c.{col} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.{target} = c.{col})"
        ).format(col=column, parent=d.ident(schema, name), target=d.ident(target))
        return sql.SQL("SELECT c.*, count(*) OVER () AS {n} FROM {t} AS c WHERE {w} LIMIT {k}").format(
            n=d.ident(COUNT_COLUMN), t=d.table(check), w=_both(_where(check), orphan), k=SAMPLE_ROWS
        )

    def failing_message(self, check, failing):
        return f"{failing} row(s) with a {check.params['column']} missing from {check.params['to']}."


_THRESHOLD = re.compile(r"^\s*(>=|<=|!=|==|=|>|<)\s*(\d+)\s*$")
_COMPARE = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def threshold_met(expression: str, count: int) -> bool:
    op, number = _THRESHOLD.match(expression).groups()
    return _COMPARE[op](count, int(number))


class CustomSql(DataCheckKind):
    """`sql` returns the failing rows. With neither threshold, any row fails at the
    check's severity; `error_if` / `warn_if` (`"> 10"`, `">= 1"`…) on the row count fail
    at severity error / warn instead (error_if tried first)."""

    kind = "custom_sql"
    params = ("sql", "warn_if", "error_if")
    accepts_where = False

    @classmethod
    def validate(cls, params, errors):
        if not isinstance(params.get("sql"), str) or not params["sql"].strip():
            errors.append("sql: a query returning the failing rows is required.")
        elif ";" in params["sql"].strip().rstrip(";"):
            errors.append("sql: one query, without ';' inside.")
        for key in ("warn_if", "error_if"):
            value = params.get(key)
            if value is not None and not (isinstance(value, str) and _THRESHOLD.match(value)):
                errors.append(f"{key}: a comparison with a row count such as '> 0' or '>= 10'.")

    def shares(self, check):
        return False

    def alone_query(self, check, ctx):
        query = check.params["sql"].strip().rstrip(";")
        return sql.SQL("SELECT q.*, count(*) OVER () AS {n} FROM ({q}) AS q LIMIT {k}").format(
            n=dialect_of(check).ident(COUNT_COLUMN), q=sql.SQL(query), k=SAMPLE_ROWS
        )

    def judge_alone(self, check, failing, samples, ctx):
        p = check.params
        threshold = {k: p[k] for k in ("error_if", "warn_if") if p.get(k)} or {"fail_if": "> 0"}
        severity = None
        if not (p.get("error_if") or p.get("warn_if")):
            failed = failing > 0
        elif p.get("error_if") and threshold_met(p["error_if"], failing):
            failed, severity = True, "error"
        elif p.get("warn_if") and threshold_met(p["warn_if"], failing):
            failed, severity = True, "warn"
        else:
            failed = False
        message = f"The query returned {failing} row(s)."
        return Outcome(
            FAIL if failed else PASS,
            message,
            observed=failing,
            threshold=threshold,
            failing=failing,
            samples=samples if failed else None,
            severity=severity,
        )


KINDS: dict[str, DataCheckKind] = {
    cls.kind: cls()
    for cls in (
        NotNull,
        Unique,
        NoNegative,
        AcceptedValues,
        Monotonic,
        Freshness,
        RowCount,
        GapDays,
        Relationships,
        CustomSql,
    )
}
