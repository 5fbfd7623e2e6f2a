"""Serializers of the source registry API (`/api/v1/ops/source-registry`).

Field names follow the seed's `SourceRegistryRow` contract. `description` and
`refresh_schedule` are the effective values (the override, else the database comment /
the inferred interval), as the spec defines them; `overrides` shows what a person set.
"""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.api import ModelSerializer
from registry.models import (
    OVERRIDE_FIELDS,
    CodeUsage,
    Column,
    Dependency,
    OverrideAudit,
    RegistryObject,
    SchemaChange,
)

# How many schema changes and audit rows an object's detail shows, newest first.
DETAIL_HISTORY_LIMIT = 50


class RegistryObjectRowSerializer(serializers.ModelSerializer):
    source = serializers.CharField(source="source.name", read_only=True)
    qualified_name = serializers.CharField(read_only=True)
    description = serializers.CharField(source="effective_description", read_only=True)
    refresh_schedule = serializers.DurationField(
        source="effective_refresh_schedule", read_only=True, allow_null=True
    )
    effective_critical = serializers.BooleanField(read_only=True)
    size_mb = serializers.SerializerMethodField()
    depends_on = serializers.SerializerMethodField()
    overrides = serializers.SerializerMethodField()

    class Meta:
        model = RegistryObject
        fields = [
            "id",
            "source",
            "schema_name",
            "object_name",
            "qualified_name",
            "object_type",
            "is_partition",
            "layer",
            "role",
            "criticality",
            "effective_critical",
            "should_monitor",
            "health_enabled",
            "is_expected",
            "is_critical",
            "notes",
            "description",
            "db_comment",
            "usage_context",
            "refresh_schedule",
            "max_staleness",
            "depends_on",
            "overrides",
            "needs_review",
            "review_reason",
            "estimated_rows",
            "size_bytes",
            "size_mb",
            "is_populated",
            "exists_in_db",
            "discovered_at",
            "last_verified_at",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_size_mb(self, obj: RegistryObject) -> float | None:
        return None if obj.size_bytes is None else round(obj.size_bytes / 1024 / 1024, 3)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_depends_on(self, obj: RegistryObject) -> list[str]:
        # upstream_edges is prefetched with its upstream object by the view.
        return sorted(edge.upstream.qualified_name for edge in obj.upstream_edges.all())

    @cached_property
    def _override_fields(self) -> dict[str, serializers.Field]:
        # Built once per list, not per row: a ModelSerializer introspects the model to
        # build its fields, which cost a third of a 50-row page when done for every row.
        return dict(OverridesSerializer().fields)

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_overrides(self, obj: RegistryObject) -> dict:
        """The overrides a person set: NULL or blank means none."""
        overrides = {}
        for name, field in self._override_fields.items():
            value = getattr(obj, name)
            if value not in (None, ""):
                overrides[name] = field.to_representation(value)
        return overrides


class ColumnSerializer(serializers.ModelSerializer):
    class Meta:
        model = Column
        fields = ["name", "position", "data_type", "is_nullable", "is_primary_key", "fk_target"]


class RelatedObjectSerializer(serializers.ModelSerializer):
    qualified_name = serializers.CharField(read_only=True)

    class Meta:
        model = RegistryObject
        fields = ["id", "qualified_name", "object_type", "layer", "criticality", "exists_in_db"]


class EdgeEndSerializer(RelatedObjectSerializer):
    """The object at the other end of an edge, and where the edge comes from: recorded by
    the server (`catalog`) or parsed from the view's definition (`parsed`)."""

    provenance = serializers.ChoiceField(choices=Dependency.PROVENANCES, read_only=True)

    class Meta(RelatedObjectSerializer.Meta):
        fields = [*RelatedObjectSerializer.Meta.fields, "provenance"]

    @classmethod
    def ends(cls, edges, end: str) -> list[dict]:
        return [{**RelatedObjectSerializer(getattr(e, end)).data, "provenance": e.provenance} for e in edges]


class CodeUsageSerializer(serializers.ModelSerializer):
    class Meta:
        model = CodeUsage
        fields = [
            "raw_name",
            "code_path",
            "file",
            "line",
            "kind",
            "context",
            "route",
            "function",
            "columns",
            "evidence",
        ]


class ColumnUseSerializer(serializers.Serializer):
    """A column named by code ("*": `SELECT *`), whether the object has it, and where."""

    column = serializers.CharField()
    exists = serializers.BooleanField()
    usages = serializers.SerializerMethodField()

    @extend_schema_field(CodeUsageSerializer(many=True))
    def get_usages(self, use) -> list[dict]:
        return CodeUsageSerializer(use.usages, many=True).data


class SchemaChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SchemaChange
        fields = ["change", "column_name", "old_type", "new_type", "detected_at"]


class OverrideAuditSerializer(serializers.ModelSerializer):
    class Meta:
        model = OverrideAudit
        fields = ["field", "old_value", "new_value", "changed_by_name", "via", "changed_at"]


class RegistryObjectDetailSerializer(RegistryObjectRowSerializer):
    columns = ColumnSerializer(many=True, read_only=True)
    upstream = serializers.SerializerMethodField()
    downstream = serializers.SerializerMethodField()
    usages = CodeUsageSerializer(source="code_usages", many=True, read_only=True)
    column_usages = serializers.SerializerMethodField()
    schema_changes = serializers.SerializerMethodField()
    audit = serializers.SerializerMethodField()

    class Meta(RegistryObjectRowSerializer.Meta):
        fields = [
            *RegistryObjectRowSerializer.Meta.fields,
            "owner",
            "has_unique_index",
            "last_analyze_at",
            "last_vacuum_at",
            "provenance",
            "columns",
            "upstream",
            "downstream",
            "usages",
            "column_usages",
            "schema_changes",
            "audit",
        ]
        read_only_fields = fields

    @extend_schema_field(ColumnUseSerializer(many=True))
    def get_column_usages(self, obj: RegistryObject) -> list[dict]:
        """Which code uses which column (RegistryObject.column_usages)."""
        return ColumnUseSerializer(obj.column_usages(), many=True).data

    # Append-only histories: the newest entries only, one query each (a detail is one object).
    @extend_schema_field(SchemaChangeSerializer(many=True))
    def get_schema_changes(self, obj: RegistryObject) -> list[dict]:
        return SchemaChangeSerializer(obj.schema_changes.all()[:DETAIL_HISTORY_LIMIT], many=True).data

    @extend_schema_field(OverrideAuditSerializer(many=True))
    def get_audit(self, obj: RegistryObject) -> list[dict]:
        return OverrideAuditSerializer(obj.audit.all()[:DETAIL_HISTORY_LIMIT], many=True).data

    @extend_schema_field(EdgeEndSerializer(many=True))
    def get_upstream(self, obj: RegistryObject) -> list[dict]:
        return EdgeEndSerializer.ends(obj.upstream_edges.all(), "upstream")

    @extend_schema_field(EdgeEndSerializer(many=True))
    def get_downstream(self, obj: RegistryObject) -> list[dict]:
        return EdgeEndSerializer.ends(obj.downstream_edges.all(), "downstream")


class OverridesSerializer(ModelSerializer):
    """The body of a PATCH: override fields only; any other field is a 400 naming it."""

    class Meta:
        model = RegistryObject
        fields = list(OVERRIDE_FIELDS)

    def validate(self, attrs: dict) -> dict:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(OVERRIDE_FIELDS))
            if unknown:
                allowed = ", ".join(OVERRIDE_FIELDS)
                raise serializers.ValidationError(
                    {name: [f"Not an override field; only {allowed} may be changed."] for name in unknown}
                )
        return attrs
