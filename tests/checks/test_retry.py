"""The control loop on a real warehouse: a refresh that fails with a transient error (a real
statement timeout) is retried after a doubling cooldown, each retry a ledger run whose
parent is the failed run, exactly `max_attempts` attempts in all; permanent errors, an
unreachable source and an open circuit are never retried; the policy is data."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule

from checks import actions, retry
from checks.evaluate import evaluate
from checks.models import Action, RetryPolicy
from ledger.models import Run, RunAsset
from tests.checks.conftest import run_check
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow(source, warehouse, settings):
    """mart.slow takes 300 ms to refresh, mart.broken divides by zero; refreshes time out at 100 ms."""
    warehouse.execute("""
        CREATE TABLE raw.zero (n int);
        INSERT INTO raw.zero VALUES (0);
        CREATE MATERIALIZED VIEW mart.slow AS SELECT pg_sleep(0.3)::text AS x;
        CREATE MATERIALIZED VIEW mart.broken AS SELECT 1 AS x WITH NO DATA;
        CREATE OR REPLACE VIEW raw.v AS SELECT 1 / n AS x FROM raw.zero;
        DROP MATERIALIZED VIEW mart.broken;
        CREATE MATERIALIZED VIEW mart.broken AS SELECT x FROM raw.v WITH NO DATA;
    """)
    settings.OPSHEALTH_REFRESH_STATEMENT_TIMEOUT_MS = 100
    return {
        name: RegistryObjectFactory(
            source=source, schema_name="mart", object_name=name, object_type="matview"
        )
        for name in ("slow", "broken")
    }


def _retries():
    return list(Action.objects.filter(via=Action.CONTROL_LOOP).order_by("id"))


def test_sqlstates_are_classified_transient_or_not():
    for code in ("08006", "40001", "40P01", "55P03", "57014"):
        assert retry.is_transient(code), code
    for code in ("22012", "42601", "P0001", ""):
        assert not retry.is_transient(code), code


def test_a_transient_failure_is_retried_with_a_doubling_cooldown_exactly_max_attempts_times(slow):
    start = timezone.now()
    with time_machine.travel(start, tick=False), pytest.raises(CommandError):
        call_command("refresh_matviews", stdout=StringIO(), stderr=StringIO())
    first_run = Run.objects.get(pipeline__name="opshealth.refresh_matviews")
    (planned,) = _retries()  # mart.broken (division by zero) is not retried
    assert (planned.target, planned.attempt, planned.state) == ("wh:mart.slow", 2, Action.QUEUED)
    assert planned.parent_run == first_run
    assert planned.not_before == start + timedelta(minutes=10)
    assert Schedule.objects.get(func="checks.actions.perform").next_run == planned.not_before
    assert retry.is_retrying(slow["slow"].pk) and not retry.is_retrying(slow["broken"].pk)

    # While retrying, the check says so.
    item = next(i for i in run_check("mv_refresh_failed").items if i.subject == "mart.slow")
    assert item.detail["retry"] == f"retrying (attempt 2 of 3, next at {planned.not_before.isoformat()})"

    # The cluster runs it when the cooldown is over: it fails again; the next waits twice as long.
    with time_machine.travel(planned.not_before, tick=False):
        actions.perform(planned.pk)
    planned.refresh_from_db()
    assert planned.state == Action.FAILED and planned.run.parent_run == first_run
    third = _retries()[-1]
    assert (third.attempt, third.parent_run, third.not_before) == (
        3,
        planned.run,
        planned.not_before + timedelta(minutes=20),
    )
    with time_machine.travel(third.not_before, tick=False):
        actions.perform(third.pk)
    # Three attempts in all: no fourth.
    assert len(_retries()) == 2
    assert not retry.is_retrying(slow["slow"].pk)
    slow_refreshes = RunAsset.objects.filter(
        asset_key="mart.slow", run__pipeline__name="opshealth.refresh_matviews"
    )
    assert [a.status for a in slow_refreshes] == ["failed"] * 3
    assert slow_refreshes.last().extra["sqlstate"] == "57014"


def test_a_per_object_policy_overrides_the_default(slow, admin_token_client):
    response = admin_token_client.post(
        "/api/v1/retry-policies", {"object": slow["slow"].pk, "max_attempts": 1}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["effective"] == {"max_attempts": 1, "cooldown": "00:10:00"}
    with pytest.raises(CommandError):
        call_command("refresh_matviews", stdout=StringIO(), stderr=StringIO())
    assert _retries() == []


def test_the_policy_api_takes_a_duration_and_refuses_other_objects(slow, admin_token_client, read_client):
    table = RegistryObjectFactory(object_type="table")
    url = "/api/v1/retry-policies"
    assert admin_token_client.post(url, {"object": table.pk}, format="json").status_code == 400
    bad = admin_token_client.post(url, {"object": slow["slow"].pk, "cooldown": "soon"}, format="json")
    assert bad.status_code == 400 and "cooldown" in bad.json()
    ok = admin_token_client.post(url, {"object": slow["slow"].pk, "cooldown": "90m"}, format="json")
    assert ok.json()["effective"] == {"max_attempts": 3, "cooldown": "01:30:00"}
    assert RetryPolicy.objects.get().cooldown == timedelta(minutes=90)
    assert read_client.get(url).status_code == 403


def test_an_open_circuit_stops_auto_retries_of_the_source(slow):
    for _ in range(5):
        Action.objects.create(
            kind="refresh",
            target="other",
            source=slow["slow"].source,
            via=Action.CONTROL_LOOP,
            state=Action.DONE,
        )
    with pytest.raises(CommandError):
        call_command("refresh_matviews", stdout=StringIO(), stderr=StringIO())
    assert len(_retries()) == 5  # none added


def test_no_retry_while_the_source_is_unreachable(slow, warehouse_dsn):
    source = slow["slow"].source
    source.dsn = "postgresql://nobody@127.0.0.1:1/x"
    source.save()
    evaluate()  # source_unreachable: the blocker reads the latest evaluation
    source.dsn = warehouse_dsn
    source.save()
    with pytest.raises(CommandError):
        call_command("refresh_matviews", stdout=StringIO(), stderr=StringIO())
    assert _retries() == []
