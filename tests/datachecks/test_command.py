"""`manage.py run_data_checks`: which checks it runs, what it prints, its exit status."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.models import CheckResult
from tests.factories.checks import DataCheckFactory


def call(*args) -> str:
    out = io.StringIO()
    call_command("run_data_checks", *args, stdout=out)
    return out.getvalue()


def test_runs_the_checks_of_an_object_and_prints_each_result(candles, registry_object):
    DataCheckFactory(
        object=candles, name="candles_unique", kind="unique", params={"columns": ["symbol", "day"]}
    )
    DataCheckFactory(object=candles, name="candles_rows", kind="row_count", params={"min": 1})
    DataCheckFactory(object=registry_object("fx"), name="fx_rows")
    out = call("--object", "raw.candles")
    assert (
        "fail  raw.candles candles_unique: 1 of 60 row(s) repeat a (symbol, day) key of an earlier row."
        in out
    )
    assert "pass  raw.candles candles_rows: 60 rows." in out
    assert out.strip().endswith("2 data check(s) on 1 object(s): 1 pass, 1 fail")
    assert CheckResult.objects.count() == 2


def test_one_check_runs_even_when_disabled_and_all_runs_every_enabled_one(candles):
    off = DataCheckFactory(object=candles, name="off", enabled=False)
    DataCheckFactory(object=candles, name="on")
    assert "1 data check(s)" in call("--check", str(off.pk))
    assert (
        "raw.candles on:" in call("--all")
        and CheckResult.objects.filter(check_name="defects/off").count() == 1
    )


def test_an_error_result_exits_non_zero_after_recording_it(candles):
    DataCheckFactory(object=candles, name="broken", kind="not_null", params={"column": "nope"})
    with pytest.raises(CommandError, match="1 data check\\(s\\) could not run"):
        call("--source", "defects")
    assert CheckResult.objects.get().status == "error"


def test_needs_a_selection_and_something_to_run(db):
    with pytest.raises(CommandError, match="say which checks"):
        call()
    with pytest.raises(CommandError, match="no data check matches"):
        call("--all")


def test_due_runs_what_the_schedule_says(candles):
    DataCheckFactory(object=candles, name="hourly")
    assert "1 data check(s) on 1 object(s): 1 pass" in call("--due")
    assert call("--due").strip() == "0 data check(s) on 0 object(s)"
