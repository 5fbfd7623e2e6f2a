"""`/api/v1/ops/source-registry`: the registry list, object detail, and override PATCH."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from ledger.auth import ReadOnlyOrStaff
from ledger.models import ApiToken
from registry.filters import RegistryObjectFilter
from registry.models import Dependency, RegistryObject
from registry.overrides import apply_overrides
from registry.serializers_objects import (
    OverridesSerializer,
    RegistryObjectDetailSerializer,
    RegistryObjectRowSerializer,
)


def actor_name(request: Request) -> str:
    """Who the audit names: the user, and the token when one was used."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is None:
        return ""
    if token.user_id:
        return f"{request.user.get_username()} (token:{token.name})"
    return f"token:{token.name}"


@extend_schema_view(
    list=extend_schema(summary="Source registry (paginated, filterable)", tags=["registry"]),
    retrieve=extend_schema(
        summary="One registry object with columns, lineage, usages, provenance and audit",
        tags=["registry"],
    ),
)
class SourceRegistryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ReadOnlyOrStaff]
    filterset_class = RegistryObjectFilter
    search_fields = ["schema_name", "object_name", "description", "db_comment"]
    ordering_fields = [
        "id",
        "source__name",
        "schema_name",
        "object_name",
        "object_type",
        "layer",
        "role",
        "criticality",
        "should_monitor",
        "estimated_rows",
        "size_bytes",
        "last_verified_at",
        "updated_at",
    ]
    ordering = ["source__name", "schema_name", "object_name"]

    def get_queryset(self) -> QuerySet[RegistryObject]:
        queryset = RegistryObject.objects.select_related("source").prefetch_related(
            Prefetch("upstream_edges", queryset=Dependency.objects.select_related("upstream"))
        )
        if self.action == "list":
            return queryset
        return queryset.prefetch_related(
            Prefetch("downstream_edges", queryset=Dependency.objects.select_related("downstream")),
            "columns",
            "code_usages",
        )

    def get_serializer_class(self):
        return RegistryObjectRowSerializer if self.action == "list" else RegistryObjectDetailSerializer

    @extend_schema(
        summary="Change overrides (staff only; audited)",
        request=OverridesSerializer,
        responses=RegistryObjectDetailSerializer,
        tags=["registry"],
    )
    def partial_update(self, request: Request, pk=None) -> Response:
        obj = self.get_object()
        overrides = OverridesSerializer(data=request.data, partial=True)
        overrides.is_valid(raise_exception=True)
        apply_overrides(
            obj, overrides.validated_data, user=request.user, actor_name=actor_name(request), via="api"
        )
        # Read back through the detail queryset so the response shows the new audit rows.
        return Response(RegistryObjectDetailSerializer(self.get_queryset().get(pk=obj.pk)).data)
