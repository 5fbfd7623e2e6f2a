"""Each kind of data check against a real table with known defects (see conftest), on
each engine: the status, the observed value and the sample rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from checks.datachecks.models import PIPELINE, DataCheck
from checks.datachecks.runner import run_checks
from tests.factories.ledger import CheckResultFactory, PipelineFactory, RunFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday


def instant(defects, text: str) -> str:
    """A sample's timestamp as the engine's driver gives it: PyMySQL's have no zone (the
    session's, UTC)."""
    return text if defects.engine == "mysql" else f"{text}+00:00"


def check_of(obj, kind: str, params: dict, **fields) -> DataCheck:
    check = DataCheck(
        object=obj, name=fields.pop("name", f"{kind}_check"), kind=kind, params=params, **fields
    )
    check.full_clean()
    check.save()
    return check


def run_one(obj, kind: str, params: dict, *, now: datetime = NOW, **fields):
    check = check_of(obj, kind, params, **fields)
    with time_machine.travel(now, tick=False):
        (result,) = run_checks([check]).results
    return result.outcome


def test_not_null_counts_the_null_and_samples_its_row(defects):
    outcome = run_one(defects.object("candles"), "not_null", {"column": "close"})
    assert (outcome.status, outcome.failing, outcome.observed, outcome.threshold) == (
        "fail",
        1,
        0.983333,
        1.0,
    )
    # the table's columns in the table's order, the row's values in the same order
    assert outcome.samples == {
        "columns": ["seq", "symbol", "day", "close", "status", "loaded_at"],
        "rows": [[35, "BBB", "2026-11-05", None, "ok", instant(defects, "2026-11-06T06:00:00")]],
    }


def test_not_null_passes_when_mostly_allows_the_nulls(defects):
    outcome = run_one(defects.object("candles"), "not_null", {"column": "close", "mostly": 0.95})
    assert (outcome.status, outcome.failing, outcome.samples) == ("pass", 1, None)


def test_unique_finds_the_duplicate_key(defects):
    outcome = run_one(defects.object("candles"), "unique", {"columns": ["symbol", "day"]})
    assert (outcome.status, outcome.observed, outcome.failing) == ("fail", 1, 1)
    assert outcome.samples == {
        "columns": ["symbol", "day", "occurrences"],
        "rows": [["AAA", "2026-11-10", 2]],
    }


def test_unique_passes_on_a_unique_column(defects):
    assert run_one(defects.object("candles"), "unique", {"columns": ["seq"]}).status == "pass"


@pytest.mark.parametrize("where", ["", "day >= '2026-11-01'"])
def test_unique_of_several_columns_skips_null_keys_sorted_or_distinct(defects, where):
    # Unfiltered: the previous row's key in key order (lag); filtered: count(DISTINCT (…)).
    # BBB's NULL close is not compared; AAA's duplicate of 2026-11-10 repeats (AAA, 110).
    outcome = run_one(defects.object("candles"), "unique", {"columns": ["symbol", "close"]}, where=where)
    assert (outcome.status, outcome.failing) == ("fail", 1)
    assert outcome.message == "1 of 59 row(s) repeat a (symbol, close) key of an earlier row."
    assert outcome.samples == {"columns": ["symbol", "close", "occurrences"], "rows": [["AAA", "110.00", 2]]}


@pytest.mark.parametrize("where", ["", "b > 0"])
def test_unique_compares_no_key_with_a_null_in_any_column(defects, where):
    # (NULL, 2) twice and (y, NULL) twice are not repeats (the sorted form partitions by
    # a, where PARTITION BY puts the NULLs together); (x, 1) twice is.
    outcome = run_one(defects.object("pairs"), "unique", {"columns": ["a", "b"]}, where=where)
    assert (outcome.status, outcome.failing) == ("fail", 1)
    assert outcome.message == "1 of 3 row(s) repeat a (a, b) key of an earlier row."
    assert outcome.samples == {"columns": ["a", "b", "occurrences"], "rows": [["x", 1, 2]]}


def test_no_negative_finds_the_negative_close(defects):
    outcome = run_one(defects.object("candles"), "no_negative", {"column": "close"})
    assert (outcome.status, outcome.observed) == ("fail", 1)
    assert [row[1:4] for row in outcome.samples["rows"]] == [["AAA", "2026-11-20", "-1.00"]]


def test_a_where_filter_restricts_the_rows_checked(defects):
    outcome = run_one(defects.object("candles"), "no_negative", {"column": "close"}, where="symbol = 'BBB'")
    assert (outcome.status, outcome.observed) == ("pass", 0)


def test_accepted_values_lists_the_unexpected_value(defects):
    outcome = run_one(
        defects.object("candles"), "accepted_values", {"column": "status", "values": ["ok", "suspended"]}
    )
    assert (outcome.status, outcome.observed) == ("fail", 1)
    assert outcome.samples == {"columns": ["value", "occurrences"], "rows": [["halted", 1]]}


def test_accepted_values_are_literals_quoted_for_the_engine(defects):
    # Each value must match itself exactly: MySQL's backslash depends on the sql_mode.
    values = ["ok", "it's", "a\\b", "é"]
    outcome = run_one(defects.object("labels"), "accepted_values", {"column": "label", "values": values})
    assert (outcome.status, outcome.observed) == ("pass", 0)
    outcome = run_one(
        defects.object("labels"), "accepted_values", {"column": "label", "values": ["ok"]}, name="ok"
    )
    assert (outcome.status, outcome.observed) == ("fail", 3)


def test_monotonic_finds_the_day_that_goes_backwards_in_load_order(defects):
    params = {"column": "day", "order_by": ["seq"], "partition_by": ["symbol"]}
    outcome = run_one(defects.object("candles"), "monotonic", params)
    assert (outcome.status, outcome.observed) == ("fail", 1)
    assert outcome.samples["columns"] == [
        "seq",
        "symbol",
        "day",
        "close",
        "status",
        "loaded_at",
        "previous_value",
    ]
    ((seq, _, day, *_, previous),) = outcome.samples["rows"]
    assert (seq, day, previous) == (1000, "2026-11-10", "2026-11-30")


def test_monotonic_with_a_where_filter_runs_alone_and_passes_without_the_late_row(defects):
    params = {"column": "day", "order_by": ["seq"], "partition_by": ["symbol"]}
    outcome = run_one(defects.object("candles"), "monotonic", params, where="seq < 1000")
    assert (outcome.status, outcome.observed) == ("pass", 0)


def test_freshness_with_max_age_is_fresh_then_stale(defects):
    candles = defects.object("candles")
    fresh = run_one(candles, "freshness", {"column": "loaded_at", "max_age": "12h"}, name="fresh")
    assert (fresh.status, fresh.observed, fresh.threshold) == ("pass", 6 * 3600, 12 * 3600)
    stale = run_one(
        candles,
        "freshness",
        {"column": "loaded_at", "max_age": "12h"},
        name="late",
        now=NOW + timedelta(days=1),
    )
    assert (stale.status, stale.observed) == ("fail", 30 * 3600)
    assert "30 h" not in stale.message and "1 d 6 h old" in stale.message


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "pass"),  # Sunday: Friday's load is the last due
        (datetime(2026, 12, 7, 7, 30, tzinfo=UTC), "pass"),  # Monday, within the grace of 06:00
        (datetime(2026, 12, 7, 9, 0, tzinfo=UTC), "fail"),  # Monday's load is late
    ],
)
def test_freshness_by_cron_is_calendar_aware(defects, now, status):
    params = {"column": "loaded_at", "expected": "0 6 * * 1-5", "timezone": "UTC", "grace": "2h"}
    outcome = run_one(defects.object("fx"), "freshness", params, now=now)
    assert outcome.status == status
    assert outcome.extra["newest"] == "2026-12-04T06:05:00+00:00"


def test_freshness_by_cron_follows_the_time_zone(defects):
    # Sunday 23:00 UTC is Monday 08:00 in Tokyo: Monday's 06:00 Tokyo load is due there,
    # while in UTC the last due load is still Friday's.
    sunday_night = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    tokyo = {"column": "loaded_at", "expected": "0 6 * * 1-5", "timezone": "Asia/Tokyo", "grace": "1h"}
    assert run_one(defects.object("fx"), "freshness", tokyo, now=sunday_night).status == "fail"
    utc = {**tokyo, "timezone": "UTC"}
    assert run_one(defects.object("fx"), "freshness", utc, now=sunday_night, name="utc").status == "pass"


def test_freshness_of_a_query(defects):
    query = defects.sql("SELECT max(loaded_at) FROM {raw}.candles WHERE symbol = 'BBB'")
    outcome = run_one(defects.object("candles"), "freshness", {"query": query, "max_age": "1d"})
    assert (outcome.status, outcome.observed) == ("pass", 6 * 3600)


def test_row_count_between_bounds(defects):
    candles = defects.object("candles")
    assert run_one(candles, "row_count", {"min": 10, "max": 100}, name="ok").observed == 60
    below = run_one(candles, "row_count", {"min": 100}, name="low")
    assert (below.status, below.observed, below.threshold) == ("fail", 60, {"min": 100})


def test_row_count_change_against_the_median_of_the_same_weekday(defects):
    check = check_of(defects.object("candles"), "row_count", {"change_pct": 20})
    run = RunFactory(pipeline=PipelineFactory(name=PIPELINE))
    # Tuesdays of the last 4 weeks: 100, 100, 90, 110 (median 100); a Monday's 60 is ignored.
    for weeks, count in [(1, 100), (2, 100), (3, 90), (4, 110)]:
        CheckResultFactory(
            run=run,
            asset_key=check.asset_key,
            check_name=check.ledger_name,
            checked_at=NOW - timedelta(weeks=weeks),
            metrics={"data_check_id": check.pk, "observed": count},
        )
    CheckResultFactory(
        run=run,
        check_name=check.ledger_name,
        checked_at=NOW - timedelta(days=1),
        metrics={"data_check_id": check.pk, "observed": 60},
    )
    with time_machine.travel(NOW, tick=False):
        (result,) = run_checks([check]).results
    outcome = result.outcome
    assert (outcome.status, outcome.observed) == ("fail", 60)
    assert outcome.threshold == {"change_pct": 20, "baseline": 100}
    assert outcome.extra["change_pct"] == -40.0


def test_row_count_change_without_history_is_a_skip_whose_count_is_the_next_baseline(defects):
    check = check_of(defects.object("candles"), "row_count", {"change_pct": 20})
    with time_machine.travel(NOW - timedelta(weeks=1), tick=False):
        (first,) = run_checks([check]).results
    outcome = first.outcome
    assert (outcome.status, outcome.observed, outcome.failing) == ("skip", 60, None)
    assert (
        outcome.message == "60 rows: no result on the same weekday in the last 4 weeks to compare with yet."
    )
    with time_machine.travel(NOW, tick=False):  # a week later, the skip's count is the median
        (second,) = run_checks([check]).results
    assert (second.outcome.status, second.outcome.threshold) == ("pass", {"change_pct": 20, "baseline": 60})


def test_row_count_bounds_are_judged_while_the_change_has_no_baseline(defects):
    outcome = run_one(defects.object("candles"), "row_count", {"min": 100, "change_pct": 20})
    assert outcome.status == "fail" and "no result" in outcome.extra["baseline"]


def test_gap_days_finds_the_missing_day_per_symbol(defects):
    params = {"date_column": "day", "window_days": 30, "partition_by": ["symbol"]}
    outcome = run_one(defects.object("candles"), "gap_days", params)
    assert (outcome.status, outcome.observed) == ("fail", 1)
    assert outcome.samples == {"columns": ["symbol", "day"], "rows": [["BBB", "2026-11-15"]]}


def test_gap_days_honours_excluded_dates_and_whole_table_days(defects):
    candles = defects.object("candles")
    excluded = {"date_column": "day", "partition_by": ["symbol"], "exclude_dates": ["2026-11-15"]}
    assert run_one(candles, "gap_days", excluded, name="excluded").status == "pass"
    assert run_one(candles, "gap_days", {"date_column": "day"}, name="whole").status == "pass"
    # a longer window reaches back into October, which has no rows
    longer = run_one(candles, "gap_days", {"date_column": "day", "window_days": 32}, name="longer")
    assert (longer.status, longer.observed) == ("fail", 2)
    assert longer.samples == {"columns": ["day"], "rows": [["2026-10-30"], ["2026-10-31"]]}


def test_gap_days_over_years_generates_every_day(defects):
    # More days than MySQL's and MariaDB's default recursion limit (1000).
    outcome = run_one(defects.object("candles"), "gap_days", {"date_column": "day", "window_days": 1500})
    assert (outcome.status, outcome.observed) == ("fail", 1500 - 30)
    first = NOW.date() - timedelta(days=1500)
    assert outcome.samples["rows"] == [[(first + timedelta(days=n)).isoformat()] for n in range(5)]


def test_relationships_finds_the_orphan(defects):
    params = {"column": "symbol", "to": defects.sql("{raw}.symbols.symbol")}
    outcome = run_one(defects.object("trades"), "relationships", params)
    assert (outcome.status, outcome.observed) == ("fail", 1)
    assert outcome.samples == {"columns": ["trade_id", "symbol"], "rows": [[3, "ZZZ"]]}


def test_custom_sql_fails_on_rows_and_samples_them(defects):
    query = defects.sql("SELECT symbol, day FROM {raw}.candles WHERE close IS NULL OR close < 0 ORDER BY day")
    outcome = run_one(defects.object("candles"), "custom_sql", {"sql": query})
    assert (outcome.status, outcome.observed, outcome.severity) == ("fail", 2, None)
    assert outcome.samples["columns"] == ["symbol", "day"]
    rows = [["BBB", "2026-11-05"], ["AAA", "2026-11-20"]]
    if defects.engine == "mysql":  # MySQL and MariaDB ignore the ORDER BY of a derived table
        assert sorted(outcome.samples["rows"]) == sorted(rows)
    else:
        assert outcome.samples["rows"] == rows


def test_custom_sql_thresholds_choose_the_severity(defects):
    candles = defects.object("candles")
    query = defects.sql("SELECT * FROM {raw}.candles WHERE close IS NULL OR close < 0")
    warn = run_one(candles, "custom_sql", {"sql": query, "warn_if": "> 1", "error_if": "> 5"}, name="warn")
    assert (warn.status, warn.severity) == ("fail", "warn")
    error = run_one(candles, "custom_sql", {"sql": query, "error_if": ">= 2"}, name="error")
    assert (error.status, error.severity) == ("fail", "error")
    calm = run_one(candles, "custom_sql", {"sql": query, "warn_if": "> 2"}, name="calm")
    assert (calm.status, calm.samples) == ("pass", None)


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("not_null", {}, "column: a column name is required."),
        ("not_null", {"column": "close", "mostly": 2}, "mostly: a share between 0 and 1."),
        ("unique", {"columns": []}, "columns: a list of column names is required."),
        ("unique", {"columns": ["a"], "colums": 1}, "colums: unknown parameter of unique."),
        ("freshness", {"column": "t"}, "max_age or expected (a cron expression): exactly one is required."),
        ("freshness", {"column": "t", "max_age": "soon"}, "max_age: 'soon' is not a duration"),
        (
            "freshness",
            {"column": "t", "expected": "every day"},
            "expected: 'every day' is not a cron expression",
        ),
        (
            "freshness",
            {"column": "t", "expected": "0 6 * * *", "timezone": "Mars/Olympus"},
            "timezone: unknown",
        ),
        ("row_count", {}, "min, max or change_pct: at least one is required."),
        ("row_count", {"min": 5, "max": 1}, "min: greater than max."),
        ("gap_days", {"date_column": "day", "exclude_dates": ["soon"]}, "exclude_dates: a list of dates"),
        (
            "relationships",
            {"column": "s", "to": "symbols"},
            "to: the referenced column as schema.object.column.",
        ),
        ("custom_sql", {"sql": "SELECT 1; DROP TABLE raw.candles"}, "sql: one query, without ';' inside."),
        ("custom_sql", {"sql": "SELECT 1", "warn_if": "lots"}, "warn_if: a comparison with a row count"),
    ],
)
def test_invalid_params_are_refused_with_a_clear_message(candles, kind, params, message):
    check = DataCheck(object=candles, name="bad", kind=kind, params=params)
    with pytest.raises(ValidationError) as excinfo:
        check.full_clean()
    assert message in excinfo.value.message_dict["params"][0]
