"""The OpenAPI schema is the truth: schemathesis fuzzes every operation of /api/schema/
against the app and checks each response against what the schema declares.

In process (WSGI, no server): each request runs in this test's transaction, on a
database seeded with one row of every kind, nullable columns left null, so responses
carry real rows. Each example runs in a savepoint rolled back after it: a DELETE or a
POST of one example does not change what the next one sees.

Bounded and deterministic: a fixed seed, derandomized generation, no example database,
MAX_EXAMPLES per operation, valid and invalid inputs.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import time, timedelta

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from django.utils import timezone
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup, as_reported_failure
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from checks.alerts.cycle import run_cycle
from checks.alerts.models import MaintenanceWindow, Silence
from checks.alerts.outbox import deliver_due
from checks.evaluate import evaluate
from checks.health import CHECKS as HEALTH_CHECKS
from checks.models import Action, RetryPolicy
from ledger.models import ApiToken
from opshealth.wsgi import application
from tests.common.test_permission_matrix import expected
from tests.factories.alerts import AlertRuleFactory, ChannelFactory
from tests.factories.checks import DataCheckFactory
from tests.factories.ledger import (
    CheckResultFactory,
    ClientFactory,
    PipelineFactory,
    RunAssetFactory,
    RunFactory,
    WatermarkFactory,
)
from tests.factories.registry import (
    CodeUsageFactory,
    ColumnFactory,
    DependencyFactory,
    RegistryObjectFactory,
    ResolverRuleFactory,
    SourceFactory,
)

pytestmark = pytest.mark.django_db

SEED = 20261201
MAX_EXAMPLES = 25
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(db) -> dict[str, tuple[str, list]]:
    """One row of each kind the API shows, with the nullable columns null; returns the
    values path parameters are drawn from."""
    source = SourceFactory(name="wh", dsn="postgresql://wh:pw@127.0.0.1:9/wh")
    raw = RegistryObjectFactory(source=source, schema_name="raw", object_name="orders")
    mart = RegistryObjectFactory(
        source=source, schema_name="mart", object_name="daily", object_type="matview"
    )
    ColumnFactory(object=raw, name="order_id")
    DependencyFactory(upstream=raw, downstream=mart)
    CodeUsageFactory(object=raw)
    rule = ResolverRuleFactory(match="orders", target="raw.orders")
    client = ClientFactory(name="acme")
    pipeline = PipelineFactory(name="load_orders", client=client)
    failed = RunFactory(pipeline=pipeline, status="failed")
    RunFactory(pipeline=PipelineFactory(name="nightly"), status="running")
    RunAssetFactory(run=failed, asset_key="raw.orders")
    watermark = WatermarkFactory(asset_key="raw.orders")
    CheckResultFactory(asset_key="raw.orders", run=failed, status="fail")
    CheckResultFactory(asset_key="raw.orders")
    check = DataCheckFactory(object=raw)
    policy = RetryPolicy.objects.create(object=mart, max_attempts=2)
    action = Action.objects.create(kind="evaluate", requested_by_name="test", via=Action.API)
    channel = ChannelFactory(name="ops-mail", kind="email", target="ops@example.com")
    alert = AlertRuleFactory(name="failed runs", kind="run_failed", channels=[channel])
    silence = Silence.objects.create(
        scope_pipeline="nightly", ends_at=timezone.now() + timedelta(hours=1), comment="deploy"
    )
    window = MaintenanceWindow.objects.create(
        name="sunday", weekdays=[6], start_time=time(2, 0), duration=timedelta(hours=2), comment=""
    )
    evaluate()
    run_cycle()
    deliver_due()
    incidents = list(alert.incidents.values_list("id", flat=True))
    deliveries = list(channel.deliveries.values_list("id", flat=True))
    assert incidents and deliveries, "the seed fires an alert and delivers it"
    # Each detail path (prefix) with its path parameter and the seeded rows' values.
    return {
        "/api/v1/sources/": ("id", [source.pk]),
        "/api/v1/ops/source-registry/": ("id", [raw.pk, mart.pk]),
        "/api/v1/ops/health-checks/": ("check_key", sorted(HEALTH_CHECKS)),
        "/api/v1/resolvers/": ("id", [rule.pk]),
        "/api/v1/ledger/clients/": ("id", [client.pk]),
        "/api/v1/ledger/pipelines/": ("id", [pipeline.pk]),
        "/api/v1/ledger/runs/": ("run_id", [str(failed.run_id)]),
        "/api/v1/ledger/watermarks/": ("id", [watermark.pk]),
        "/api/v1/data-checks/": ("id", [check.pk]),
        "/api/v1/retry-policies/": ("id", [policy.pk]),
        "/api/v1/actions/": ("id", [action.pk]),
        "/api/v1/alerts/channels/": ("id", [channel.pk]),
        "/api/v1/alerts/rules/": ("id", [alert.pk]),
        "/api/v1/alerts/silences/": ("id", [silence.pk]),
        "/api/v1/alerts/maintenance-windows/": ("id", [window.pk]),
        "/api/v1/alerts/incidents/": ("id", incidents),
        "/api/v1/alerts/deliveries/": ("id", deliveries),
    }


@pytest.fixture
def tokens(db) -> dict[str, str]:
    return {scope: ApiToken.issue(f"fuzz-{scope}", scope)[1] for scope in ("read", "ingest", "admin")}


@pytest.fixture
def django_requests():
    """Django's test client's request handling: the requests of a test run inside its
    transaction, which closing "old" connections at each request's start and end would
    break."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(seeded, tokens, django_requests):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Valid and invalid inputs (modes positive and negative), MAX_EXAMPLES in all.
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # The coverage phase's cases are not bounded by max-examples: they grow with
            # an operation's parameters (hundreds for the registry's list). The examples
            # phase (the schema's examples) and the fuzzing phase run.
            "phases": {"coverage": {"enabled": False}},
            # A path parameter is a seeded row's half the time: a detail operation then
            # shows (or edits) a real row, not only a 404.
            "dictionaries": {f"rows{n}": {"values": values} for n, (_, values) in enumerate(seeded.values())},
            "operations": [
                {
                    "include-path-regex": f"^{re.escape(prefix)}\\{{",
                    "parameters": {f"path.{name}": {"dictionary": f"rows{n}", "probability": 0.5}},
                }
                for n, (prefix, (name, _)) in enumerate(seeded.items())
            ],
        }
    )
    return schemathesis.openapi.from_wsgi(
        "/api/schema/", application, config=config, headers={"Authorization": f"Bearer {tokens['read']}"}
    )


def token_for(case, tokens: dict[str, str]) -> str:
    """The token of the least scope the operation takes (tests/common/test_permission_matrix)."""
    allowed = expected(case.method.upper(), case.operation.path.rstrip("/"))
    return tokens[next(scope for scope in ("read", "ingest", "admin") if allowed[scope])]


def call_and_validate(case, tokens: dict[str, str], calls: Counter) -> None:
    """One example: the request with the token its operation takes, rolled back after."""
    headers = {"Authorization": f"Bearer {token_for(case, tokens)}"}
    savepoint = transaction.atomic()
    # The test's own block, as Django's TestCase marks its: a RunLogger (check-now) runs in it.
    savepoint._from_testcase = True
    with savepoint:
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    calls[case.operation.label, response.status_code < 300] += 1
    case.validate_response(response, checks=RESPONSE_CHECKS, headers=headers)


def test_every_operation_answers_as_the_schema_says(api_schema, tokens, subtests):
    # schemathesis.pytest.from_fixture() would do this loop, but it sets `Function._nodeid`,
    # which pytest 9.2 no longer has: the same loop (get_all_tests) with pytest's subtests.
    settings = hypothesis.settings(
        deadline=timedelta(seconds=30), suppress_health_check=list(hypothesis.HealthCheck)
    )
    operations, calls = [], Counter()
    for result in get_all_tests(
        schema=api_schema, test_func=call_and_validate, settings=settings, given_kwargs={}
    ):
        operation, test = result.ok()
        operations.append(operation.label)
        with subtests.test(msg=operation.label):
            try:
                test(tokens=tokens, calls=calls)
            except FailureGroup as exc:
                raise as_reported_failure(exc) from None
    served = {label for label, ok in calls if ok}
    print(f"schemathesis: {len(operations)} operations, {calls.total()} requests; no 2xx for:")
    print("\n".join(sorted(set(operations) - served)))
    assert len(operations) > 100
    # Most operations answered a success at least once: they ran, not only refused.
    assert len(served) > 0.8 * len(operations)
