"""Serializers of the write side: they validate, then build `ledger.ingest` inputs."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django.utils.functional import cached_property
from rest_framework import serializers

from ledger import bounds, ingest
from ledger.keys import normalize_asset_key
from ledger.models import CheckResult, Run, RunAsset

BIGINT_MAX = 2**63 - 1
EVENT_STATUSES = [s for s, _ in Run.STATUSES] + [Run.OTHER]
TRIGGERS = [t for t, _ in Run.TRIGGERS]


class SparseSerializer(serializers.Serializer):
    """Validates only the fields a payload carries, plus the required ones.

    An absent optional field is left out of `validated_data` and takes the default of
    the `ledger.ingest` dataclass it becomes (the same as the field's declared
    default). A typical event carries 5 of some 30 fields: validating the other 25 per
    item was half the CPU of a bulk request.
    """

    def to_internal_value(self, data):
        self._present = set(data) if isinstance(data, dict) else set()
        return super().to_internal_value(data)

    @cached_property
    def _all_writable(self) -> list:
        # DRF walks its BindingDict on every item; one serializer validates up to 1,000.
        return [f for f in self.fields.values() if not f.read_only]

    @property
    def _writable_fields(self):
        present = getattr(self, "_present", None)
        for field in self._all_writable:
            if present is None or field.required or field.field_name in present:
                yield field

    def _read_only_defaults(self) -> dict:
        return {}  # no read-only fields here (DRF would walk every field per item to learn it)


class LedgerTimeField(serializers.DateTimeField):
    """A time inside the ledger's window (`ledger.bounds`); outside it, the error code
    `time_window`, which the ingestion views answer with 422."""

    default_error_messages = {bounds.TIME_WINDOW: "{problem}"}

    def enforce_timezone(self, value):
        try:
            aware = super().enforce_timezone(value)
        except serializers.ValidationError:  # DRF's "overflow": past datetime.max in UTC
            self.fail(bounds.TIME_WINDOW, problem=f"{value.isoformat()} is out of range.")
        problem = bounds.time_problem(aware)
        if problem:
            self.fail(bounds.TIME_WINDOW, problem=problem)
        return aware


class KeyLengthMixin:
    """The normalized key (namespace folded in) must fit its column, else 400, not 500."""

    def validate(self, attrs: dict) -> dict:
        key = normalize_asset_key(attrs["asset_key"], attrs.get("namespace") or None)
        if len(key) > 500:
            raise serializers.ValidationError({"asset_key": "Namespace and key exceed 500 characters."})
        return super().validate(attrs)


class AssetSerializer(KeyLengthMixin, SparseSerializer):
    asset_key = serializers.CharField(max_length=500)
    namespace = serializers.CharField(max_length=300, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=[k for k, _ in RunAsset.KINDS], default="table")
    direction = serializers.ChoiceField(choices=["output", "input"], default="output")
    partition_key = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=[s for s, _ in RunAsset.STATUSES], default="success")
    rows_inserted = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=BIGINT_MAX
    )
    rows_updated = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=BIGINT_MAX
    )
    rows_deleted = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=BIGINT_MAX
    )
    bytes_written = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=BIGINT_MAX
    )
    min_event_time = LedgerTimeField(required=False, allow_null=True)
    max_event_time = LedgerTimeField(required=False, allow_null=True)
    extra = serializers.DictField(required=False, default=dict)
    started_at = LedgerTimeField(required=False, allow_null=True)
    ended_at = LedgerTimeField(required=False, allow_null=True)
    error_message = serializers.CharField(required=False, allow_blank=True, default="")

    def to_input(self, data: dict) -> ingest.AssetIn:
        return ingest.AssetIn(**data)


class WatermarkSerializer(KeyLengthMixin, SparseSerializer):
    asset_key = serializers.CharField(max_length=500)
    namespace = serializers.CharField(max_length=300, required=False, allow_blank=True)
    scope_key = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    watermark_ts = LedgerTimeField()

    def to_input(self, data: dict) -> ingest.WatermarkIn:
        return ingest.WatermarkIn(**data)


class CheckSerializer(KeyLengthMixin, SparseSerializer):
    asset_key = serializers.CharField(max_length=500)
    namespace = serializers.CharField(max_length=300, required=False, allow_blank=True)
    check_name = serializers.CharField(max_length=200)
    status = serializers.ChoiceField(choices=[s for s, _ in CheckResult.STATUSES])
    severity = serializers.ChoiceField(choices=[s for s, _ in CheckResult.SEVERITIES], default="error")
    metrics = serializers.DictField(required=False, default=dict)
    message = serializers.CharField(required=False, allow_blank=True, default="")
    partition_key = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    checked_at = LedgerTimeField(required=False, allow_null=True)

    def to_input(self, data: dict) -> ingest.CheckIn:
        return ingest.CheckIn(**data)


class WatermarkResetSerializer(serializers.Serializer):
    """`POST /api/v1/ledger/watermarks/{id}/reset`: where the watermark goes, and why."""

    watermark_ts = LedgerTimeField()
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class StandaloneWatermarkSerializer(WatermarkSerializer):
    """A watermark posted on its own may name the run (its `run_id` uuid) that loaded it."""

    run_id = serializers.UUIDField(required=False, allow_null=True)


class StandaloneCheckSerializer(CheckSerializer):
    run_id = serializers.UUIDField(required=False, allow_null=True)


class RunEventSerializer(SparseSerializer):
    """One event creating or advancing a run (`POST /api/v1/ledger/runs`)."""

    pipeline = serializers.CharField(max_length=300)
    namespace = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    client = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    external_run_id = serializers.CharField(max_length=200)
    status = serializers.ChoiceField(choices=EVENT_STATUSES)
    event_time = LedgerTimeField(
        required=False, help_text="When the event happened; default: ended_at, else started_at, else now."
    )
    started_at = LedgerTimeField(required=False, allow_null=True)
    ended_at = LedgerTimeField(required=False, allow_null=True)
    nominal_time = LedgerTimeField(required=False, allow_null=True)
    triggered_by = serializers.ChoiceField(choices=TRIGGERS, default="api")
    provider = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    storage_backend = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    args = serializers.DictField(required=False, default=dict)
    git_sha = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    app_version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    error_type = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    error_message = serializers.CharField(required=False, allow_blank=True, default="")
    error_stack_hash = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    parent_external_run_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    parent_pipeline = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="Default: this event's pipeline."
    )
    parent_namespace = serializers.CharField(max_length=300, required=False, allow_blank=True)
    assets = AssetSerializer(many=True, required=False, default=list)
    watermarks = WatermarkSerializer(many=True, required=False, default=list)
    check_results = CheckSerializer(many=True, required=False, default=list)

    def to_internal_value(self, data):
        # Counted before any asset is validated: a 60,000-asset event is refused for
        # the price of a len(), not of 60,000 validations (and their memory).
        assets = data.get("assets") if isinstance(data, dict) else None
        limit = settings.OPSHEALTH_MAX_ASSETS_PER_EVENT
        if isinstance(assets, list) and len(assets) > limit:
            raise serializers.ValidationError(
                {
                    "assets": [
                        f"At most {limit} assets per event, got {len(assets)}: report them over several events."
                    ]
                }
            )
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        started, ended = attrs.get("started_at"), attrs.get("ended_at")
        if started and ended and ended < started:
            raise serializers.ValidationError({"ended_at": "ended_at is before started_at."})
        return attrs

    @staticmethod
    def event_from(validated: dict) -> ingest.RunEvent:
        d = dict(validated)
        parent = None
        parent_ext = d.pop("parent_external_run_id", "")
        parent_pipeline = d.pop("parent_pipeline", "") or d["pipeline"]
        parent_ns = d.pop("parent_namespace", None)
        if parent_ext:
            ns = d.get("namespace", "") if parent_ns is None else parent_ns
            parent = ingest.ParentRef(parent_pipeline, parent_ext, ns)
        d["event_time"] = d.get("event_time") or d.get("ended_at") or d.get("started_at") or timezone.now()
        assets = [ingest.AssetIn(**a) for a in d.pop("assets", [])]
        for a in assets:
            # A reported asset is done by the time of the event that reports it.
            a.ended_at = a.ended_at or d["event_time"]
        watermarks = [ingest.WatermarkIn(**w) for w in d.pop("watermarks", [])]
        checks = [ingest.CheckIn(**c) for c in d.pop("check_results", [])]
        return ingest.RunEvent(**d, parent=parent, assets=assets, watermarks=watermarks, checks=checks)
