"""A watermark only moves forward, so one posted in the far future would stick: staff
reset it, through the API or the admin, and every reset is audited (who, when, old →
new)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ledger.models import Watermark, WatermarkReset
from tests.factories.ledger import WatermarkFactory

pytestmark = pytest.mark.django_db

FUTURE = datetime(9000, 1, 1, tzinfo=UTC)  # as a producer's typo once left it


@pytest.fixture
def stuck():
    return WatermarkFactory(asset_key="raw.orders", normalized_key="raw.orders", watermark_ts=FUTURE)


def url(mark) -> str:
    return f"/api/v1/ledger/watermarks/{mark.pk}/reset"


def test_staff_reset_a_watermark_backwards_and_it_is_audited(staff_client, staff_user, stuck):
    to = timezone.now() - timedelta(hours=1)
    response = staff_client.post(
        url(stuck), {"watermark_ts": to.isoformat(), "reason": "typo"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["watermark_ts"] == to.isoformat().replace("+00:00", "Z")
    assert Watermark.objects.get(pk=stuck.pk).watermark_ts == to
    (audit,) = WatermarkReset.objects.all()
    assert (audit.old_ts, audit.new_ts, audit.reset_by, audit.reset_by_name, audit.reason) == (
        FUTURE,
        to,
        staff_user,
        "staff",
        "typo",
    )
    # Ingestion moves it forward again from there.
    ingest = {"asset_key": "raw.orders", "watermark_ts": timezone.now().isoformat()}
    assert staff_client.post("/api/v1/ledger/watermarks", [ingest], format="json").status_code == 200
    assert Watermark.objects.get(pk=stuck.pk).watermark_ts > to


def test_an_admin_token_may_reset_and_read_or_ingest_tokens_may_not(
    admin_token_client, read_client, ingest_client, viewer_client, stuck
):
    body = {"watermark_ts": timezone.now().isoformat()}
    for client in (read_client, ingest_client, viewer_client):
        assert client.post(url(stuck), body, format="json").status_code == 403
    assert admin_token_client.post(url(stuck), body, format="json").status_code == 200
    assert WatermarkReset.objects.get().reset_by_name == "token:admin-test"


def test_a_reset_time_outside_the_window_is_422(staff_client, stuck):
    response = staff_client.post(url(stuck), {"watermark_ts": "9999-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 422 and "watermark_ts" in response.json()
    assert not WatermarkReset.objects.exists()


def test_the_admin_resets_a_watermark_and_shows_the_audit(admin_client, stuck):
    change = reverse("admin:ledger_watermark_change", args=[stuck.pk])
    assert admin_client.get(change).status_code == 200
    to = timezone.now().replace(microsecond=0) - timedelta(days=1)
    form = {
        "watermark_ts_0": to.strftime("%Y-%m-%d"),
        "watermark_ts_1": to.strftime("%H:%M:%S"),
        "reason": "typo",
        "resets-TOTAL_FORMS": "0",  # the audit inline's management form, as the page posts it
        "resets-INITIAL_FORMS": "0",
    }
    response = admin_client.post(change, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Watermark.objects.get(pk=stuck.pk).watermark_ts == to
    audit = WatermarkReset.objects.get()
    assert (audit.old_ts, audit.new_ts, audit.reset_by_name, audit.reason) == (FUTURE, to, "admin", "typo")
    assert "9000-01-01" in admin_client.get(change).content.decode()  # the audit trail, old → new
