"""The ledger's read side: clients, pipelines, runs, watermarks, check results, analytics.

Reads need an authenticated user or a read token; clients and pipelines are edited by
staff. Append-only tables (runs, check results) page with a keyset cursor on (time, id)
(`ledger/api/pagination.py`), so a deep page costs what the first does. Every endpoint runs a constant number
of queries whatever the number of rows (the tests pin them).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import StrictViewMixin
from common.auth import CanRead, IsAdmin, ReadOrAdmin
from common.filters import FilterBackend
from ledger import analytics
from ledger.api import read_filters
from ledger.api import read_serializers as s
from ledger.api.ingest import refused
from ledger.api.ingest_serializers import WatermarkResetSerializer
from ledger.api.pagination import CheckResultKeysetPagination, RunKeysetPagination
from ledger.models import CheckResult, Client, Pipeline, Run, RunAsset, Watermark

UUID_PATTERN = "[0-9a-fA-F-]{36}"


class ClientViewSet(StrictViewMixin, viewsets.ModelViewSet):
    permission_classes = [ReadOrAdmin]
    serializer_class = s.ClientSerializer
    filterset_class = read_filters.ClientFilter
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created_at"]

    def get_queryset(self):
        return Client.objects.annotate(pipeline_count=Count("pipelines")).order_by("name")

    def perform_create(self, serializer):
        # The new row as the list shows it, with its pipeline_count.
        serializer.instance = self.get_queryset().get(pk=serializer.save().pk)


class PipelineViewSet(StrictViewMixin, viewsets.ModelViewSet):
    """Pipelines with their latest run, latest outcome and schedule state (ok/late/missing/…)."""

    permission_classes = [ReadOrAdmin]
    serializer_class = s.PipelineSerializer
    filterset_class = read_filters.PipelineFilter
    search_fields = ["namespace", "name", "owner", "description"]
    ordering_fields = ["namespace", "name", "created_at"]

    def get_queryset(self):
        return (
            Pipeline.objects.select_related("client")
            .order_by("namespace", "name")
            .with_latest_run()
            .with_latest_outcome()
        )

    def get_serializer_context(self) -> dict:
        # One clock for the whole page: every row is judged at the same instant.
        return {**super().get_serializer_context(), "now": timezone.now()}


class RunViewSet(StrictViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs, newest first (cursor pagination); the detail has the run's assets and results.

    Runs without a start time (not yet started) are not listed: the cursor needs it.
    """

    permission_classes = [CanRead]
    filter_backends = [FilterBackend]
    filterset_class = read_filters.RunFilter
    pagination_class = RunKeysetPagination
    lookup_field = "run_id"
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self):
        runs = Run.objects.select_related("pipeline__client", "parent_run")
        if self.action == "retrieve":
            return runs.prefetch_related("assets", "check_results__run")
        return runs.filter(started_at__isnull=False)

    def get_serializer_class(self):
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer


class WatermarkViewSet(StrictViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Watermarks with their age and the run that last moved them, stalest first."""

    permission_classes = [CanRead]
    serializer_class = s.WatermarkReadSerializer
    filterset_class = read_filters.WatermarkFilter
    search_fields = ["asset_key", "scope_key"]
    ordering_fields = ["watermark_ts", "asset_key", "updated_at"]

    def get_queryset(self):
        # The asset's newest successful write, an index probe on ledger_asset_key_status.
        last_success = RunAsset.objects.filter(
            normalized_key=OuterRef("normalized_key"), status="success", ended_at__isnull=False
        ).order_by("-ended_at")
        return (
            Watermark.objects.select_related("last_run__pipeline")
            .annotate(last_success_at=Subquery(last_success.values("ended_at")[:1]))
            .order_by("watermark_ts", "asset_key", "scope_key")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": timezone.now()}

    @extend_schema(request=WatermarkResetSerializer, responses=s.WatermarkReadSerializer)
    @action(
        detail=True,
        methods=["post"],
        permission_classes=[IsAdmin],
        error_statuses=(status.HTTP_422_UNPROCESSABLE_ENTITY,),
    )
    def reset(self, request, pk=None):
        """Staff: set a watermark back (or forward) to `watermark_ts`, audited."""
        mark = self.get_object()
        body = WatermarkResetSerializer(data=request.data)
        if not body.is_valid():
            raise refused(ValidationError(body.errors))
        mark.reset(
            body.validated_data["watermark_ts"], user=request.user, reason=body.validated_data["reason"]
        )
        return Response(self.get_serializer(self.get_queryset().get(pk=mark.pk)).data)


class CheckResultViewSet(StrictViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every persisted check result, newest first (cursor pagination)."""

    permission_classes = [CanRead]
    serializer_class = s.CheckResultSerializer
    filter_backends = [FilterBackend]
    filterset_class = read_filters.CheckResultFilter
    pagination_class = CheckResultKeysetPagination

    def get_queryset(self):
        return CheckResult.objects.select_related("run")


class FailuresView(StrictViewMixin, ListAPIView):
    """Failed runs started in the last `days` days, newest first."""

    permission_classes = [CanRead]
    serializer_class = s.RunSerializer
    filter_backends = [FilterBackend]
    filterset_class = read_filters.RunFilter
    pagination_class = RunKeysetPagination
    query_serializer = s.WindowQuerySerializer

    @extend_schema(parameters=[s.WindowQuerySerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        since = timezone.now() - timedelta(days=self.query()["days"])
        return Run.objects.select_related("pipeline__client", "parent_run").filter(
            status=Run.FAILED, started_at__gte=since
        )


class RunsPerDayView(StrictViewMixin, APIView):
    permission_classes = [CanRead]
    query_serializer = s.RunsPerDayQuerySerializer

    @extend_schema(parameters=[s.RunsPerDayQuerySerializer], responses=s.DayCountSerializer(many=True))
    def get(self, request):
        """Runs started per day by status over the last `days` days (days in `tz`)."""
        query = self.query()
        now = timezone.now()
        days = analytics.runs_per_day(now - timedelta(days=query["days"]), now, tz=query["tz"])
        return Response(s.DayCountSerializer(days, many=True).data)


class FailureRateView(StrictViewMixin, APIView):
    permission_classes = [CanRead]
    query_serializer = s.FailureRateQuerySerializer

    @extend_schema(parameters=[s.FailureRateQuerySerializer], responses=s.FailureRateSerializer(many=True))
    def get(self, request):
        """Failure rate over the last `days` days by pipeline, client or overall, worst first."""
        query = self.query()
        since = timezone.now() - timedelta(days=query["days"])
        return Response(s.FailureRateSerializer(analytics.failure_rates(since, query["by"]), many=True).data)


class MttrView(StrictViewMixin, APIView):
    permission_classes = [CanRead]
    query_serializer = s.WindowQuerySerializer

    @extend_schema(parameters=[s.WindowQuerySerializer], responses=s.MttrSerializer)
    def get(self, request):
        """Mean time from a failure to the next success of the same pipeline."""
        days = self.query()["days"]
        overall, pipelines = analytics.mean_time_to_recovery(timezone.now() - timedelta(days=days))
        return Response(s.MttrSerializer({"days": days, "overall": overall, "pipelines": pipelines}).data)


class FlakyRankingView(StrictViewMixin, APIView):
    permission_classes = [CanRead]
    query_serializer = s.FlakyQuerySerializer

    @extend_schema(parameters=[s.FlakyQuerySerializer], responses=s.FlakyRankingSerializer)
    def get(self, request):
        """Pipelines ranked by flakiness, with the evidence and the thresholds applied."""
        days = self.query()["days"]
        criteria = analytics.FlakyCriteria.from_settings()
        ranking = analytics.flaky_ranking(timezone.now() - timedelta(days=days), criteria)
        data = {"days": days, "criteria": criteria, "pipelines": ranking}
        return Response(s.FlakyRankingSerializer(data).data)
