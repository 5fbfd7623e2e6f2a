"""Data checks as code: `opshealth.yml`, loaded by `data_checks load` and by `discover`,
idempotently; every problem of a bad file reported at once, nothing half loaded."""

from __future__ import annotations

import io
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from checks.datachecks.definitions import DefinitionError, load_file, stored_path
from checks.datachecks.models import DataCheck, DefinitionFile
from registry.discovery import discover
from tests.factories.checks import DataCheckFactory

SEED_001 = """
source: defects
checks:
  - name: candles_unique_symbol_date
    object: raw.candles
    kind: unique
    columns: [symbol, day]
  - name: candles_monotonic_date
    object: raw.candles
    kind: monotonic
    column: day
    order_by: [seq]
    partition_by: [symbol]
  - name: candles_no_negative_prices
    object: raw.candles
    kind: no_negative
    column: close
  - name: candles_gap_days_last_30
    object: raw.candles
    kind: gap_days
    date_column: day
    window_days: 30
    partition_by: [symbol]
    severity: warn
    schedule: "0 7 * * *"
"""


def write(tmp_path, text: str, name: str = "opshealth.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loading_twice_creates_once_then_changes_nothing(tmp_path, candles):
    path = write(tmp_path, SEED_001)
    first = load_file(path)
    assert first.created == [
        "raw.candles.candles_unique_symbol_date",
        "raw.candles.candles_monotonic_date",
        "raw.candles.candles_no_negative_prices",
        "raw.candles.candles_gap_days_last_30",
    ]
    again = load_file(path)
    assert (again.created, again.updated, len(again.unchanged)) == ([], [], 4)
    gaps = DataCheck.objects.get(name="candles_gap_days_last_30")
    assert (gaps.origin, gaps.file_path, gaps.severity, gaps.schedule) == (
        "file",
        stored_path(path),
        "warn",
        "0 7 * * *",
    )
    assert gaps.params == {"date_column": "day", "window_days": 30, "partition_by": ["symbol"]}


def test_an_edited_file_updates_and_prune_deletes_what_it_dropped(tmp_path, candles):
    path = write(tmp_path, SEED_001)
    load_file(path)
    hash_before = DataCheck.objects.get(name="candles_no_negative_prices").definition_hash
    edited = SEED_001.replace("column: close", "column: close\n    severity: warn")
    edited = edited[: edited.index("  - name: candles_gap_days_last_30")]
    write(tmp_path, edited)
    kept = load_file(path)
    assert kept.updated == ["raw.candles.candles_no_negative_prices"]
    assert kept.stale == ["raw.candles.candles_gap_days_last_30"]
    assert DataCheck.objects.get(name="candles_no_negative_prices").definition_hash != hash_before
    pruned = load_file(path, prune=True)
    assert pruned.pruned == ["raw.candles.candles_gap_days_last_30"]
    assert DataCheck.objects.count() == 3


def test_a_bad_file_reports_every_problem_and_loads_nothing(tmp_path, candles):
    path = write(
        tmp_path,
        """
        checks:
          - name: ok
            object: raw.candles
            kind: row_count
            min: 1
          - name: typo
            object: raw.candles
            kind: not_null
            colum: close
          - object: raw.gone
            kind: row_count
            min: 1
          - name: ok
            object: raw.candles
            kind: row_count
            max: 5
        """,
    )
    with pytest.raises(DefinitionError) as excinfo:
        load_file(path, source="defects")
    assert str(excinfo.value).splitlines() == [
        f"{path}: check 2 (typo): params: colum: unknown parameter of not_null.; column: a column name is required.",
        f"{path}: check 3: object: 'raw.gone': no such object in the registry of source defects (run discover first?).",
        f"{path}: check 4 (ok): raw.candles: the name 'ok' is used twice in the file",
    ]
    assert not DataCheck.objects.exists()


def test_invalid_yaml_names_the_line(tmp_path, db):
    path = write(tmp_path, "checks:\n  - name: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"line 3.*not valid YAML|line 2.*not valid YAML"):
        load_file(path)


def test_a_file_cannot_take_over_a_check_defined_in_the_api(tmp_path, candles):
    api_check = DataCheckFactory(object=candles, name="candles_unique_symbol_date")
    with pytest.raises(DefinitionError, match=f"already defined in the API \\(id {api_check.pk}\\)"):
        load_file(write(tmp_path, SEED_001))


def test_the_command_loads_and_prunes(tmp_path, candles):
    path = write(tmp_path, SEED_001)
    out = io.StringIO()
    call_command("data_checks", "load", str(path), "--source", "defects", stdout=out)
    assert "created   raw.candles.candles_unique_symbol_date" in out.getvalue()
    assert out.getvalue().strip().endswith("4 created, 0 updated, 0 unchanged, 0 pruned")
    write(tmp_path, "checks: [oops]")
    with pytest.raises(CommandError, match="nothing loaded"):
        call_command("data_checks", "load", str(path), stdout=io.StringIO())


def test_discover_loads_the_file_of_a_code_path(tmp_path, defects_source):
    write(tmp_path, SEED_001.replace("source: defects\n", ""))
    defects_source.code_paths = [str(tmp_path)]
    defects_source.save()
    discover(defects_source, code_scan=False)
    assert DataCheck.objects.filter(origin="file", object__object_name="candles").count() == 4
    write(tmp_path, "checks:\n  - {name: only_one, object: raw.candles, kind: row_count, min: 1}\n")
    discover(defects_source, code_scan=False)
    assert list(DataCheck.objects.values_list("name", flat=True)) == ["only_one"]


def test_discover_shows_a_bad_file_s_problems_and_its_row_keeps_them(tmp_path, defects_source):
    path = write(tmp_path, "checks:\n  - {name: typo, object: raw.candles, kind: not_null, colum: close}\n")
    defects_source.code_paths = [str(tmp_path)]
    defects_source.save()
    out = io.StringIO()
    call_command("discover", "--source", "defects", "--no-code-scan", stdout=out)  # not a failure
    problem = f"{path}: check 1 (typo): params: colum: unknown parameter of not_null.; column: a column name is required."
    assert out.getvalue().splitlines()[1:] == [
        f"  data checks of {stored_path(path)} NOT loaded (1 problem(s)):",
        f"    {problem}",
    ]
    (row,) = DefinitionFile.objects.all()
    assert (row.path, row.source_name, row.status, row.detail) == (
        stored_path(path),
        "defects",
        "failed",
        problem,
    )
    write(tmp_path, "checks:\n  - {name: rows, object: raw.candles, kind: row_count, min: 1}\n")
    out = io.StringIO()
    call_command("discover", "--source", "defects", "--no-code-scan", stdout=out)
    summary = f"{stored_path(path)}: 1 created, 0 updated, 0 unchanged, 0 pruned"
    assert out.getvalue().splitlines()[1:] == [f"  data checks {summary}"]
    row.refresh_from_db()
    assert (row.status, row.detail) == ("loaded", summary)


def test_the_command_records_each_load_of_a_file(tmp_path, candles):
    path = write(tmp_path, "checks: [oops]")
    with pytest.raises(CommandError):
        call_command("data_checks", "load", str(path), stdout=io.StringIO())
    assert DefinitionFile.objects.get(path=stored_path(path)).status == "failed"
