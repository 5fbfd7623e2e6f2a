"""`/api/v1/sources`: the monitored databases. Staff write, any authenticated user reads.

The DSN is write-only: responses carry `dsn_display` (password masked, `env:VAR` as is).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import StrictViewMixin
from common.auth import ReadOrAdmin
from common.filters import FilterSet
from registry.engines import ENGINES
from registry.models import Source

logger = logging.getLogger(__name__)


class SourceSerializer(serializers.ModelSerializer):
    engine = serializers.ChoiceField(choices=sorted(ENGINES), default="postgresql")
    dsn = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="postgresql://… or key=value DSN, or env:VARIABLE. Never returned.",
    )
    dsn_display = serializers.SerializerMethodField(help_text="The DSN with its password masked.")
    last_discovery_error = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField(help_text="Accepted but suspicious settings.")

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "engine",
            "dsn",
            "dsn_display",
            "include_schemas",
            "exclude_schemas",
            "code_paths",
            "search_path",
            "is_active",
            "last_discovery_at",
            "last_discovery_status",
            "last_discovery_error",
            "server_version",
            "warnings",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["server_version", "created_at", "updated_at"]

    def get_dsn_display(self, source: Source) -> str:
        return source.masked_dsn

    def get_last_discovery_error(self, source: Source) -> str:
        # Written safe by discovery; made safe again for rows written before it was.
        return source.safe_message(source.last_discovery_error, limit=1000)

    def get_warnings(self, source: Source) -> list[str]:
        return [f"code path {path!r} does not exist on this server" for path in source.missing_code_paths()]

    def validate(self, attrs: dict) -> dict:
        if self.instance is None and not attrs.get("dsn"):
            raise serializers.ValidationError({"dsn": ["This field is required."]})
        # The model's clean() holds the rules, shared with the admin and the command.
        candidate = copy.copy(self.instance) if self.instance else Source()
        for key, value in attrs.items():
            setattr(candidate, key, value)
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return attrs


class SourceFilter(FilterSet):
    class Meta:
        model = Source
        fields = ["name", "engine", "is_active", "last_discovery_status"]


ConnectionTestSerializer = inline_serializer(
    "ConnectionTest",
    fields={
        "ok": serializers.BooleanField(),
        "error_class": serializers.CharField(),
        "message": serializers.CharField(),
        "server_version": serializers.CharField(),
        "latency_ms": serializers.FloatField(),
    },
)


class SourceViewSet(StrictViewMixin, viewsets.ModelViewSet):
    serializer_class = SourceSerializer
    permission_classes = [ReadOrAdmin]
    filterset_class = SourceFilter
    search_fields = ["name"]
    ordering_fields = ["name", "last_discovery_at", "created_at"]
    ordering = ["name"]

    def get_queryset(self):
        # _default_manager: `Source.objects` may be shadowed by a reverse relation name.
        return Source._default_manager.all()

    @extend_schema(request=None, responses=ConnectionTestSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Open a connection with the short timeout. Unreachable is a normal 200, ok=false."""
        source = self.get_object()
        result = source.test_connection()
        logger.info(
            "connection test of source %s: %s %s",
            source.name,
            "ok" if result.ok else "failed",
            result.error_class or result.server_version,
        )
        return Response(asdict(result))
