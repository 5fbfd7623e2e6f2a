"""What a data engineer does: checks in YAML next to the code, run on schedule, an alert
on failure (a `check_status` rule on `data_check_failed`), the history in the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident
from checks.datachecks.models import DataCheck
from checks.evaluate import evaluate
from opshealth import schedules
from registry.discovery import discover
from tests.factories.alerts import AlertRuleFactory

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
YAML = """
checks:
  - name: candles_unique_symbol_date
    object: raw.candles
    kind: unique
    columns: [symbol, day]
  - name: candles_rows
    object: raw.candles
    kind: row_count
    min: 1
"""


def test_yaml_checks_run_on_schedule_alert_on_failure_and_keep_their_history(
    tmp_path, defects_source, read_client
):
    (tmp_path / "opshealth.yml").write_text(YAML)
    defects_source.code_paths = [str(tmp_path)]
    defects_source.save()
    discover(defects_source, code_scan=False)
    AlertRuleFactory(name="data checks", kind="check_status", scope_check_key="data_check_failed")
    for hours in (0, 1):
        with time_machine.travel(NOW + timedelta(hours=hours), tick=False):
            assert schedules.run("opshealth.data_checks") == "2 data check(s) on 1 object(s): 1 pass, 1 fail"
            evaluate(now=NOW + timedelta(hours=hours))
            run_cycle(NOW + timedelta(hours=hours))
    (incident,) = Incident.objects.all()
    assert incident.subject == "data_check_failed: raw.candles: defects/candles_unique_symbol_date"
    check = DataCheck.objects.get(name="candles_unique_symbol_date")
    history = read_client.get(f"/api/v1/data-checks/{check.pk}/results").json()["results"]
    assert [(r["checked_at"], r["status"]) for r in history] == [
        ("2026-12-01T13:00:00Z", "fail"),
        ("2026-12-01T12:00:00Z", "fail"),
    ]
