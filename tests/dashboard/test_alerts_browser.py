"""The inbox in a real headless chromium: acknowledging an incident from the page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from checks.alerts.cycle import run_cycle
from checks.alerts.models import Incident
from ledger.models import Run
from tests.checks.alerts.conftest import record_run
from tests.dashboard.test_browser import SCREENSHOTS, VIEWPORTS, Watched
from tests.factories.alerts import AlertRuleFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def incident(db) -> Incident:
    AlertRuleFactory(name="loads", kind="run_failed")
    record_run("load_orders", Run.FAILED)
    run_cycle()
    return Incident.objects.get()


@pytest.fixture
def staff_cookie(incident, staff_user) -> dict:
    client = Client()
    client.force_login(staff_user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


def test_staff_acknowledge_an_incident_from_the_inbox(live_server, staff_cookie, incident, browser):
    watched = Watched(browser, live_server.url, staff_cookie, VIEWPORTS["phone"])
    watched.goto(f"{live_server.url}/ops/health?tab=alerts")
    row = watched.page.locator("table.inbox tr", has_text="load_orders")
    row.get_by_label("acknowledgement note").fill("looking at it")
    row.get_by_role("button", name="Acknowledge").click()
    watched.page.wait_for_load_state("load")
    assert f"Incident #{incident.pk}: acknowledged." in watched.page.locator(".messages").inner_text()
    assert "Acknowledged by staff" in watched.page.locator("#incident").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=SCREENSHOTS / "alerts-incident-phone.png", full_page=True)
    watched.context.close()
    assert watched.errors == []
    assert watched.foreign == []
