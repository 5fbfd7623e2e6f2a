"""OpsHealth monitors itself: a stopped scheduler shows in `ops/health-global`, `/metrics`
and `pipeline_overdue` (judged on read, with no evaluation since), and a successful
evaluation pings the heartbeat URL (a real local HTTP receiver)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from checks.evaluate import evaluate, evaluate_as_job
from checks.selfmonitor import JUDGED_SECONDS, scheduler_state
from ledger.models import Run
from opshealth import schedules

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)  # just after an evaluate_health tick
EVALUATE = "opshealth.evaluate_health"


@pytest.fixture
def scheduled(monkeypatch):
    """The job table applied (evaluate_health alone), and one scheduled evaluation at T0."""
    for job in schedules.JOBS.values():
        if job.name != EVALUATE:
            monkeypatch.setenv(job.env_var, "off")
    with time_machine.travel(T0 - timedelta(minutes=1), tick=False):
        schedules.apply()
    with time_machine.travel(T0, tick=False):
        schedules.run(EVALUATE)


def _metrics(client) -> dict:
    body = client.get("/metrics").content.decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_a_running_scheduler_reads_running(scheduled, viewer_client):
    with time_machine.travel(T0 + timedelta(minutes=6, seconds=29), tick=False):
        body = viewer_client.get("/api/v1/ops/health-global").json()
        metrics = _metrics(viewer_client)
    assert body["scheduler"]["status"] == "running"
    assert body["global_status"] == body["evaluated_global_status"]
    assert {j["job"]: j["state"] for j in body["scheduler"]["jobs"]}[EVALUATE] == "ok"
    assert metrics[("opshealth_scheduler_running", ())] == 1
    assert metrics[("opshealth_job_overdue", (("job", EVALUATE),))] == 0


def test_a_stopped_scheduler_shows_on_read_within_one_interval_plus_grace(scheduled, viewer_client):
    # Last run 10:00:30; next tick 10:05, grace 2 min: overdue from 10:07 on. No evaluation since.
    with time_machine.travel(T0 + timedelta(minutes=6, seconds=31), tick=False):
        body = viewer_client.get("/api/v1/ops/health-global").json()
        metrics = _metrics(viewer_client)
    assert body["evaluated_global_status"] == "OK"
    assert body["global_status"] == "WARN"
    assert body["scheduler"]["status"] == "stopped"
    assert body["scheduler"]["message"].startswith("the scheduler stopped: opshealth.evaluate_health late")
    assert body["calculated_at"] == T0.isoformat().replace("+00:00", "Z")
    assert metrics[("opshealth_scheduler_running", ())] == 0
    assert metrics[("opshealth_global_status", ())] == 1
    assert metrics[("opshealth_job_overdue", (("job", EVALUATE),))] == 1
    last_success = Run.objects.get(pipeline__name=EVALUATE).ended_at
    assert metrics[("opshealth_job_last_success_timestamp_seconds", (("job", EVALUATE),))] == pytest.approx(
        last_success.timestamp()
    )


def test_the_next_evaluation_reports_the_stopped_jobs_as_pipeline_overdue(scheduled):
    evaluation = evaluate(now=T0 + timedelta(minutes=7))
    overdue = evaluation.results.get(check_key="pipeline_overdue")
    assert overdue.status == "WARN"
    assert [v.subject for v in overdue.violations.all()] == [EVALUATE]


def test_without_schedules_the_scheduler_reads_not_set_up(viewer_client):
    evaluate_as_job()
    body = viewer_client.get("/api/v1/ops/health-global").json()
    assert body["scheduler"]["status"] == "not_set_up"
    assert "setup_schedules" in body["scheduler"]["message"]
    assert body["global_status"] == body["evaluated_global_status"]


class Receiver(BaseHTTPRequestHandler):
    pings: list[str] = []

    def do_GET(self):
        Receiver.pings.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.pings = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_each_successful_evaluation_pings_the_heartbeat_url(receiver, settings):
    settings.OPSHEALTH_HEARTBEAT_URL = f"{receiver}/ping/6c8f0c3e-secret"
    evaluate_as_job()
    schedules.run(EVALUATE)
    assert Receiver.pings == ["/ping/6c8f0c3e-secret", "/ping/6c8f0c3e-secret"]


def test_an_unreachable_heartbeat_is_logged_without_its_secret(settings, caplog):
    settings.OPSHEALTH_HEARTBEAT_URL = "http://127.0.0.1:1/ping/6c8f0c3e-secret"
    assert evaluate_as_job() is not None
    assert "heartbeat ping to 127.0.0.1 failed" in caplog.text
    assert "secret" not in caplog.text


def test_the_judgement_is_kept_a_few_seconds_then_a_stopped_scheduler_shows(
    scheduled, viewer_client, django_assert_num_queries
):
    # Overdue from 10:07:00 on (see above). Judged at 10:06:58, the judgement stands for
    # JUDGED_SECONDS without a query, then the next read judges again: stopped.
    judged_at = T0 + timedelta(minutes=6, seconds=28)
    with time_machine.travel(judged_at, tick=False):
        assert scheduler_state(timezone.now()).status == "running"
    within = judged_at + timedelta(seconds=JUDGED_SECONDS - 1)
    with time_machine.travel(within, tick=False), django_assert_num_queries(0):
        assert scheduler_state(timezone.now()).status == "running"
    with time_machine.travel(judged_at + timedelta(seconds=JUDGED_SECONDS), tick=False):
        body = viewer_client.get("/api/v1/ops/health-global").json()
    assert body["scheduler"]["status"] == "stopped"
    assert body["global_status"] == "WARN"
    # A time before the judgement is judged for itself.
    with time_machine.travel(judged_at, tick=False):
        assert scheduler_state(timezone.now()).status == "running"
