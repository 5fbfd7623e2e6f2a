"""Serializers of the ledger's read side. Explicit fields: the response shapes are API."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api import ModelSerializer
from ledger import schedule
from ledger.models import LATEST_OUTCOME_FIELDS, CheckResult, Client, Pipeline, Run, RunAsset, Watermark


class ClientSerializer(serializers.ModelSerializer):
    pipeline_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Client
        fields = ["id", "name", "description", "created_at", "pipeline_count"]


class LatestRunSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class ScheduleStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=schedule.STATES)
    expected_at = serializers.DateTimeField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True)
    running_since = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField()


class PipelineSerializer(ModelSerializer):
    """Staff edit ownership and schedule; name and namespace are the ingestion identity.

    A field through a relation that may be null (`client.name`) is `allow_null`, with no
    `default`: DRF leaves a field out of a partial update's response rather than show
    its default.
    """

    client_name = serializers.CharField(source="client.name", read_only=True, allow_null=True)
    latest_run = serializers.SerializerMethodField()
    latest_outcome = serializers.SerializerMethodField()
    schedule_state = serializers.SerializerMethodField()

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "namespace",
            "name",
            "client",
            "client_name",
            "owner",
            "description",
            "schedule_cron",
            "schedule_interval",
            "schedule_timezone",
            "grace",
            "max_duration",
            "created_at",
            "latest_run",
            "latest_outcome",
            "schedule_state",
        ]

    def validate_schedule_cron(self, value: str) -> str:
        if error := schedule.validate_cron(value):
            raise serializers.ValidationError(error)
        return value

    def validate_schedule_timezone(self, value: str) -> str:
        if error := schedule.validate_timezone(value):
            raise serializers.ValidationError(error)
        return value

    def validate_schedule_interval(self, value):
        if error := schedule.validate_period(value):
            raise serializers.ValidationError(error)
        return value

    def validate_grace(self, value):
        if error := schedule.validate_period(value, allow_zero=True):
            raise serializers.ValidationError(error)
        return value

    def validate_max_duration(self, value):
        if error := schedule.validate_period(value):
            raise serializers.ValidationError(error)
        return value

    def validate(self, attrs: dict) -> dict:
        # Renaming would detach future events (matched by namespace + name) from history.
        if self.instance is not None:
            for field in ("namespace", "name"):
                if field in attrs and attrs[field] != getattr(self.instance, field):
                    raise serializers.ValidationError({field: "A pipeline cannot be renamed."})
        return attrs

    @extend_schema_field(LatestRunSerializer(allow_null=True))
    def get_latest_run(self, pipeline: Pipeline) -> dict | None:
        if getattr(pipeline, "latest_run_id", None) is None:
            return None
        return {
            "run_id": pipeline.latest_run_id,
            "status": pipeline.latest_status,
            "started_at": pipeline.latest_started_at,
            "ended_at": pipeline.latest_ended_at,
        }

    @extend_schema_field(LatestRunSerializer(allow_null=True))
    def get_latest_outcome(self, pipeline: Pipeline) -> dict | None:
        """The newest success-or-failed run (`Run.objects.latest_outcome()`): whether the
        pipeline is failing, as pipeline_run_failed and the run_failed alert judge it."""
        if getattr(pipeline, "latest_outcome_run_id", None) is None:
            return None
        return {f: getattr(pipeline, f"latest_outcome_{f}") for f in LATEST_OUTCOME_FIELDS}

    @extend_schema_field(ScheduleStateSerializer)
    def get_schedule_state(self, pipeline: Pipeline) -> dict:
        state = schedule.state_of(pipeline, self.context.get("now") or timezone.now())
        return {
            "state": state.state,
            "expected_at": state.expected_at,
            "next_due_at": state.next_due_at,
            "running_since": state.running_since,
            "reason": state.reason,
        }


class RunAssetSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunAsset
        fields = [
            "asset_key",
            "normalized_key",
            "kind",
            "direction",
            "partition_key",
            "status",
            "rows_inserted",
            "rows_updated",
            "rows_deleted",
            "bytes_written",
            "min_event_time",
            "max_event_time",
            "started_at",
            "ended_at",
            "duration_ms",
            "error_message",
            "extra",
        ]


class RunSerializer(serializers.ModelSerializer):
    pipeline = serializers.CharField(source="pipeline.__str__", read_only=True)
    pipeline_id = serializers.IntegerField(read_only=True)
    client = serializers.CharField(source="pipeline.client.name", read_only=True, allow_null=True)
    parent_run_id = serializers.UUIDField(source="parent_run.run_id", read_only=True, allow_null=True)

    class Meta:
        model = Run
        fields = [
            "run_id",
            "pipeline",
            "pipeline_id",
            "client",
            "external_run_id",
            "parent_run_id",
            "triggered_by",
            "status",
            "started_at",
            "ended_at",
            "duration_ms",
            "nominal_time",
            "error_type",
            "error_message",
        ]


class CheckResultSerializer(serializers.ModelSerializer):
    run_id = serializers.UUIDField(source="run.run_id", read_only=True, allow_null=True)

    class Meta:
        model = CheckResult
        fields = [
            "id",
            "asset_key",
            "normalized_key",
            "partition_key",
            "check_name",
            "severity",
            "status",
            "metrics",
            "message",
            "checked_at",
            "run_id",
        ]


class RunDetailSerializer(RunSerializer):
    assets = RunAssetSerializer(many=True, read_only=True)
    check_results = CheckResultSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [
            *RunSerializer.Meta.fields,
            "provider",
            "storage_backend",
            "args",
            "git_sha",
            "app_version",
            "error_stack_hash",
            "last_event_at",
            "anomalies",
            "assets",
            "check_results",
        ]


class WatermarkReadRunSerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    pipeline = serializers.CharField(source="pipeline.__str__")
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)


class WatermarkReadSerializer(serializers.ModelSerializer):
    age_seconds = serializers.SerializerMethodField()
    last_run = WatermarkReadRunSerializer(read_only=True, allow_null=True)
    last_success_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Watermark
        fields = [
            "id",
            "asset_key",
            "normalized_key",
            "scope_key",
            "watermark_ts",
            "updated_at",
            "age_seconds",
            "last_run",
            "last_success_at",
        ]

    def get_age_seconds(self, watermark: Watermark) -> float:
        now = self.context.get("now") or timezone.now()
        return round((now - watermark.watermark_ts).total_seconds(), 3)


# --- Analytics responses (documentation and shape of the aggregate endpoints) ---------


class WindowQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=3660, default=7)


class FlakyQuerySerializer(serializers.Serializer):
    # Flakiness needs a sample: a daily pipeline has too few runs in a week to be judged
    # (OPSHEALTH_FLAKY_MIN_SAMPLE), so the ranking looks back a month by default.
    days = serializers.IntegerField(
        min_value=1, max_value=3660, default=lambda: settings.OPSHEALTH_FLAKY_WINDOW_DAYS
    )


class FailureRateQuerySerializer(WindowQuerySerializer):
    by = serializers.ChoiceField(choices=["pipeline", "client", "overall"], default="overall")


class RunsPerDayQuerySerializer(WindowQuerySerializer):
    tz = serializers.CharField(default="UTC")

    def validate_tz(self, value: str) -> str:
        if error := schedule.validate_timezone(value):
            raise serializers.ValidationError(error)
        return value


class FailureRateSerializer(serializers.Serializer):
    key = serializers.IntegerField(allow_null=True, help_text="pipeline or client id; null for overall")
    label = serializers.CharField()
    runs = serializers.IntegerField(help_text="terminal runs in the window")
    success = serializers.IntegerField()
    failed = serializers.IntegerField()
    aborted = serializers.IntegerField()
    failure_rate = serializers.FloatField(allow_null=True, help_text="failed / (success + failed)")


class DayCountSerializer(serializers.Serializer):
    day = serializers.DateField()
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="runs by status")


class RecoverySerializer(serializers.Serializer):
    pipeline_id = serializers.IntegerField(allow_null=True)
    pipeline = serializers.CharField()
    incidents = serializers.IntegerField(help_text="failures following a non-failure")
    recovered = serializers.IntegerField(help_text="incidents followed by a success")
    mttr_seconds = serializers.FloatField(allow_null=True)


class MttrSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    overall = RecoverySerializer()
    pipelines = RecoverySerializer(many=True)


class FlakinessSerializer(serializers.Serializer):
    pipeline_id = serializers.IntegerField()
    pipeline = serializers.CharField()
    client = serializers.CharField(allow_null=True)
    sample_size = serializers.IntegerField(help_text="terminal (success/failed) runs in the window")
    failures = serializers.IntegerField()
    flips = serializers.IntegerField(help_text="status changes between consecutive runs")
    flip_rate = serializers.FloatField(allow_null=True, help_text="flips / (sample_size - 1)")
    retry_successes = serializers.IntegerField(help_text="logical runs that failed, then passed on retry")
    failure_streak = serializers.IntegerField(help_text="newest consecutive failures")
    last_run_at = serializers.DateTimeField(allow_null=True)
    classification = serializers.ChoiceField(choices=["flaky", "broken", "healthy", "insufficient_data"])


class FlakyCriteriaSerializer(serializers.Serializer):
    min_sample = serializers.IntegerField()
    flip_rate = serializers.FloatField()
    min_retry_successes = serializers.IntegerField()
    broken_streak = serializers.IntegerField()


class FlakyRankingSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    criteria = FlakyCriteriaSerializer()
    pipelines = FlakinessSerializer(many=True)
