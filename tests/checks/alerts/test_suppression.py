"""Lineage-aware suppression: an incident downstream of an object with an open incident
(transitively, through the registry's edges), or on an object of an unreachable source,
is attached to that incident instead of paging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident
from tests.checks.alerts.conftest import record_evaluation
from tests.factories.alerts import AlertRuleFactory, ChannelFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lineage():
    """raw.orders → canon.orders → 49 marts (51 objects, the root and 50 downstream)."""
    source = SourceFactory(name="wh")
    root = RegistryObjectFactory(source=source, schema_name="raw", object_name="orders")
    canon = RegistryObjectFactory(source=source, schema_name="canon", object_name="orders")
    DependencyFactory(upstream=root, downstream=canon)
    marts = [RegistryObjectFactory(source=source, object_name=f"mart_{i}") for i in range(49)]
    for mart in marts:
        DependencyFactory(upstream=canon, downstream=mart)
    return root, [canon, *marts]


@pytest.fixture
def hook(receiver):
    channel = ChannelFactory(target=receiver.url)
    AlertRuleFactory(name="checks", kind="check_status", channels=[channel])
    return channel


def test_one_root_failure_with_50_failing_downstream_objects_pages_once(clock, receiver, hook, lineage):
    root, downstream = lineage
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in (root, *downstream)])
    report = run_cycle()
    assert report.opened == 51
    assert [r.body["subject"] for r in receiver.accepted] == ["freshness_sla_breach: raw.orders"]
    root_incident = Incident.objects.get(object=root)
    suppressed = Incident.objects.filter(suppressed_by__isnull=False)
    assert suppressed.count() == 50
    assert {i.quiet_reason for i in suppressed} == {"upstream"}
    # the tree: canon.orders hangs on the root, the marts on canon.orders
    canon = Incident.objects.get(object=downstream[0])
    assert canon.suppressed_by == root_incident
    assert set(Incident.objects.filter(suppressed_by=canon).values_list("object", flat=True)) == {
        o.pk for o in downstream[1:]
    }


def test_when_the_root_resolves_its_failing_dependents_page_in_the_same_cycle(clock, receiver, hook, lineage):
    root, downstream = lineage
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in (root, *downstream)])
    run_cycle()
    clock.shift(timedelta(minutes=5))
    still_failing = downstream[1:4]  # three marts; canon.orders recovered with the root
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in still_failing])
    report = run_cycle()
    assert report.resolved == 48
    pages = sorted(r.body["subject"] for r in receiver.accepted[1:])
    assert pages == sorted(f"freshness_sla_breach: {o.qualified_name}" for o in still_failing)
    assert not Incident.objects.unresolved().filter(quiet_reason__gt="").exists()


def test_objects_of_an_unreachable_source_hang_on_the_source_incident(clock, receiver, hook, lineage):
    _root, downstream = lineage
    record_evaluation([("source_unreachable", "ERROR", "wh"), ("mv_refresh_failed", "ERROR", downstream[5])])
    run_cycle()
    source_incident = Incident.objects.get(labels__check_key="source_unreachable")
    mart = Incident.objects.get(object=downstream[5])
    assert (mart.suppressed_by, mart.quiet_reason) == (source_incident, "unreachable_source")
    assert [r.body["subject"] for r in receiver.accepted] == ["source_unreachable: wh"]


def test_a_loop_in_the_lineage_ends(clock, receiver, hook):
    a, b = RegistryObjectFactory(object_name="a"), RegistryObjectFactory(object_name="b")
    DependencyFactory(upstream=a, downstream=b)
    DependencyFactory(upstream=b, downstream=a)
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in (a, b)])
    run_cycle()
    # each is upstream of the other: the older incident is the root and pages
    first, second = Incident.objects.order_by("id")
    assert (first.suppressed_by, second.suppressed_by) == (None, first)
    assert [r.body["subject"] for r in receiver.accepted] == ["freshness_sla_breach: mart.a"]
