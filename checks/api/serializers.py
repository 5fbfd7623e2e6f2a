"""Response shapes of the ops and health APIs: the public contracts (seed field names),
documented in the OpenAPI schema through these serializers and pinned by tests."""

from __future__ import annotations

from rest_framework import serializers

from checks.models import BANDS, ITEM_LEVELS, SEVERITIES, STATUSES, CheckRun, Violation

STATUS = serializers.ChoiceField(choices=STATUSES)


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
    checks = HealthCheckRowSerializer(many=True)


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


class HealthGlobalResponseSerializer(serializers.Serializer):
    """The seed's HealthGlobalResponse, plus score, band, explanation and the scheduler's
    live state (`global_status` is at least WARN while it is stopped;
    `evaluated_global_status` is the evaluation's own)."""

    global_status = STATUS
    evaluated_global_status = STATUS
    scheduler = SchedulerSerializer()
    error_count = serializers.IntegerField()
    warn_count = serializers.IntegerField()
    ok_count = serializers.IntegerField()
    calculated_at = serializers.DateTimeField()
    health_score = serializers.FloatField()
    band = serializers.ChoiceField(choices=BANDS)
    thresholds = ThresholdsSerializer()
    monitored_count = serializers.IntegerField()
    failing_monitored_count = serializers.IntegerField()
    explanation = ExplanationSerializer()


class StalenessRowSerializer(serializers.Serializer):
    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    layer = serializers.CharField()
    # plain strings: a second choice set named `status` would collide in the OpenAPI enums
    status = serializers.CharField(help_text="OK | STALE | NO_SIGNAL")
    decided_by = serializers.CharField(allow_null=True)
    last_signal_at = serializers.DateTimeField(allow_null=True)
    age_hours = serializers.FloatField(allow_null=True)
    allowed_hours = serializers.FloatField()
    allowed_by = serializers.CharField()
    watermark_at = serializers.DateTimeField(allow_null=True)
    last_write_at = serializers.DateTimeField(allow_null=True)
    last_refresh_at = serializers.DateTimeField(allow_null=True)


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
    asset_key = serializers.CharField()
    scope_key = serializers.CharField()
    watermark_ts = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    age_hours = serializers.FloatField()
    allowed_hours = serializers.FloatField()
    is_stale = serializers.BooleanField()


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
    object_id = serializers.IntegerField()
    schema_name = serializers.CharField()
    object_name = serializers.CharField()
    is_critical = serializers.BooleanField()
    is_populated = serializers.BooleanField(allow_null=True)
    status = serializers.CharField(help_text="OK | STALE | FAILED | NOT_POPULATED | NEVER_REFRESHED")
    last_refresh_at = serializers.DateTimeField(allow_null=True)
    last_refresh_status = serializers.CharField(allow_null=True)
    last_refresh_duration_ms = serializers.IntegerField(allow_null=True)
    last_refresh_error = serializers.CharField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    age_hours = serializers.FloatField(allow_null=True)
    allowed_hours = serializers.FloatField()
    allowed_by = serializers.CharField()
    stale = serializers.BooleanField()
    stale_vs_inputs = serializers.BooleanField()
    upstream = serializers.CharField(allow_null=True)
    upstream_watermark_at = serializers.DateTimeField(allow_null=True)


class MvHealthResponseSerializer(serializers.Serializer):
    calculated_at = serializers.DateTimeField()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
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

    status = serializers.ChoiceField(choices=BANDS)
    global_status = STATUS
    last_check = serializers.DateTimeField()
    consistency_rate = serializers.FloatField(help_text="health score: % of monitored objects not failing")
    total_violations = serializers.IntegerField()
    requires_attention = serializers.BooleanField()
    thresholds = ThresholdsSerializer()
    violations = ReportViolationSerializer(many=True, help_text="the first 20 (ERROR first)")


class HealthReportSerializer(serializers.Serializer):
    """The integrity checker's report (latest-report, check-now)."""

    evaluation_id = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    total_checked = serializers.IntegerField(help_text="monitored objects")
    consistent = serializers.IntegerField()
    inconsistent = serializers.IntegerField()
    consistency_rate = serializers.FloatField()
    status = serializers.ChoiceField(choices=BANDS)
    global_status = STATUS
    duration_ms = serializers.IntegerField()
    checks = HealthCheckRowSerializer(many=True)
    total_violations = serializers.IntegerField()
    violations_truncated = serializers.BooleanField()
    violations = ReportViolationSerializer(many=True)


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
