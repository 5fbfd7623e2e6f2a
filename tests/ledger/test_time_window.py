"""Every time that enters the ledger lies in a sane window (422 naming the field), and
read filters naming a time no query can hold are 400: one out-of-range time must not
break the reads of everybody."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from ledger import bounds
from ledger.logger import RunLogger
from ledger.models import CheckResult, LineageEvent, Run, Watermark

pytestmark = pytest.mark.django_db

FAR_FUTURE = "9999-12-31T23:59:59-14:00"
FAR_PAST = "0001-01-01T00:00:00+14:00"


def run_event(**kw) -> dict:
    return {"pipeline": "load", "external_run_id": "r1", "status": "success", **kw}


def lineage(event_time: str, **kw) -> dict:
    return {
        "eventType": "COMPLETE",
        "eventTime": event_time,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "airflow", "name": "load"},
        "producer": "https://example.com/tests",
        **kw,
    }


@pytest.mark.parametrize("value", [FAR_FUTURE, FAR_PAST, "2999-01-01T00:00:00Z", "1969-12-31T23:59:59Z"])
def test_lineage_event_time_outside_the_window_is_422(ingest_client, viewer_client, value):
    response = ingest_client.post("/api/v1/lineage", lineage(value), format="json")
    assert response.status_code == 422, response.content
    assert "eventTime" in response.json()["errors"]
    assert not LineageEvent.objects.exists()
    assert viewer_client.get("/api/v1/ledger/runs").status_code == 200


def test_lineage_nominal_time_outside_the_window_is_422(ingest_client):
    facets = {"nominalTime": {"nominalStartTime": FAR_FUTURE}}
    body = lineage(timezone.now().isoformat(), run={"runId": str(uuid.uuid4()), "facets": facets})
    response = ingest_client.post("/api/v1/lineage", body, format="json")
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["run.facets.nominalTime.nominalStartTime"]


@pytest.mark.parametrize(
    "body, field",
    [
        (run_event(event_time=FAR_FUTURE), "event_time"),
        (run_event(started_at=FAR_PAST), "started_at"),
        (run_event(nominal_time="3000-01-01T00:00:00Z"), "nominal_time"),
        (run_event(assets=[{"asset_key": "raw.t", "max_event_time": FAR_FUTURE}]), "assets"),
        (
            run_event(watermarks=[{"asset_key": "raw.t", "watermark_ts": "9000-01-01T00:00:00Z"}]),
            "watermarks",
        ),
        (
            run_event(
                check_results=[
                    {"asset_key": "t", "check_name": "c", "status": "pass", "checked_at": FAR_PAST}
                ]
            ),
            "check_results",
        ),
    ],
)
def test_rest_run_times_outside_the_window_are_422(ingest_client, body, field):
    response = ingest_client.post("/api/v1/ledger/runs", body, format="json")
    assert response.status_code == 422, response.content
    assert field in response.json()
    assert not Run.objects.exists()


def test_bulk_refuses_the_out_of_window_item_and_lands_the_others(ingest_client):
    good = run_event(external_run_id="good")
    bad = run_event(external_run_id="bad", event_time=FAR_FUTURE)
    body = ingest_client.post("/api/v1/ledger/runs/bulk", [good, bad], format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "error"]
    assert (body["results"][1]["index"], body["results"][1]["code"]) == (1, 422)
    assert "event_time" in body["results"][1]["errors"]
    assert list(Run.objects.values_list("external_run_id", flat=True)) == ["good"]


def test_standalone_watermarks_and_check_results_outside_the_window_are_422(ingest_client):
    mark = {"asset_key": "raw.t", "watermark_ts": "9999-12-31T00:00:00Z"}
    response = ingest_client.post("/api/v1/ledger/watermarks", [mark], format="json")
    assert response.status_code == 422 and "watermark_ts" in response.json()["0"]
    check = {"asset_key": "raw.t", "check_name": "c", "status": "pass", "checked_at": FAR_FUTURE}
    response = ingest_client.post("/api/v1/ledger/check-results", check, format="json")
    assert response.status_code == 422 and "checked_at" in response.json()["0"]
    assert not Watermark.objects.exists() and not CheckResult.objects.exists()


def test_the_window_is_configurable(ingest_client):
    with override_settings(
        OPSHEALTH_EARLIEST_TIME=datetime(2020, 1, 1, tzinfo=UTC), OPSHEALTH_MAX_FUTURE_HOURS=0
    ):
        old = ingest_client.post(
            "/api/v1/ledger/runs", run_event(event_time="2019-06-01T00:00:00Z"), format="json"
        )
        ahead = (timezone.now() + timedelta(hours=1)).isoformat()
        soon = ingest_client.post("/api/v1/ledger/runs", run_event(event_time=ahead), format="json")
    assert (old.status_code, soon.status_code) == (422, 422)
    accepted = ingest_client.post(
        "/api/v1/ledger/runs", run_event(event_time="2019-06-01T00:00:00Z"), format="json"
    )
    assert accepted.status_code == 201


def test_run_logger_refuses_out_of_window_times_clearly():
    with RunLogger("job") as run:
        with pytest.raises(bounds.Refused, match="watermark_ts"):
            run.update_watermark("raw.t", datetime(9999, 1, 1, tzinfo=UTC))
        with pytest.raises(bounds.Refused, match=r"assets\[0\].max_event_time"):
            run.log_asset("raw.t", max_event_time=datetime(1, 1, 2, tzinfo=UTC))
    assert Run.objects.get().status == "success"
    assert not Watermark.objects.exists()
    with pytest.raises(bounds.Refused, match="event_time"):
        RunLogger("job", clock=lambda: datetime(2999, 1, 1, tzinfo=UTC)).__enter__()


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/ledger/runs?started_after={FAR_PAST.replace('+', '%2B')}",
        f"/api/v1/ledger/runs?started_before={FAR_FUTURE}",
        f"/api/v1/ledger/check-results?checked_after={FAR_PAST.replace('+', '%2B')}",
    ],
)
def test_filters_naming_an_unrepresentable_time_are_400(viewer_client, url):
    assert viewer_client.get(url).status_code == 400
