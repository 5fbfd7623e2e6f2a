"""One definition of "the latest evaluation" (`Evaluation.objects.latest_one()`: by time,
then id), read by the model, the API's polled endpoints and alerting's statements."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checks.alerts import queries
from checks.alerts.conditions import evaluator
from checks.models import Evaluation
from tests.checks.alerts.conftest import record_evaluation
from tests.factories.alerts import AlertRuleFactory
from tests.factories.registry import RegistryObjectFactory

pytestmark = pytest.mark.django_db


def _firing(rules) -> dict[str, list[str]]:
    now = timezone.now()
    return {rule.kind: [f.subject for f in evaluator(rule.kind).firing([rule], now)] for rule in rules}


def test_every_reader_takes_the_same_latest_evaluation_of_two_at_one_time(clock):
    obj = RegistryObjectFactory(schema_name="raw", object_name="orders", source__name="demo")
    rules = [AlertRuleFactory(kind="check_status"), AlertRuleFactory(kind="global_status")]
    failing = record_evaluation(
        [("freshness_sla_breach", "ERROR", obj), ("source_unreachable", "ERROR", "demo")]
    )
    assert _firing(rules) == {
        "check_status": ["freshness_sla_breach: raw.orders", "source_unreachable: demo"],
        "global_status": ["global status"],
    }
    assert queries.unreachable_roots({1: obj.pk}) == {1: None}  # its source, no incident yet

    # Evaluated in the same instant (the clock stands still): the higher id is the latest.
    green = record_evaluation([], status="OK")

    assert green.evaluated_at == failing.evaluated_at
    assert Evaluation.latest() == green
    assert Evaluation.latest_version() == (green.pk, green.evaluated_at)
    assert _firing(rules) == {"check_status": [], "global_status": []}
    assert queries.unreachable_roots({1: obj.pk}) == {}
