"""Serializers of `/api/v1/alerts/*`. Channel targets and secrets are write-only."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from checks.alerts.conditions import CONDITIONS
from checks.alerts.models import (
    MAX_AHEAD,
    SCOPE_FIELDS,
    AlertRule,
    Channel,
    Delivery,
    Incident,
    MaintenanceWindow,
    Silence,
)
from common.api import DurationField, ModelSerializer


@extend_schema_field(OpenApiTypes.OBJECT)
class ScopeField(serializers.Field):
    """`{"pipeline": "load_orders", "client": "acme"}` ↔ the model's scope_* columns."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", f"What it applies to; keys among {', '.join(SCOPE_FIELDS)}.")
        super().__init__(source="*", **kwargs)

    def to_representation(self, obj) -> dict:
        return obj.scope

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError('An object such as {"pipeline": "load_orders"}.')
        unknown = sorted(set(data) - set(SCOPE_FIELDS))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown key(s) {', '.join(unknown)}; use {', '.join(SCOPE_FIELDS)}."
            )
        out = {}
        for key in SCOPE_FIELDS:
            value = data.get(key) or ""
            limit = AlertRule._meta.get_field(f"scope_{key}").max_length
            if not isinstance(value, str) or len(value) > limit:
                raise serializers.ValidationError(f"'{key}' is a name of at most {limit} characters.")
            out[f"scope_{key}"] = value.strip()
        return out


class ChannelSerializer(ModelSerializer):
    target = serializers.CharField(write_only=True, required=False, max_length=2000)
    secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200)
    has_secret = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "target",
            "target_display",
            "secret",
            "has_secret",
            "enabled",
            "broken_at",
            "broken_reason",
            "created_at",
        ]
        read_only_fields = ["target_display", "broken_at", "broken_reason", "created_at"]

    def get_has_secret(self, channel: Channel) -> bool:
        return bool(channel.secret)

    def validate(self, data):
        kind = data.get("kind", getattr(self.instance, "kind", None))
        target = data.get("target")
        if target is None and self.instance is None:
            raise serializers.ValidationError({"target": "Required: e-mail addresses or a webhook URL."})
        if target is not None:
            validate_target(kind, target)
        elif self.instance is not None and kind != self.instance.kind:
            raise serializers.ValidationError({"target": "A new kind needs a new target."})
        return data

    def create(self, data):
        return Channel.objects.create(**data)

    def update(self, channel, data):
        if "target" in data:
            channel.set_target(data.pop("target"))
        for key, value in data.items():
            setattr(channel, key, value)
        channel.save()
        return channel


def validate_target(kind: str, target: str) -> None:
    """Never echoes the target: it may hold a token."""
    if kind == "email":
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        try:
            if not addresses:
                raise DjangoValidationError("empty")
            for address in addresses:
                validate_email(address)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"target": "Comma-separated e-mail addresses."}) from exc
        return
    try:
        parts = urlsplit(target)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # a port that is not a number raises
    except ValueError:
        ok = False
    if not ok:
        raise serializers.ValidationError({"target": "An http:// or https:// URL with a host."})


class AlertRuleSerializer(ModelSerializer):
    scope = ScopeField(required=False)
    repeat_interval = DurationField(required=False, allow_null=True, help_text="e.g. 4h; null = off")
    channels = serializers.PrimaryKeyRelatedField(many=True, queryset=Channel.objects.all(), required=False)
    kind = serializers.ChoiceField(choices=list(CONDITIONS))

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "name",
            "kind",
            "params",
            "scope",
            "channels",
            "repeat_interval",
            "send_resolved",
            "resolve_after",
            "severity",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate(self, data):
        kind = data.get("kind", getattr(self.instance, "kind", None))
        condition = CONDITIONS[kind]
        if "params" in data:
            params = data["params"]
        elif self.instance is not None and self.instance.kind == kind:
            params = self.instance.params
        else:
            params = {}
        scope = {f: data.get(f"scope_{f}", getattr(self.instance, f"scope_{f}", "")) for f in SCOPE_FIELDS}
        try:
            data["params"] = condition.clean_params(params)
        except ValueError as exc:
            raise serializers.ValidationError({"params": str(exc)}) from exc
        try:
            condition.check_scope({k: v for k, v in scope.items() if v})
        except ValueError as exc:
            raise serializers.ValidationError({"scope": str(exc)}) from exc
        if data.get("resolve_after", 1) < 1:
            raise serializers.ValidationError({"resolve_after": "At least 1."})
        return data


class SilenceSerializer(ModelSerializer):
    scope = ScopeField(required=False)
    active = serializers.SerializerMethodField()

    class Meta:
        model = Silence
        fields = [
            "id",
            "scope",
            "rule",
            "starts_at",
            "ends_at",
            "comment",
            "created_by_name",
            "created_at",
            "active",
        ]
        read_only_fields = ["created_by_name", "created_at"]
        extra_kwargs = {"starts_at": {"required": False}}

    def get_active(self, silence: Silence) -> bool:
        return silence.starts_at <= timezone.now() < silence.ends_at

    def validate(self, data):
        now = timezone.now()
        starts = data.get("starts_at", getattr(self.instance, "starts_at", None) or now)
        ends = data.get("ends_at", getattr(self.instance, "ends_at", None))
        if ends is None:
            raise serializers.ValidationError({"ends_at": "Required."})
        if ends <= starts:
            raise serializers.ValidationError({"ends_at": "A silence ends after it starts."})
        if ends > now + MAX_AHEAD:
            raise serializers.ValidationError({"ends_at": "A silence ends at most 7 days ahead."})
        if not (data.get("comment") or getattr(self.instance, "comment", "")).strip():
            raise serializers.ValidationError(
                {"comment": "Say why (it is shown with the silenced incidents)."}
            )
        return data


# A wall-clock time in the window's `timezone`: no offset, which JSON Schema's `time`
# format (RFC 3339) requires.
@extend_schema_field(
    {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$", "example": "02:30:00"}
)
class LocalTimeField(serializers.TimeField):
    pass


class MaintenanceWindowSerializer(ModelSerializer):
    scope = ScopeField(required=False)
    start_time = LocalTimeField(help_text="Local time (HH:MM[:SS]) in `timezone`.")
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), min_length=1)
    active_now = serializers.SerializerMethodField()

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "name",
            "scope",
            "rule",
            "weekdays",
            "start_time",
            "duration",
            "timezone",
            "enabled",
            "comment",
            "active_now",
        ]

    def get_active_now(self, window: MaintenanceWindow) -> bool:
        return window.is_active(timezone.now())

    def validate(self, data):
        window = MaintenanceWindow(**{**_current(self.instance, data), **data})
        try:
            window.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return data


def _current(instance, data) -> dict:
    if instance is None:
        return {}
    return {f: getattr(instance, f) for f in ("weekdays", "start_time", "duration", "timezone")}


class IncidentSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "state",
            "rule",
            "rule_name",
            "subject",
            "subject_type",
            "severity",
            "summary",
            "opened_at",
            "last_seen_at",
            "resolved_at",
            "resolved_by_name",
            "quiet_reason",
            "suppressed_by",
            "snoozed_until",
            "acknowledged_by_name",
            "acknowledged_at",
            "ack_note",
            "ack_expires_at",
            "url",
        ]
        read_only_fields = fields


class IncidentDetailSerializer(IncidentSerializer):
    timeline = serializers.SerializerMethodField()
    suppresses = serializers.SerializerMethodField()

    class Meta(IncidentSerializer.Meta):
        fields = [*IncidentSerializer.Meta.fields, "labels", "evidence", "remedy", "suppresses", "timeline"]
        read_only_fields = fields

    def get_suppresses(self, incident: Incident) -> list[int]:
        return [i.pk for i in incident.suppresses.all()]

    def get_timeline(self, incident: Incident) -> list[dict]:
        return incident.timeline()


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    timeout = DurationField(required=False, allow_null=True, help_text="default 4h")

    def validate_timeout(self, value):
        if value is not None and value > MAX_AHEAD:
            raise serializers.ValidationError("At most 7 days.")
        return value


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField()


class DeliverySerializer(serializers.ModelSerializer):
    channel_name = serializers.CharField(source="channel.name", read_only=True)
    incident = serializers.IntegerField(source="notification.incident_id", read_only=True, allow_null=True)
    kind = serializers.CharField(source="notification.kind", read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "notification",
            "incident",
            "kind",
            "channel",
            "channel_name",
            "attempted_at",
            "attempt",
            "outcome",
            "permanent",
            "error",
            "duration_ms",
            "is_test",
        ]
        read_only_fields = fields
