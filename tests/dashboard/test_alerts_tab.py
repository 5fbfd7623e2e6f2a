"""The inbox tab (`/ops/health?tab=alerts`): every incident with why it is quiet, the
suppression tree, and the staff's acknowledge / snooze / resolve forms."""

from __future__ import annotations

import pytest
from django.test import Client

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident
from ledger.models import Run
from tests.checks.alerts.conftest import record_evaluation, record_run
from tests.factories.alerts import AlertRuleFactory, ChannelFactory
from tests.factories.registry import DependencyFactory, RegistryObjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incidents():
    """A failed pipeline, and a root object failing with two failing objects downstream."""
    channel = ChannelFactory(kind="email", target="oncall@example.com")
    AlertRuleFactory(name="loads", kind="run_failed", channels=[channel])
    AlertRuleFactory(name="checks", kind="check_status", channels=[channel])
    record_run("load_orders", Run.FAILED)
    root = RegistryObjectFactory(schema_name="raw", object_name="orders")
    downstream = [RegistryObjectFactory(object_name=f"mart_{i}") for i in range(2)]
    for obj in downstream:
        DependencyFactory(upstream=root, downstream=obj)
    record_evaluation([("freshness_sla_breach", "ERROR", o) for o in (root, *downstream)])
    run_cycle()
    return Incident.objects.get(subject="load_orders")


def test_the_inbox_lists_incidents_with_the_suppression_tree(viewer, incidents):
    page = viewer.get("/ops/health?tab=alerts").content.decode()
    assert page.count('<tr class="suppressed">') == 2
    assert "an upstream object has an open incident" in page
    assert "load_orders" in page and "freshness_sla_breach: raw.orders" in page
    assert '<span class="pill warn">4 warning</span>' in page


def test_one_incident_shows_its_evidence_remedy_and_timeline(viewer, incidents):
    page = viewer.get(f"/ops/health?tab=alerts&incident={incidents.pk}").content.decode()
    assert "connection reset while loading orders" in page
    assert "What to do:</strong> Fix and re-run the failed pipelines." in page
    assert "notification: firing" in page and "event: opened" in page


def test_bad_parameters_are_400(viewer, incidents):
    assert viewer.get("/ops/health?tab=alerts&state=lost").status_code == 400
    assert viewer.get("/ops/health?tab=alerts&incident=x").status_code == 400
    assert viewer.get("/ops/health?tab=alerts&incident=999999").status_code == 400
    assert viewer.get("/ops/health?tab=alerts&colour=blue").status_code == 400


def test_staff_acknowledge_snooze_and_resolve_from_the_page(staff, incidents):
    page = staff.get("/ops/health?tab=alerts").content.decode()
    assert f'action="/ops/health/actions/incidents/{incidents.pk}/acknowledge"' in page
    url = f"/ops/health/actions/incidents/{incidents.pk}"
    response = staff.post(f"{url}/acknowledge", {"note": "on it"}, follow=True)
    assert f"Incident #{incidents.pk}: acknowledged." in response.content.decode()
    staff.post(f"{url}/snooze", {"for": "4h"})
    assert (
        "Snooze for one of" in staff.post(f"{url}/snooze", {"for": "forever"}, follow=True).content.decode()
    )
    staff.post(f"{url}/resolve")
    incidents.refresh_from_db()
    assert (incidents.state, incidents.ack_note, incidents.resolved_by_name) == ("resolved", "on it", "staff")
    assert incidents.snoozed_until is not None


def test_viewers_see_no_buttons_and_may_not_act(viewer, incidents):
    assert "/actions/incidents/" not in viewer.get("/ops/health?tab=alerts").content.decode()
    assert viewer.post(f"/ops/health/actions/incidents/{incidents.pk}/resolve").status_code == 403
    assert Incident.objects.get(pk=incidents.pk).state == "open"


def test_the_forms_need_their_csrf_token(staff_user, incidents):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert client.post(f"/ops/health/actions/incidents/{incidents.pk}/resolve").status_code == 403
    page = client.get("/ops/health?tab=alerts").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    url = f"/ops/health/actions/incidents/{incidents.pk}/resolve"
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
