"""`/metrics`: Prometheus text exposition of the latest evaluation and the ledger.

Authentication: a scrape presents an API token with the `read` scope as
`Authorization: Bearer <token>` (Prometheus `authorization: {credentials: …}`), or a
logged-in session. Anything else is 401: check statuses and pipeline names are not
public. Every scrape is built from 8 queries (OpsHealth's own jobs, latest evaluation, its
results, latest outcome per pipeline, flip rates, watermarks, open incidents, channels
with their failures);
it never runs an evaluation.

Gauges:
  opshealth_global_status            0 OK, 1 WARN, 2 ERROR (latest evaluation; at least 1
                                     while the scheduler is stopped)
  opshealth_scheduler_running        0 when one of OpsHealth's own jobs is late or missing
  opshealth_job_overdue{job}         1 when that job is late or missing (judged on read)
  opshealth_job_last_success_timestamp_seconds{job}
  opshealth_health_score_percent     share of monitored objects with no failing check
  opshealth_health_band{band}        1 for the current band
  opshealth_last_evaluation_timestamp_seconds
  opshealth_check_status{check_key,severity}       0 OK, 1 WARN, 2 ERROR
  opshealth_check_offending_items{check_key}
  opshealth_pipeline_last_run_success{pipeline}    1 success, 0 failed (latest outcome: aborted
                                                   runs are no outcome, as pipeline_run_failed)
  opshealth_pipeline_last_run_timestamp_seconds{pipeline}  end of that run
  opshealth_pipeline_flip_rate{pipeline}           flip rate over OPSHEALTH_FLAKY_WINDOW_DAYS (as /ledger/flaky)
  opshealth_watermark_age_seconds{asset_key,scope_key}
  opshealth_incidents_open{severity}              unresolved alert incidents
  opshealth_notification_failures_total{channel}  failed delivery attempts (a counter)
  opshealth_channel_broken{channel}               1 when a permanent error marked it broken
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from rest_framework.exceptions import AuthenticationFailed

from checks.alerts.models import Channel, Incident
from checks.models import LEVEL_RANK, Evaluation
from checks.selfmonitor import STOPPED, SchedulerState, scheduler_state
from common.auth import TokenAuthentication
from ledger.analytics import flaky_ranking, flaky_window_start
from ledger.models import ApiToken, Run, Watermark


class OpsHealthCollector:
    def collect(self):
        now = timezone.now()
        scheduler = scheduler_state(now)
        yield from self._evaluation(scheduler)
        yield from self._scheduler(scheduler)
        yield from self._pipelines(now)
        yield from self._alerts()
        age = GaugeMetricFamily(
            "opshealth_watermark_age_seconds",
            "Age of each ledger watermark.",
            labels=["asset_key", "scope_key"],
        )
        marks = Watermark.objects.order_by("asset_key", "scope_key")
        for key, scope, ts in marks.values_list("asset_key", "scope_key", "watermark_ts"):
            age.add_metric([key, scope], (now - ts).total_seconds())
        yield age

    def _evaluation(self, scheduler: SchedulerState):
        e = Evaluation.latest()
        if e is None:
            return
        yield GaugeMetricFamily(
            "opshealth_global_status",
            "Global status: 0 OK, 1 WARN, 2 ERROR (at least WARN while the scheduler is stopped).",
            value=LEVEL_RANK[scheduler.global_status(e.global_status)],
        )
        yield GaugeMetricFamily(
            "opshealth_health_score_percent",
            "Share of monitored objects with no failing check.",
            value=e.health_score,
        )
        band = GaugeMetricFamily("opshealth_health_band", "1 for the current band.", labels=["band"])
        for name in ("healthy", "degraded", "critical"):
            band.add_metric([name], 1 if e.band == name else 0)
        yield band
        yield GaugeMetricFamily(
            "opshealth_last_evaluation_timestamp_seconds",
            "When the latest evaluation ran.",
            value=e.evaluated_at.timestamp(),
        )
        status = GaugeMetricFamily(
            "opshealth_check_status", "Check status: 0 OK, 1 WARN, 2 ERROR.", labels=["check_key", "severity"]
        )
        items = GaugeMetricFamily(
            "opshealth_check_offending_items", "Failing items behind each check.", labels=["check_key"]
        )
        for r in e.results.all():
            status.add_metric([r.check_key, r.severity], LEVEL_RANK[r.status])
            items.add_metric([r.check_key], r.offending_count)
        yield status
        yield items

    def _scheduler(self, scheduler: SchedulerState):
        yield GaugeMetricFamily(
            "opshealth_scheduler_running",
            "1 while every scheduled OpsHealth job runs on time, 0 when one is late or missing.",
            value=0 if scheduler.status == STOPPED else 1,
        )
        overdue = GaugeMetricFamily(
            "opshealth_job_overdue", "1 when an OpsHealth job is late or missing.", labels=["job"]
        )
        success = GaugeMetricFamily(
            "opshealth_job_last_success_timestamp_seconds",
            "End of the last successful run of each OpsHealth job.",
            labels=["job"],
        )
        for job in scheduler.jobs:
            overdue.add_metric([job.job], 1 if job.overdue else 0)
            if job.last_success_at:
                success.add_metric([job.job], job.last_success_at.timestamp())
        yield overdue
        yield success

    def _pipelines(self, now):
        success = GaugeMetricFamily(
            "opshealth_pipeline_last_run_success",
            "1 when the latest outcome (success or failed run; aborted runs aside) succeeded.",
            labels=["pipeline"],
        )
        ended = GaugeMetricFamily(
            "opshealth_pipeline_last_run_timestamp_seconds",
            "End of the latest outcome (success or failed run).",
            labels=["pipeline"],
        )
        flips = GaugeMetricFamily(
            "opshealth_pipeline_flip_rate",
            "Status changes per transition between success/failed runs over OPSHEALTH_FLAKY_WINDOW_DAYS "
            "(as /api/v1/ledger/flaky).",
            labels=["pipeline"],
        )
        for run in Run.objects.latest_outcome().select_related("pipeline").order_by("pipeline_id"):
            label = str(run.pipeline)
            success.add_metric([label], 1 if run.status == Run.SUCCESS else 0)
            if run.ended_at:
                ended.add_metric([label], run.ended_at.timestamp())
        for row in flaky_ranking(flaky_window_start(now)):
            if row.flip_rate is not None:
                flips.add_metric([row.pipeline], row.flip_rate)
        yield success
        yield ended
        yield flips

    def _alerts(self):
        incidents = GaugeMetricFamily(
            "opshealth_incidents_open", "Unresolved alert incidents.", labels=["severity"]
        )
        for severity, count in Incident.objects.open_by_severity().items():
            incidents.add_metric([severity], count)
        yield incidents
        failures = CounterMetricFamily(
            "opshealth_notification_failures",
            "Failed delivery attempts of each alert channel (retried or given up).",
            labels=["channel"],
        )
        broken = GaugeMetricFamily(
            "opshealth_channel_broken",
            "1 when a permanent error marked the channel broken.",
            labels=["channel"],
        )
        for channel in Channel.objects.with_failures().order_by("name"):
            failures.add_metric([channel.name], channel.failures)
            broken.add_metric([channel.name], 1 if channel.broken_at else 0)
        yield failures
        yield broken


def _authorized(request: HttpRequest) -> bool:
    if request.user.is_authenticated:
        return True
    try:
        authenticated = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    return authenticated is not None and authenticated[1].allows(ApiToken.SCOPE_READ)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        response = HttpResponse("authentication required: Authorization: Bearer <read token>\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(OpsHealthCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
