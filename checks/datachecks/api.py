"""`/api/v1/data-checks`: data checks (CRUD: admin scope or staff; reads: any
authenticated user or token), their results (`/{id}/results`, cursor-paginated) and
their pass rate per day (`/{id}/trend`).

Checks defined in a file (`opshealth.yml`) are read-only here: the file is their source
of truth, and a reload would undo an edit.
"""

from __future__ import annotations

import copy

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from checks.datachecks.kinds import KINDS
from checks.datachecks.models import DataCheck, default_name, find_object
from common.api import StrictViewMixin
from common.auth import ReadOrAdmin
from common.filters import FilterSet
from common.identifiers import split_identifier
from ledger.api.pagination import CheckResultKeysetPagination
from ledger.models import CheckResult

MAX_TREND_DAYS = 366


class DefinedInFile(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "defined_in_file"


class DataCheckSerializer(serializers.ModelSerializer):
    object = serializers.CharField(help_text="schema.name of a registry object")
    source = serializers.CharField(
        required=False, write_only=True, help_text="the object's source, when its name is in several"
    )
    source_name = serializers.CharField(source="object.source.name", read_only=True)
    object_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(
        required=False, max_length=200, help_text="default: the kind and its columns"
    )
    kind = serializers.ChoiceField(choices=sorted(KINDS))
    status = serializers.CharField(read_only=True, allow_null=True, help_text="status of the latest result")
    last_checked_at = serializers.DateTimeField(
        source="last_result.checked_at", read_only=True, allow_null=True
    )
    last_message = serializers.CharField(source="last_result.message", read_only=True, allow_null=True)

    class Meta:
        model = DataCheck
        fields = [
            "id",
            "name",
            "object",
            "object_id",
            "source",
            "source_name",
            "kind",
            "params",
            "severity",
            "where",
            "schedule",
            "enabled",
            "samples",
            "origin",
            "file_path",
            "definition_hash",
            "status",
            "last_checked_at",
            "last_message",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "origin",
            "file_path",
            "definition_hash",
            "next_run_at",
            "created_at",
            "updated_at",
        ]
        # (object, name) uniqueness is checked in validate(), after the default name is set.
        validators = []

    def to_representation(self, check: DataCheck) -> dict:
        data = super().to_representation(check)
        data["object"] = check.object.qualified_name
        return data

    def validate(self, attrs: dict) -> dict:
        source = attrs.pop("source", None)
        errors: dict[str, list[str]] = {}
        if "object" in attrs or source:
            try:
                attrs["object"] = find_object(
                    attrs.get("object") or self.instance.object.qualified_name, source
                )
            except DjangoValidationError as exc:
                errors["object"] = exc.messages
        if errors:
            raise serializers.ValidationError(errors)
        candidate = copy.copy(self.instance) if self.instance else DataCheck()
        for key, value in attrs.items():
            setattr(candidate, key, value)
        if not candidate.name:
            candidate.name = attrs["name"] = default_name(candidate.kind, candidate.params or {})
        # The model's clean() holds the rules, shared with the admin and the YAML loader.
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        attrs["params"] = candidate.params
        taken = DataCheck.objects.filter(object=candidate.object, name=candidate.name)
        if self.instance:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError(
                {"name": [f"{candidate.object} already has a check named {candidate.name!r}."]}
            )
        return attrs


class CheckResultRowSerializer(serializers.ModelSerializer):
    run_id = serializers.UUIDField(source="run.run_id", read_only=True, allow_null=True)
    observed = serializers.JSONField(source="metrics.observed", read_only=True)
    threshold = serializers.JSONField(source="metrics.threshold", read_only=True)
    failing_count = serializers.IntegerField(source="metrics.failing_count", read_only=True, allow_null=True)
    samples = serializers.JSONField(
        source="metrics.samples",
        read_only=True,
        allow_null=True,
        help_text='up to 5 failing rows: {"columns": [names in the table\'s order], "rows": [[values]]}',
    )
    duration_ms = serializers.IntegerField(source="metrics.duration_ms", read_only=True, allow_null=True)
    sql_hash = serializers.CharField(source="metrics.sql_hash", read_only=True, allow_null=True)
    definition_hash = serializers.CharField(source="metrics.definition_hash", read_only=True, allow_null=True)

    class Meta:
        model = CheckResult
        fields = [
            "id",
            "checked_at",
            "status",
            "severity",
            "message",
            "observed",
            "threshold",
            "failing_count",
            "samples",
            "duration_ms",
            "sql_hash",
            "definition_hash",
            "run_id",
        ]


class TrendDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    runs = serializers.IntegerField()
    passed = serializers.IntegerField()
    failed = serializers.IntegerField()
    errors = serializers.IntegerField()
    skipped = serializers.IntegerField()
    pass_rate = serializers.FloatField(
        help_text="passed / (runs - skipped): the pass rate of the judged results"
    )


class DataCheckFilter(FilterSet):
    source = django_filters.CharFilter(field_name="object__source__name")
    object = django_filters.CharFilter(method="filter_object", help_text="schema.name")
    status = django_filters.ChoiceFilter(
        field_name="last_result__status",
        choices=CheckResult.STATUSES,
        help_text="status of the latest result",
    )

    class Meta:
        model = DataCheck
        fields = ["source", "object", "kind", "severity", "enabled", "origin", "status"]

    def filter_object(self, queryset, name, value):
        parts = split_identifier(value, strict=False)
        if len(parts) != 2:
            raise exceptions.ValidationError({"object": ["Name the object as schema.name."]})
        return queryset.filter(Q(object__schema_name=parts[0]) & Q(object__object_name=parts[1]))


class DataCheckViewSet(StrictViewMixin, viewsets.ModelViewSet):
    serializer_class = DataCheckSerializer
    permission_classes = [ReadOrAdmin]
    error_statuses = (DefinedInFile.status_code,)  # in the schema (common/schema.py)
    filterset_class = DataCheckFilter
    search_fields = ["name", "object__object_name"]
    ordering_fields = ["name", "id", "created_at", "next_run_at"]
    ordering = ["object__schema_name", "object__object_name", "name"]

    def initial(self, request, *args, **kwargs):
        self.query_params = {"results": ("cursor", "limit"), "trend": ("days",)}.get(self.action, ())
        super().initial(request, *args, **kwargs)

    def get_queryset(self):
        return DataCheck.objects.with_latest()

    def _writable(self, check: DataCheck) -> None:
        if check.is_from_file:
            raise DefinedInFile(f"Defined in {check.file_path}: change the file, then reload it.")

    def perform_update(self, serializer):
        self._writable(serializer.instance)
        serializer.save()

    def perform_destroy(self, instance):
        self._writable(instance)
        instance.delete()

    @extend_schema(responses=CheckResultRowSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=CheckResultKeysetPagination)
    def results(self, request: Request, pk: str | None = None) -> Response:
        """This check's results, newest first (cursor-paginated)."""
        check = self.get_object()
        page = self.paginate_queryset(check.results().select_related("run"))
        return self.get_paginated_response(CheckResultRowSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("days", int, description=f"1 to {MAX_TREND_DAYS}, default 30")],
        responses=TrendDaySerializer(many=True),
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def trend(self, request: Request, pk: str | None = None) -> Response:
        """Pass rate per day (UTC), oldest first; days without results are left out."""
        check = self.get_object()
        days = request.query_params.get("days", "30")
        if not days.isdigit() or not 1 <= int(days) <= MAX_TREND_DAYS:
            raise exceptions.ValidationError(
                {"days": [f"A whole number of days from 1 to {MAX_TREND_DAYS}."]}
            )
        return Response(TrendDaySerializer(check.trend(days=int(days)), many=True).data)
