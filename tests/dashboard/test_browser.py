"""The dashboard in a real headless chromium: every tab renders with no console error
and no request to another host, a failing check leads to an offending object's page,
and each tab leaves a screenshot under .opshealth/screenshots/ (desktop and phone)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from opshealth.dashboard.tabs import TABS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / ".opshealth" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def session_cookie(platform, staff_user) -> dict:
    client = Client()
    client.force_login(staff_user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


class Watched:
    """A page whose console errors and requests to other hosts are collected."""

    def __init__(self, browser, base_url: str, cookie: dict, viewport: dict):
        self.context = browser.new_context(viewport=viewport)
        self.context.add_cookies([{**cookie, "url": base_url}])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on(
            "request",
            lambda r: r.url.startswith((base_url, "data:")) or self.foreign.append(r.url),
        )

    def goto(self, url: str) -> int:
        response = self.page.goto(url)
        self.page.wait_for_load_state("load")
        return response.status


def test_every_tab_renders_cleanly_on_desktop_and_phone(live_server, session_cookie, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in VIEWPORTS.items():
        watched = Watched(browser, live_server.url, session_cookie, viewport)
        for key, tab in TABS.items():
            assert watched.goto(f"{live_server.url}/ops/health?tab={key}") == 200
            assert watched.page.locator('nav.tabs a[aria-current="page"]').inner_text() == tab.title
            watched.page.screenshot(path=SCREENSHOTS / f"{key}-{name}.png", full_page=True)
        watched.context.close()
        assert watched.errors == []
        assert watched.foreign == []


def test_a_failing_check_leads_to_an_offending_objects_page(live_server, session_cookie, platform, browser):
    watched = Watched(browser, live_server.url, session_cookie, VIEWPORTS["desktop"])
    page = watched.page
    watched.goto(f"{live_server.url}/ops/health")
    page.get_by_role("link", name="freshness_sla_breach").click()
    page.get_by_role("link", name="raw.events").first.click()
    page.wait_for_load_state("load")
    assert page.url == f"{live_server.url}/ops/health/objects/{platform.raw.pk}"
    assert page.locator("h1").inner_text().startswith("raw.events")
    # The lineage graph links onward: the downstream view is one click away.
    assert page.get_by_role(
        "img", name="Lineage of raw.events, 2 hops up and down: 0 upstream and 2 downstream objects"
    ).is_visible()
    page.screenshot(path=SCREENSHOTS / "object-desktop.png", full_page=True)
    page.locator("svg.lineage a", has_text="mart.v_events").click()
    page.wait_for_load_state("load")
    assert page.url == f"{live_server.url}/ops/health/objects/{platform.view.pk}"
    watched.context.close()
    assert watched.errors == []
    assert watched.foreign == []


def test_staff_queue_an_evaluation_from_the_page(live_server, session_cookie, platform, browser):
    watched = Watched(browser, live_server.url, session_cookie, VIEWPORTS["desktop"])
    watched.goto(f"{live_server.url}/ops/health?tab=checks")
    watched.page.get_by_role("button", name="Evaluate now").click()
    watched.page.wait_for_load_state("load")
    assert watched.page.url == f"{live_server.url}/ops/health?tab=checks"
    assert "Queued: evaluate" in watched.page.locator(".messages").inner_text()
    watched.context.close()
    assert watched.errors == []
