"""The ops API (seed 000: `/api/v1/ops/*`) and the integrity-checker API (seed 003:
`/api/v1/health/*`).

Reads need an authenticated user or a read token; `POST health/check-now` needs staff.
Snapshot endpoints serve the latest persisted evaluation (a single indexed read, cheap
enough for dashboards polling at once); when none exists yet they run the first one.
The raw/mv endpoints compute staleness live with the one staleness query.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.api import serializers as s
from checks.evaluate import evaluate_as_job
from checks.health import CHECKS
from checks.models import Evaluation, Violation
from checks.selfmonitor import scheduler_state
from checks.staleness import Staleness, ingestion_daily, object_staleness, watermarks
from common.api import cached_json
from common.auth import IsAdmin, ReadOrAdmin
from ledger.api.pagination import LimitOffset
from registry.models import RegistryObject

REPORT_VIOLATIONS = 500
STATUS_VIOLATIONS = 20


class EvaluationInProgress(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "evaluation_in_progress"
    default_code = "evaluation_in_progress"


def latest_evaluation() -> Evaluation:
    """The latest snapshot; the first request on a fresh install runs the first evaluation."""
    evaluation = Evaluation.latest()
    if evaluation is None:
        evaluation = evaluate_as_job(trigger="api")
        if evaluation is None:
            raise EvaluationInProgress()
    return evaluation


def _thresholds(e: Evaluation) -> dict:
    return {"healthy": e.healthy_threshold, "degraded": e.degraded_threshold}


def health_status(e: Evaluation) -> dict:
    failing = e.violations.failing().worst_first()[:STATUS_VIOLATIONS]
    return {
        "status": e.band,
        "global_status": e.global_status,
        "last_check": e.evaluated_at,
        "consistency_rate": e.health_score,
        "total_violations": e.violation_count,
        "requires_attention": e.requires_attention,
        "thresholds": _thresholds(e),
        "violations": list(
            failing.values("check_key", "level", "subject_type", "subject", "object_id", "detail")
        ),
    }


def health_report(e: Evaluation) -> dict:
    failing = e.violations.failing().worst_first()
    items = list(
        failing.values("check_key", "level", "subject_type", "subject", "object_id", "detail")[
            : REPORT_VIOLATIONS + 1
        ]
    )
    return {
        "evaluation_id": e.pk,
        "timestamp": e.evaluated_at,
        "total_checked": e.monitored_count,
        "consistent": e.monitored_count - e.failing_monitored_count,
        "inconsistent": e.failing_monitored_count,
        "consistency_rate": e.health_score,
        "status": e.band,
        "global_status": e.global_status,
        "duration_ms": e.duration_ms,
        "checks": s.HealthCheckRowSerializer(e.results.all(), many=True).data,
        "total_violations": e.violation_count,
        "violations_truncated": len(items) > REPORT_VIOLATIONS,
        "violations": items[:REPORT_VIOLATIONS],
    }


class ReadView(APIView):
    permission_classes = [ReadOrAdmin]


class SnapshotView(ReadView):
    """GET serves `snapshot()` of the latest evaluation, rendered once per evaluation (an
    evaluation never changes once saved): a poll costs the lookup of the latest one, not
    its loading, serializing and encoding."""

    def snapshot(self, e: Evaluation) -> dict:
        raise NotImplementedError

    def live_version(self) -> str:
        """What the response shows besides the evaluation, as a cache key part."""
        return ""

    def get(self, request):
        latest = Evaluation.latest_version()
        if latest is None:
            return Response(self.snapshot(latest_evaluation()))
        pk, evaluated_at = latest
        return cached_json(
            self,
            f"{pk} {evaluated_at.isoformat()} {self.live_version()}",
            lambda: self.snapshot(Evaluation.objects.get(pk=pk)),
        )


class ListPaginator(LimitOffset):
    """Pages a computed list; the response carries extra top-level keys."""

    def response(self, view_request, rows: list, view, **extra) -> Response:
        page = self.paginate_queryset(rows, view_request, view)
        return Response(
            extra
            | {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": page,
            }
        )


# --- /api/v1/ops/ ---------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=s.HealthChecksResponseSerializer, tags=["ops"]))
class HealthChecksView(SnapshotView):
    def snapshot(self, e: Evaluation) -> dict:
        return {
            "evaluated_at": e.evaluated_at,
            "global_status": e.global_status,
            "checks": s.HealthCheckRowSerializer(e.results.all(), many=True).data,
        }


class HealthCheckDetailView(ReadView):
    """One check's latest result and its offending items (the drilldown), paginated."""

    @extend_schema(
        operation_id="ops_health_check_detail",
        responses=s.CheckDetailResponseSerializer,
        tags=["ops"],
        parameters=[OpenApiParameter("level", str, enum=["ERROR", "WARN", "INFO"])],
    )
    def get(self, request, check_key: str):
        if check_key not in CHECKS:
            raise NotFound(f"unknown check_key {check_key!r}; known: {', '.join(CHECKS)}")
        e = latest_evaluation()
        result = get_object_or_404(e.results, check_key=check_key)
        items = result.violations.select_related("evaluation").worst_first()
        level = request.query_params.get("level")
        if level:
            if level not in ("ERROR", "WARN", "INFO"):
                raise serializers.ValidationError({"level": ["Must be one of ERROR, WARN, INFO."]})
            items = items.filter(level=level)
        paginator = LimitOffset()
        page = paginator.paginate_queryset(items, request, self)
        return Response(
            {
                "check": s.HealthCheckRowSerializer(result).data,
                "count": paginator.count,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": s.ViolationSerializer(page, many=True).data,
            }
        )


@extend_schema_view(get=extend_schema(responses=s.HealthGlobalResponseSerializer, tags=["ops"]))
class HealthGlobalView(SnapshotView):
    """The latest evaluation, and OpsHealth's own scheduler judged now (checks/selfmonitor.py):
    a stopped scheduler shows here, and lifts the global status to WARN, even when no
    evaluation ran since it stopped."""

    def get(self, request):
        self.scheduler = scheduler_state(timezone.now())
        return super().get(request)

    def live_version(self) -> str:
        return self.scheduler.fingerprint

    def snapshot(self, e: Evaluation) -> dict:
        return {
            "global_status": self.scheduler.global_status(e.global_status),
            "evaluated_global_status": e.global_status,
            "scheduler": self.scheduler.as_dict(),
            "error_count": e.error_count,
            "warn_count": e.warn_count,
            "ok_count": e.ok_count,
            "calculated_at": e.evaluated_at,
            "health_score": e.health_score,
            "band": e.band,
            "thresholds": _thresholds(e),
            "monitored_count": e.monitored_count,
            "failing_monitored_count": e.failing_monitored_count,
            "explanation": e.explanation,
        }


def _staleness_row(row: Staleness) -> dict:
    return {
        "object_id": row.object_id,
        "schema_name": row.schema_name,
        "object_name": row.object_name,
        "layer": row.layer,
        "status": row.status,
    } | row.detail()


class RawHealthStatusView(ReadView):
    @extend_schema(responses=s.RawHealthStatusResponseSerializer, tags=["ops"])
    def get(self, request):
        now = timezone.now()
        rows = [_staleness_row(r) for r in object_staleness(now, only="raw")]
        counts = {"ok": 0, "stale": 0, "no_signal": 0}
        for row in rows:
            counts[row["status"].lower()] += 1
        return ListPaginator().response(request, rows, self, calculated_at=now, counts=counts)


class RawHealthFreshnessView(ReadView):
    """Every watermark of a RAW object, with its age against the object's allowed age."""

    @extend_schema(responses=s.FreshnessRowSerializer(many=True), tags=["ops"])
    def get(self, request):
        now = timezone.now()
        by_id = {r.object_id: r for r in object_staleness(now, only="raw")}
        rows = []
        for asset_key, scope_key, ts, updated_at, object_id in watermarks(list(by_id)):
            obj = by_id[object_id]
            age = now - ts
            rows.append(
                {
                    "asset_key": asset_key,
                    "scope_key": scope_key,
                    "watermark_ts": ts,
                    "updated_at": updated_at,
                    "object_id": object_id,
                    "schema_name": obj.schema_name,
                    "object_name": obj.object_name,
                    "age_hours": round(age.total_seconds() / 3600, 2),
                    "allowed_hours": round(obj.allowed_age.total_seconds() / 3600, 2),
                    "is_stale": age > obj.allowed_age,
                }
            )
        return ListPaginator().response(request, rows, self, calculated_at=now)


class DaysSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=14)


class RawHealthIngestionDailyView(ReadView):
    """Per day and RAW object: run assets written, failed, rows and bytes (from the ledger)."""

    @extend_schema(parameters=[DaysSerializer], responses=s.IngestionDailyResponseSerializer, tags=["ops"])
    def get(self, request):
        params = DaysSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        days = params.validated_data["days"]
        since = (timezone.now() - timedelta(days=days - 1)).date()
        return Response({"days": days, "since": since, "results": ingestion_daily(since)})


class MvHealthView(ReadView):
    """Materialized views: last refresh (from the ledger), populated flag (as of the
    last discovery; the mv_not_populated check reads the live catalog), staleness."""

    @extend_schema(responses=s.MvHealthResponseSerializer, tags=["ops"])
    def get(self, request):
        now = timezone.now()
        staleness = object_staleness(now, only="matview")
        populated = dict(
            RegistryObject.objects.filter(pk__in=[r.object_id for r in staleness]).values_list(
                "id", "is_populated"
            )
        )
        rows = []
        for r in staleness:
            d = r.detail()
            rows.append(
                {
                    "object_id": r.object_id,
                    "schema_name": r.schema_name,
                    "object_name": r.object_name,
                    "is_critical": r.is_critical,
                    "is_populated": populated.get(r.object_id),
                    "status": r.mv_status(populated.get(r.object_id)),
                    "last_refresh_at": r.last_refresh_at,
                    "last_refresh_status": r.last_refresh_status,
                    "last_refresh_duration_ms": r.last_refresh_duration_ms,
                    "last_refresh_error": r.last_refresh_error or None,
                    "last_success_at": r.last_refresh_success_at,
                    "age_hours": d["age_hours"],
                    "allowed_hours": d["allowed_hours"],
                    "allowed_by": r.allowed_by,
                    "stale": r.is_stale,
                    "stale_vs_inputs": r.stale_vs_inputs,
                    "upstream": r.upstream_name,
                    "upstream_watermark_at": r.upstream_watermark_at,
                }
            )
        return ListPaginator().response(request, rows, self, calculated_at=now)


# --- /api/v1/health/ ----------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=s.HealthStatusResponseSerializer, tags=["health"]))
class HealthStatusView(SnapshotView):
    def snapshot(self, e: Evaluation) -> dict:
        return health_status(e)


@extend_schema_view(get=extend_schema(responses=s.HealthReportSerializer, tags=["health"]))
class LatestReportView(SnapshotView):
    def snapshot(self, e: Evaluation) -> dict:
        return health_report(e)


class ViolationList(generics.ListAPIView):
    """Violations of the latest evaluation (or of `?evaluation=<id>`), worst first."""

    permission_classes = [ReadOrAdmin]
    serializer_class = s.ViolationSerializer
    filterset_fields = ["check_key", "level", "subject_type"]
    search_fields = ["subject"]
    ordering_fields = ["check_key", "level", "subject", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Violation.objects.none()
        evaluation_id = self.request.query_params.get("evaluation")
        if evaluation_id is not None:
            if not evaluation_id.isdigit():
                raise serializers.ValidationError({"evaluation": ["A valid integer is required."]})
            evaluation = get_object_or_404(Evaluation, pk=int(evaluation_id))
        else:
            evaluation = latest_evaluation()
        return evaluation.violations.select_related("evaluation").worst_first()

    @extend_schema(
        tags=["health"], parameters=[OpenApiParameter("evaluation", int, description="default: the latest")]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class HealthMetricsView(ReadView):
    @extend_schema(
        parameters=[OpenApiParameter("hours", int, description="window, 1..720 (default 24)")],
        responses=s.HealthMetricsResponseSerializer,
        tags=["health"],
    )
    def get(self, request):
        hours = request.query_params.get("hours", "24")
        if not hours.isdigit() or not 1 <= int(hours) <= 720:
            raise serializers.ValidationError({"hours": ["Must be an integer between 1 and 720."]})
        e = latest_evaluation()
        window = Evaluation.objects.filter(evaluated_at__gte=timezone.now() - timedelta(hours=int(hours)))
        scores = list(
            window.order_by("evaluated_at").values(
                "evaluated_at", "health_score", "band", "global_status", "violation_count"
            )
        )
        return Response(
            {
                "hours": int(hours),
                "current": health_status(e),
                "evaluations": len(scores),
                "avg_consistency_rate": (
                    round(sum(p["health_score"] for p in scores) / len(scores), 2) if scores else None
                ),
                "min_consistency_rate": min((p["health_score"] for p in scores), default=None),
                "evaluations_by_band": _count_by(window, "band"),
                "evaluations_by_global_status": _count_by(window, "global_status"),
                "check_statuses": dict(e.results.values_list("check_key", "status")),
                "trend": scores,
            }
        )


def _count_by(qs, field: str) -> dict[str, int]:
    return dict(qs.values_list(field).annotate(n=Count("id")).order_by())


class CheckNowView(APIView):
    """Run an evaluation now (staff only) and return its report."""

    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={200: s.HealthReportSerializer}, tags=["health"])
    def post(self, request):
        evaluation = evaluate_as_job(trigger="api")
        if evaluation is None:
            return Response({"detail": "evaluation_in_progress"}, status=status.HTTP_409_CONFLICT)
        return Response(health_report(evaluation))
