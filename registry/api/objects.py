"""`/api/v1/ops/source-registry`: the registry list, object detail, and override PATCH."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from common.api import StrictViewMixin, cached_json
from common.auth import ReadOrAdmin
from common.filters import LimitOffsetPagination
from ledger.models import ApiToken
from registry.filters import RegistryObjectFilter
from registry.models import Dependency, RegistryObject, Source
from registry.overrides import apply_overrides
from registry.queries import registry_state
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


# Columns a list row does not show: not fetched nor parsed (a third of the page's
# database-to-Python time went to them; the source's DSN and arrays were loaded per row).
LIST_DEFERRED = (
    "provenance",
    "owner",
    "partition_of",
    "has_unique_index",
    "last_analyze_at",
    "last_vacuum_at",
    "columns_hash",
    *(
        f"source__{name}"
        for name in (
            "engine",
            "dsn",
            "include_schemas",
            "exclude_schemas",
            "code_paths",
            "search_path",
            "discovered_search_path",
            "is_active",
            "last_discovery_at",
            "last_discovery_status",
            "last_discovery_error",
            "server_version",
            "created_at",
            "updated_at",
        )
    ),
)


# The list's default order. Unique per row: the natural key (source, schema, name).
REGISTRY_ORDERING = ("source__name", "schema_name", "object_name")


class RegistryPagination(LimitOffsetPagination):
    """LimitOffsetPagination whose default-ordered pages come from the natural-key index.

    `ORDER BY source.name, schema_name, object_name LIMIT 50` sorts every (filtered) row
    of the join: 10,000 objects cost ~18 ms of PostgreSQL CPU per page, the bulk of the
    request. Ordered by source name, a page is a run of consecutive rows of one source
    (two at a source boundary), and within a source the unique index
    `registry_object_natural_key (source_id, schema_name, object_name)` yields the rows in
    order, so LIMIT/OFFSET stops after the page. The queries, whatever the registry size:
    1. the count per source (sources in name order; their sum is the page's `count`),
    2. the page's ids: an index scan per source the page spans (one, or more at a source
       boundary), in one UNION ALL statement,
    3. the rows (+ the view's prefetches), put back in the ids' order.
    Any other ordering (`?ordering=`) takes DRF's path unchanged.
    """

    def paginate_queryset(self, queryset, request, view=None):
        if tuple(queryset.query.order_by) != REGISTRY_ORDERING:
            return super().paginate_queryset(queryset, request, view)
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        # Sources sorted by a subquery per group, not a JOIN of every row: half the time.
        source_name = Subquery(Source.objects.filter(pk=OuterRef("source_id")).values("name"))
        per_source = list(
            queryset.order_by().values_list("source_id").annotate(n=Count("pk")).order_by(source_name)
        )
        self.count = sum(n for _, n in per_source)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        if self.count == 0 or self.offset > self.count:
            return []
        ids = self._page_ids(queryset, per_source)
        rows = {obj.pk: obj for obj in queryset.filter(pk__in=ids).order_by()}
        return [rows[pk] for pk in ids if pk in rows]  # a row deleted meanwhile is left out

    def _page_ids(self, queryset: QuerySet, per_source: list[tuple[int, int]]) -> list[int]:
        """The page's ids in list order: one index-ordered slice per source it spans, in one
        UNION ALL; the outer ORDER BY sorts only the page's rows."""
        parts = []
        skip, want = self.offset, self.limit
        for position, (source_id, n) in enumerate(per_source):
            if skip >= n:
                skip -= n
                continue
            in_source = queryset.filter(source_id=source_id).order_by("schema_name", "object_name")
            fields = in_source.annotate(position=Value(position)).values_list(
                "pk", "position", "schema_name", "object_name"
            )
            parts.append(fields[skip : skip + want])
            want -= min(n - skip, want)
            skip = 0
            if want == 0:
                break
        if not parts:  # offset == count
            return []
        if len(parts) > 1:
            parts = [parts[0].union(*parts[1:], all=True).order_by("position", "schema_name", "object_name")]
        return [row[0] for row in parts[0]]


@extend_schema_view(
    list=extend_schema(summary="Source registry (paginated, filterable)", tags=["registry"]),
    retrieve=extend_schema(
        summary="One registry object with columns, lineage, usages, provenance and audit",
        tags=["registry"],
    ),
)
class SourceRegistryViewSet(
    StrictViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [ReadOrAdmin]
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
    ordering = list(REGISTRY_ORDERING)
    pagination_class = RegistryPagination

    def get_queryset(self) -> QuerySet[RegistryObject]:
        queryset = RegistryObject.objects.select_related("source")
        if self.action == "list":
            # A row shows only its upstreams' names: loading whole objects (and the
            # provenance JSON of the rows) doubled the page's database and parsing time.
            upstream_names = Dependency.objects.select_related("upstream").only(
                "downstream_id", "upstream__schema_name", "upstream__object_name"
            )
            return queryset.defer(*LIST_DEFERRED).prefetch_related(
                Prefetch("upstream_edges", queryset=upstream_names)
            )
        return queryset.prefetch_related(
            Prefetch("upstream_edges", queryset=Dependency.objects.select_related("upstream")),
            Prefetch("downstream_edges", queryset=Dependency.objects.select_related("downstream")),
            "columns",
            "code_usages",
        )

    def list(self, request: Request, *args, **kwargs) -> HttpResponse:
        """A page is cached under the registry's state and the full URL (filters, page,
        host of the links): serialized once per change instead of once per request.
        Invalid filters raise before anything is cached."""
        return cached_json(
            self,
            registry_state(),
            lambda: super(SourceRegistryViewSet, self).list(request, *args, **kwargs).data,
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
