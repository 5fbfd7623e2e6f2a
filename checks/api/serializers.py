"""Response shapes of the ops and health APIs: the public contracts (seed field names),
documented in the OpenAPI schema through these serializers and pinned by tests. They
serialize models and the staleness dataclasses; views only fetch and hand them over."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checks.models import BANDS, ITEM_LEVELS, SEVERITIES, STATUSES, CheckRun, Violation

STATUS = serializers.ChoiceField(choices=STATUSES)
REPORT_VIOLATIONS = 500
STATUS_VIOLATIONS = 20


class HealthCheckRowSerializer(serializers.ModelSerializer):
    """The seed's HealthCheckRow: one check's latest result."""

    last_evaluated_at = serializers.DateTimeField(source="evaluated_at")
    description = serializers.SerializerMethodField()

    class Meta:
        model = CheckRun
        fields = [
            "check_key",
            "severity",
            "status",
            "message",
            "drilldown_url",
            "last_evaluated_at",
            "offending_count",
            "info_count",
            "description",
        ]

    def get_description(self, obj: CheckRun) -> str:
        from checks.health import CHECKS

        cls = CHECKS.get(obj.check_key)
        return cls.description if cls else ""


class HealthChecksResponseSerializer(serializers.Serializer):
    evaluated_at = serializers.DateTimeField()
    global_status = STATUS
    checks = HealthCheckRowSerializer(many=True, source="results")


class ViolationSerializer(serializers.ModelSerializer):
    """An offending item; `object_id` links to the registry when the item is an object."""

    evaluated_at = serializers.DateTimeField(source="evaluation.evaluated_at")

    class Meta:
        model = Violation
        fields = [
            "id",
            "check_key",
            "level",
            "subject_type",
            "subject",
            "object_id",
            "detail",
            "evaluated_at",
        ]


class CheckDetailResponseSerializer(serializers.Serializer):
    check = HealthCheckRowSerializer()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ViolationSerializer(many=True)


class ContributingSerializer(serializers.Serializer):
    check_key = serializers.CharField()
    severity = serializers.ChoiceField(choices=SEVERITIES)
    status = STATUS
    message = serializers.CharField()
    offending_count = serializers.IntegerField()
    drilldown_url = serializers.CharField()


class ToGreenSerializer(serializers.Serializer):
    check_key = serializers.CharField()
    action = serializers.CharField()


class ExplanationSerializer(serializers.Serializer):
    contributing = ContributingSerializer(many=True)
    to_turn_green = ToGreenSerializer(many=True)


class ThresholdsSerializer(serializers.Serializer):
    healthy = serializers.FloatField()
    degraded = serializers.FloatField()


class SchedulerJobSerializer(serializers.Serializer):
    job = serializers.CharField()
    state = serializers.CharField(help_text="ok | late | missing | running_too_long | unknown")
    reason = serializers.CharField()
    expected_at = serializers.DateTimeField(allow_null=True)
    last_started_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)


class SchedulerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="running | stopped | not_set_up")
    message = serializers.CharField()
    jobs = SchedulerJobSerializer(many=True)


class HealthQuerySerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["ERROR", "WARN", "INFO"], required=False)


class DaysSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=14)


class HoursSerializer(serializers.Serializer):
    hours = serializers.IntegerField(min_value=1, max_value=720, default=24, help_text="window (default 24)")


class ViolationsQuerySerializer(serializers.Serializer):
    evaluation = serializers.IntegerField(min_value=1, required=False, help_text="default: the latest")


class HealthGlobalResponseSerializer(serializers.Serializer):
    """The seed's HealthGlobalResponse, plus score, band, explanation and the scheduler's
    live state (`global_status` is at least WARN while it is stopped;
    `evaluated_global_status` is the evaluation's own)."""

    global_status = serializers.SerializerMethodField()
    evaluated_global_status = serializers.ChoiceField(choices=STATUSES, source="global_status")
    scheduler = serializers.SerializerMethodField()
    error_count = serializers.IntegerField()
    warn_count = serializers.IntegerField()
    ok_count = serializers.IntegerField()
    calculated_at = serializers.DateTimeField(source="evaluated_at")
    health_score = serializers.FloatField()
    band = serializers.ChoiceField(choices=BANDS)
    thresholds = ThresholdsSerializer()
    monitored_count = serializers.IntegerField()
    failing_monitored_count = serializers.IntegerField()
    explanation = ExplanationSerializer()

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_global_status(self, e) -> str:
        return self.context["scheduler"].global_status(e.global_status)

    @extend_schema_field(SchedulerSerializer())
    def get_scheduler(self, e) -> dict:
        return self.context["scheduler"].as_dict()


class StalenessRowSerializer(serializers.Serializer):
    """A `checks.staleness.Staleness`."""

    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    layer = serializers.CharField()
    # plain strings: a second choice set named `status` would collide in the OpenAPI enums
    status = serializers.CharField(help_text="OK | STALE | NO_SIGNAL")
    decided_by = serializers.CharField(allow_null=True)
    last_signal_at = serializers.DateTimeField(source="newest_at", allow_null=True)
    age_hours = serializers.FloatField(allow_null=True)
    allowed_hours = serializers.FloatField()
    allowed_by = serializers.CharField()
    watermark_at = serializers.DateTimeField(allow_null=True)
    last_write_at = serializers.DateTimeField(allow_null=True)
    last_refresh_at = serializers.DateTimeField(source="last_refresh_success_at", allow_null=True)


class RawCountsSerializer(serializers.Serializer):
    ok = serializers.IntegerField()
    stale = serializers.IntegerField()
    no_signal = serializers.IntegerField()


class RawHealthStatusResponseSerializer(serializers.Serializer):
    calculated_at = serializers.DateTimeField()
    counts = RawCountsSerializer()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StalenessRowSerializer(many=True)


class FreshnessRowSerializer(serializers.Serializer):
    """A `checks.staleness.WatermarkFreshness`."""

    asset_key = serializers.CharField()
    scope_key = serializers.CharField()
    watermark_ts = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    object_id = serializers.IntegerField(source="object.object_id")
    schema_name = serializers.CharField(source="object.schema_name")
    object_name = serializers.CharField(source="object.object_name")
    age_hours = serializers.FloatField()
    allowed_hours = serializers.FloatField(source="object.allowed_hours")
    is_stale = serializers.BooleanField()


# The envelope of a paginated report computed at `calculated_at` (a comment, not a
# docstring: drf-spectacular would give every subclass's schema that description).
class CalculatedPageSerializer(serializers.Serializer):
    calculated_at = serializers.DateTimeField()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)


class FreshnessResponseSerializer(CalculatedPageSerializer):
    results = FreshnessRowSerializer(many=True)


class IngestionDayRowSerializer(serializers.Serializer):
    day = serializers.DateField()
    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    runs = serializers.IntegerField()
    failed = serializers.IntegerField()
    rows_inserted = serializers.IntegerField()
    rows_updated = serializers.IntegerField()
    bytes_written = serializers.IntegerField()


class IngestionDailyResponseSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    since = serializers.DateField()
    results = IngestionDayRowSerializer(many=True)


class MvHealthRowSerializer(serializers.Serializer):
    """A matview's `checks.staleness.Staleness`; `context["populated"]` maps object ids to
    their populated flag as of the last discovery."""

    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    is_critical = serializers.BooleanField()
    is_populated = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(
        help_text="OK | STALE | FAILED | NOT_POPULATED | NEVER_REFRESHED"
    )
    last_refresh_at = serializers.DateTimeField(allow_null=True)
    last_refresh_status = serializers.CharField(allow_null=True)
    last_refresh_duration_ms = serializers.IntegerField(allow_null=True)
    last_refresh_error = serializers.SerializerMethodField()
    last_success_at = serializers.DateTimeField(source="last_refresh_success_at", allow_null=True)
    age_hours = serializers.FloatField(allow_null=True)
    allowed_hours = serializers.FloatField()
    allowed_by = serializers.CharField()
    stale = serializers.BooleanField(source="is_stale")
    stale_vs_inputs = serializers.BooleanField()
    upstream = serializers.CharField(source="upstream_name", allow_null=True)
    upstream_watermark_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_is_populated(self, row) -> bool | None:
        return self.context["populated"].get(row.object_id)

    def get_status(self, row) -> str:
        return row.mv_status(self.context["populated"].get(row.object_id))

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_last_refresh_error(self, row) -> str | None:
        return row.last_refresh_error or None


class MvHealthResponseSerializer(CalculatedPageSerializer):
    results = MvHealthRowSerializer(many=True)


class ReportViolationSerializer(serializers.Serializer):
    check_key = serializers.CharField()
    level = serializers.ChoiceField(choices=ITEM_LEVELS)
    subject_type = serializers.CharField()
    subject = serializers.CharField()
    object_id = serializers.IntegerField(allow_null=True)
    detail = serializers.JSONField()


class HealthStatusResponseSerializer(serializers.Serializer):
    """The integrity checker's /health/status, on OpsHealth's evaluation."""

    status = serializers.ChoiceField(choices=BANDS, source="band")
    global_status = STATUS
    last_check = serializers.DateTimeField(source="evaluated_at")
    consistency_rate = serializers.FloatField(
        source="health_score", help_text="health score: % of monitored objects not failing"
    )
    total_violations = serializers.IntegerField(source="violation_count")
    requires_attention = serializers.BooleanField()
    thresholds = ThresholdsSerializer()
    violations = serializers.SerializerMethodField(help_text="the first 20 (ERROR first)")

    @extend_schema_field(ReportViolationSerializer(many=True))
    def get_violations(self, e) -> list:
        return ReportViolationSerializer(e.failing_violations()[:STATUS_VIOLATIONS], many=True).data


class HealthReportSerializer(serializers.Serializer):
    """The integrity checker's report (latest-report, check-now)."""

    evaluation_id = serializers.IntegerField(source="pk")
    timestamp = serializers.DateTimeField(source="evaluated_at")
    total_checked = serializers.IntegerField(source="monitored_count", help_text="monitored objects")
    consistent = serializers.IntegerField(source="consistent_count")
    inconsistent = serializers.IntegerField(source="failing_monitored_count")
    consistency_rate = serializers.FloatField(source="health_score")
    status = serializers.ChoiceField(choices=BANDS, source="band")
    global_status = STATUS
    duration_ms = serializers.IntegerField()
    checks = HealthCheckRowSerializer(many=True, source="results")
    total_violations = serializers.IntegerField(source="violation_count")
    violations_truncated = serializers.SerializerMethodField()
    violations = serializers.SerializerMethodField()

    def _items(self, e) -> list:
        # One query for the page of violations and for whether there are more.
        cache = self.__dict__.setdefault("_violations", {})
        if e.pk not in cache:
            cache[e.pk] = list(e.failing_violations()[: REPORT_VIOLATIONS + 1])
        return cache[e.pk]

    def get_violations_truncated(self, e) -> bool:
        return len(self._items(e)) > REPORT_VIOLATIONS

    @extend_schema_field(ReportViolationSerializer(many=True))
    def get_violations(self, e) -> list:
        return ReportViolationSerializer(self._items(e)[:REPORT_VIOLATIONS], many=True).data


class TrendPointSerializer(serializers.Serializer):
    evaluated_at = serializers.DateTimeField()
    health_score = serializers.FloatField()
    band = serializers.ChoiceField(choices=BANDS)
    global_status = STATUS
    violation_count = serializers.IntegerField()


class HealthMetricsResponseSerializer(serializers.Serializer):
    hours = serializers.IntegerField()
    current = HealthStatusResponseSerializer()
    evaluations = serializers.IntegerField()
    avg_consistency_rate = serializers.FloatField(allow_null=True)
    min_consistency_rate = serializers.FloatField(allow_null=True)
    evaluations_by_band = serializers.DictField(child=serializers.IntegerField())
    evaluations_by_global_status = serializers.DictField(child=serializers.IntegerField())
    check_statuses = serializers.DictField(child=STATUS)
    trend = TrendPointSerializer(many=True)
