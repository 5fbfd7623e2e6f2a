"""`/api/v1/resolvers`: resolver rules (CRUD for staff, reads for any authenticated
caller) and `POST /api/v1/resolvers/simulate`, which shows where names would land."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import StrictViewMixin
from common.auth import CanRead, ReadOrAdmin
from registry.models import ResolverRule
from registry.resolver import Resolver
from registry.serializers_resolvers import (
    ResolverRuleSerializer,
    SimulateRequestSerializer,
    SimulateResponseSerializer,
)


@extend_schema_view(
    list=extend_schema(summary="Resolver rules, in the order they are tried", tags=["resolvers"]),
    retrieve=extend_schema(summary="One resolver rule", tags=["resolvers"]),
    create=extend_schema(summary="Add a resolver rule (staff)", tags=["resolvers"]),
    update=extend_schema(summary="Replace a resolver rule (staff)", tags=["resolvers"]),
    partial_update=extend_schema(summary="Change a resolver rule (staff)", tags=["resolvers"]),
    destroy=extend_schema(summary="Delete a resolver rule (staff)", tags=["resolvers"]),
)
class ResolverRuleViewSet(StrictViewMixin, viewsets.ModelViewSet):
    queryset = ResolverRule.objects.select_related("source")
    serializer_class = ResolverRuleSerializer
    permission_classes = [ReadOrAdmin]
    filterset_fields = ["kind", "is_active"]
    search_fields = ["match", "target", "description"]
    ordering_fields = ["priority", "kind", "id", "created_at"]
    ordering = ["priority", "kind", "id"]

    @extend_schema(
        summary="Resolve names with the current rules and registry, writing nothing",
        request=SimulateRequestSerializer,
        responses=SimulateResponseSerializer,
        tags=["resolvers"],
    )
    @action(
        detail=False,
        methods=["post"],
        permission_classes=[CanRead],
        filter_backends=[],
        pagination_class=None,
    )
    def simulate(self, request: Request) -> Response:
        body = SimulateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        source = body.validated_data.get("source")
        resolver = Resolver(source)
        search_path = body.validated_data.get("search_path") or resolver.search_path
        resolutions = resolver.resolve_many(body.validated_data["names"], search_path=search_path)
        return Response(
            {
                "source": source.name if source else None,
                "search_path": search_path,
                "results": [asdict(resolution) for resolution in resolutions],
            }
        )
