"""The ops API (seed 000: `/api/v1/ops/*`) and the integrity-checker API (seed 003:
`/api/v1/health/*`).

Reads need an authenticated user or a token; `POST health/check-now` needs an admin
token or a staff session. Views are fetch → permission → model or queryset method →
serializer. Snapshot endpoints serve the latest persisted evaluation (a single indexed
read, cheap enough for dashboards polling at once); a GET never evaluates: before the
first evaluation they answer 404. The raw/mv endpoints compute staleness live with the
one staleness query.
"""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from checks.api import serializers as s
from checks.evaluate import evaluate_as_job
from checks.health import CHECKS
from checks.models import Evaluation, Violation
from checks.selfmonitor import scheduler_state
from checks.staleness import ingestion_daily, object_staleness, raw_watermark_freshness
from common.api import StrictViewMixin, cached_json
from common.auth import IsAdmin, ReadOrAdmin
from common.filters import LimitOffsetPagination
from registry.models import RegistryObject


class NoEvaluation(NotFound):
    default_detail = "No evaluation yet: run `manage.py evaluate_health` or POST /api/v1/health/check-now."
    default_code = "no_evaluation"


def latest_evaluation() -> Evaluation:
    """The latest snapshot, or a 404 before the first one (a GET never evaluates)."""
    evaluation = Evaluation.latest()
    if evaluation is None:
        raise NoEvaluation()
    return evaluation


class ReadView(StrictViewMixin, APIView):
    permission_classes = [ReadOrAdmin]


class SnapshotView(ReadView):
    """GET serves `serializer_class` of the latest evaluation, rendered once per
    evaluation (an evaluation never changes once saved): a poll costs the lookup of the
    latest one, not its loading, serializing and encoding."""

    serializer_class: type
    error_statuses = (status.HTTP_404_NOT_FOUND,)  # NoEvaluation, in the schema (common/schema.py)

    def live_version(self) -> str:
        """What the response shows besides the evaluation, as a cache key part."""
        return ""

    def get_serializer_context(self) -> dict:
        return {}

    def get(self, request):
        latest = Evaluation.latest_version()
        if latest is None:
            raise NoEvaluation()
        pk, evaluated_at = latest
        return cached_json(
            self,
            f"{pk} {evaluated_at.isoformat()} {self.live_version()}",
            lambda: (
                self.serializer_class(
                    Evaluation.objects.get(pk=pk), context=self.get_serializer_context()
                ).data
            ),
        )


class ListView(ReadView):
    """A computed list, paginated (`limit`/`offset`), with extra top-level keys."""

    pagination_class = LimitOffsetPagination

    @property
    def paginator(self) -> LimitOffsetPagination:
        if not hasattr(self, "_paginator"):
            self._paginator = self.pagination_class()
        return self._paginator

    def page(self, rows: list, serializer, **extra) -> Response:
        page = self.paginator.paginate_queryset(rows, self.request, self)
        return Response(
            extra
            | {
                "count": self.paginator.count,
                "next": self.paginator.get_next_link(),
                "previous": self.paginator.get_previous_link(),
                "results": serializer(page),
            }
        )


# --- /api/v1/ops/ ---------------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=s.HealthChecksResponseSerializer, tags=["ops"]))
class HealthChecksView(SnapshotView):
    serializer_class = s.HealthChecksResponseSerializer


class HealthCheckDetailView(ListView):
    """One check's latest result and its offending items (the drilldown), paginated."""

    query_serializer = s.HealthQuerySerializer

    @extend_schema(
        operation_id="ops_health_check_detail",
        parameters=[s.HealthQuerySerializer],
        responses=s.CheckDetailResponseSerializer,
        tags=["ops"],
    )
    def get(self, request, check_key: str):
        if check_key not in CHECKS:
            raise NotFound(f"unknown check_key {check_key!r}; known: {', '.join(CHECKS)}")
        level = self.query().get("level")
        result = get_object_or_404(latest_evaluation().results, check_key=check_key)
        items = result.violations.select_related("evaluation").worst_first()
        if level:
            items = items.filter(level=level)
        return self.page(
            items,
            lambda page: s.ViolationSerializer(page, many=True).data,
            check=s.HealthCheckRowSerializer(result).data,
        )


@extend_schema_view(get=extend_schema(responses=s.HealthGlobalResponseSerializer, tags=["ops"]))
class HealthGlobalView(SnapshotView):
    """The latest evaluation, and OpsHealth's own scheduler judged now (checks/selfmonitor.py):
    a stopped scheduler shows here, and lifts the global status to WARN, even when no
    evaluation ran since it stopped."""

    serializer_class = s.HealthGlobalResponseSerializer

    def get(self, request):
        self.scheduler = scheduler_state(timezone.now())
        return super().get(request)

    def live_version(self) -> str:
        return self.scheduler.fingerprint

    def get_serializer_context(self) -> dict:
        return {"scheduler": self.scheduler}


class RawHealthStatusView(ListView):
    @extend_schema(responses=s.RawHealthStatusResponseSerializer, tags=["ops"])
    def get(self, request):
        now = timezone.now()
        rows = object_staleness(now, only="raw")
        counts = {"ok": 0, "stale": 0, "no_signal": 0}
        for row in rows:
            counts[row.status.lower()] += 1
        return self.page(
            rows,
            lambda page: s.StalenessRowSerializer(page, many=True).data,
            calculated_at=now,
            counts=counts,
        )


class RawHealthFreshnessView(ListView):
    """Every watermark of a RAW object, with its age against the object's allowed age."""

    @extend_schema(responses=s.FreshnessResponseSerializer, tags=["ops"])
    def get(self, request):
        now = timezone.now()
        return self.page(
            raw_watermark_freshness(now),
            lambda page: s.FreshnessRowSerializer(page, many=True).data,
            calculated_at=now,
        )


class RawHealthIngestionDailyView(ReadView):
    """Per day and RAW object: run assets written, failed, rows and bytes (from the ledger)."""

    query_serializer = s.DaysSerializer

    @extend_schema(parameters=[s.DaysSerializer], responses=s.IngestionDailyResponseSerializer, tags=["ops"])
    def get(self, request):
        days = self.query()["days"]
        since = (timezone.now() - timedelta(days=days - 1)).date()
        rows = ingestion_daily(since)
        return Response(
            {"days": days, "since": since, "results": s.IngestionDayRowSerializer(rows, many=True).data}
        )


class MvHealthView(ListView):
    """Materialized views: last refresh (from the ledger), populated flag (as of the
    last discovery; the mv_not_populated check reads the live catalog), staleness."""

    @extend_schema(responses=s.MvHealthResponseSerializer, tags=["ops"])
    def get(self, request):
        now = timezone.now()
        rows = object_staleness(now, only="matview")
        populated = dict(
            RegistryObject.objects.filter(pk__in=[r.object_id for r in rows]).values_list(
                "id", "is_populated"
            )
        )
        return self.page(
            rows,
            lambda page: s.MvHealthRowSerializer(page, many=True, context={"populated": populated}).data,
            calculated_at=now,
        )


# --- /api/v1/health/ ----------------------------------------------------------------


@extend_schema_view(get=extend_schema(responses=s.HealthStatusResponseSerializer, tags=["health"]))
class HealthStatusView(SnapshotView):
    serializer_class = s.HealthStatusResponseSerializer


@extend_schema_view(get=extend_schema(responses=s.HealthReportSerializer, tags=["health"]))
class LatestReportView(SnapshotView):
    serializer_class = s.HealthReportSerializer


class ViolationList(StrictViewMixin, generics.ListAPIView):
    """Violations of the latest evaluation (or of `?evaluation=<id>`), worst first."""

    permission_classes = [ReadOrAdmin]
    serializer_class = s.ViolationSerializer
    query_serializer = s.ViolationsQuerySerializer
    filterset_fields = ["check_key", "level", "subject_type"]
    search_fields = ["subject"]
    ordering_fields = ["check_key", "level", "subject", "id"]
    error_statuses = (status.HTTP_404_NOT_FOUND,)  # no (such) evaluation

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Violation.objects.none()
        evaluation_id = self.query().get("evaluation")
        if evaluation_id is None:
            evaluation = latest_evaluation()
        else:
            evaluation = get_object_or_404(Evaluation, pk=evaluation_id)
        return evaluation.violations.select_related("evaluation").worst_first()

    @extend_schema(tags=["health"], parameters=[s.ViolationsQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class HealthMetricsView(ReadView):
    query_serializer = s.HoursSerializer
    error_statuses = (status.HTTP_404_NOT_FOUND,)  # NoEvaluation

    @extend_schema(
        parameters=[s.HoursSerializer], responses=s.HealthMetricsResponseSerializer, tags=["health"]
    )
    def get(self, request):
        hours = self.query()["hours"]
        e = latest_evaluation()
        trend = Evaluation.objects.since(timezone.now() - timedelta(hours=hours)).trend()
        return Response(
            {
                "hours": hours,
                "current": s.HealthStatusResponseSerializer(e).data,
                **trend,
                "check_statuses": dict(e.results.values_list("check_key", "status")),
            }
        )


class CheckNowView(StrictViewMixin, APIView):
    """Run an evaluation now (admin) and return its report."""

    permission_classes = [IsAdmin]
    error_statuses = (status.HTTP_409_CONFLICT,)  # in the schema (common/schema.py)

    @extend_schema(request=None, responses={200: s.HealthReportSerializer}, tags=["health"])
    def post(self, request):
        evaluation = evaluate_as_job(trigger="api")
        if evaluation is None:
            return Response({"detail": "evaluation_in_progress"}, status=status.HTTP_409_CONFLICT)
        return Response(s.HealthReportSerializer(evaluation).data)
