"""The registry object admin: the product's main screen for people.

Discovered fields are read-only; overrides are editable on the object page, inline in
the list and through bulk actions, and every change goes through `apply_overrides`, so
it is audited with the user.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ledger.models import CheckResult, RunAsset
from registry.filters import has_override_q
from registry.models import OVERRIDE_FIELDS, AssetLink, RegistryObject
from registry.overrides import CLEARED_VALUES, apply_overrides, mark_reviewed

# Rows each section of the object page shows, newest first where it is a history.
SECTION_LIMIT = 50
LEDGER_LIMIT = 20


class HasOverrideFilter(admin.SimpleListFilter):
    title = "has override"
    parameter_name = "has_override"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(has_override_q())
        if self.value() == "no":
            return queryset.exclude(has_override_q())
        return queryset


def object_url(obj: RegistryObject) -> str:
    return reverse("admin:registry_registryobject_change", args=[obj.pk])


def provenance_rows(obj: RegistryObject) -> list[dict[str, Any]]:
    """One row per inferred attribute: its value, the rule that set it, the evidence.

    Discovery writes {"attribute": {"value": …, "rule": …, "evidence": … (text or list)}};
    any other shape is shown as it is rather than hidden.
    """
    rows = []
    for attribute, detail in sorted((obj.provenance or {}).items()):
        if not isinstance(detail, dict):
            detail = {"evidence": detail}
        evidence = detail.get("evidence", "")
        if isinstance(evidence, list | tuple):
            evidence = "; ".join(str(item) for item in evidence)
        rows.append(
            {
                "attribute": attribute,
                "value": detail.get("value", getattr(obj, attribute, "")),
                "rule": detail.get("rule", ""),
                "evidence": evidence,
            }
        )
    return rows


def object_sections(obj: RegistryObject) -> dict[str, Any]:
    """What the object page shows below its fields; a fixed number of queries."""
    keys = list(AssetLink.objects.filter(object=obj).values_list("normalized_key", flat=True))
    return {
        "columns": list(obj.columns.all()),
        # (object, edge): the edge's provenance (catalog | parsed) is shown beside the object.
        "upstream": [
            (e.upstream, e) for e in obj.upstream_edges.select_related("upstream").order_by("upstream")
        ],
        "downstream": [
            (e.downstream, e)
            for e in obj.downstream_edges.select_related("downstream").order_by("downstream")
        ],
        "usages": list(obj.code_usages.all()[:SECTION_LIMIT]),
        "column_usages": obj.column_usages(),
        "provenance": provenance_rows(obj),
        "audit": list(obj.audit.select_related("changed_by")[:SECTION_LIMIT]),
        "schema_changes": list(obj.schema_changes.all()[:SECTION_LIMIT]),
        "asset_keys": keys,
        "run_assets": list(
            RunAsset.objects.filter(normalized_key__in=keys)
            .select_related("run__pipeline")
            .order_by("-run__started_at", "-id")[:LEDGER_LIMIT]
        )
        if keys
        else [],
        "check_results": list(
            CheckResult.objects.filter(normalized_key__in=keys).order_by("-checked_at")[:LEDGER_LIMIT]
        )
        if keys
        else [],
    }


@admin.register(RegistryObject)
class RegistryObjectAdmin(admin.ModelAdmin):
    change_form_template = "admin/registry/registryobject/change_form.html"
    list_display = [
        "qualified_name",
        "object_type",
        "layer",
        "role",
        "criticality",
        "should_monitor",
        "exists_in_db",
        "health_enabled",
        "is_expected",
        "is_critical",
        "overrides",
        "needs_review",
        "last_verified_at",
    ]
    list_display_links = ["qualified_name"]
    list_editable = ["health_enabled", "is_expected", "is_critical"]
    list_filter = [
        "source",
        "schema_name",
        "object_type",
        "layer",
        "role",
        "criticality",
        "should_monitor",
        "exists_in_db",
        "needs_review",
        HasOverrideFilter,
    ]
    search_fields = ["schema_name", "object_name", "description", "db_comment"]
    list_select_related = ["source"]
    list_per_page = 100
    # A big registry must not pay an unfiltered COUNT(*) on every page view.
    show_full_result_count = False
    ordering = ["source__name", "schema_name", "object_name"]
    actions = ["mark_expected", "mark_critical", "enable_health", "clear_overrides", "mark_reviewed"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "source",
                    "schema_name",
                    "object_name",
                    "object_type",
                    "is_partition",
                    "partition_of",
                ]
            },
        ),
        (
            "Classification (inferred)",
            {"fields": ["layer", "role", "criticality", "should_monitor", "usage_context"]},
        ),
        (
            "Overrides (audited)",
            {
                "fields": [
                    "health_enabled",
                    "is_expected",
                    "is_critical",
                    "refresh_schedule",
                    "max_staleness",
                    "description",
                    "notes",
                ]
            },
        ),
        ("Review", {"fields": ["needs_review", "review_reason"]}),
        (
            "Discovered",
            {
                "fields": [
                    "exists_in_db",
                    "db_comment",
                    "owner",
                    "inferred_refresh_schedule",
                    "estimated_rows",
                    "size_bytes",
                    "is_populated",
                    "has_unique_index",
                    "last_analyze_at",
                    "last_vacuum_at",
                ]
            },
        ),
        (
            "Timestamps",
            {"fields": ["discovered_at", "last_verified_at", "last_seen_at", "created_at", "updated_at"]},
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Everything discovery owns is read-only: only overrides are a person's to edit.
        return [
            f.name
            for f in self.model._meta.concrete_fields
            if f.name not in OVERRIDE_FIELDS and f.name != "id"
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # objects come from discovery

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a vanished object is flagged (exists_in_db), never deleted

    @admin.display(description="qualified name", ordering="schema_name")
    def qualified_name(self, obj: RegistryObject) -> str:
        return obj.qualified_name

    @admin.display(description="overrides")
    def overrides(self, obj: RegistryObject) -> str:
        return ", ".join(name for name in OVERRIDE_FIELDS if getattr(obj, name) not in (None, "")) or "—"

    def save_model(self, request: HttpRequest, obj: RegistryObject, form, change: bool) -> None:
        """Object page and list_editable both land here: write through the audit."""
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in OVERRIDE_FIELDS}
        apply_overrides(obj, changes, user=request.user, via="admin")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), **(object_sections(obj) if obj else {})}
        return super().change_view(request, object_id, form_url, extra_context)

    def _bulk(self, request: HttpRequest, queryset: QuerySet, changes: dict, done: str) -> None:
        audits = apply_overrides(queryset, changes, user=request.user, via="admin")
        changed = len({audit.object_id for audit in audits})
        self.message_user(
            request,
            f"{done}: {changed} object(s) changed, {len(audits)} change(s) audited.",
            messages.SUCCESS,
        )

    @admin.action(description="Mark selected objects as expected", permissions=["change"])
    def mark_expected(self, request, queryset):
        self._bulk(request, queryset, {"is_expected": True}, "Marked expected")

    @admin.action(description="Mark selected objects as critical", permissions=["change"])
    def mark_critical(self, request, queryset):
        self._bulk(request, queryset, {"is_critical": True}, "Marked critical")

    @admin.action(description="Enable health monitoring of selected objects", permissions=["change"])
    def enable_health(self, request, queryset):
        self._bulk(request, queryset, {"health_enabled": True}, "Enabled health")

    @admin.action(description="Clear overrides of selected objects (notes are kept)", permissions=["change"])
    def clear_overrides(self, request, queryset):
        self._bulk(request, queryset, dict(CLEARED_VALUES), "Cleared overrides")

    @admin.action(description="Mark selected objects reviewed (keep their overrides)", permissions=["change"])
    def mark_reviewed(self, request, queryset):
        audits = mark_reviewed(queryset, user=request.user, via="admin")
        self.message_user(request, f"Marked reviewed: {len(audits)} object(s).", messages.SUCCESS)


def object_link(obj: RegistryObject | None) -> str:
    if obj is None:
        return "—"
    return format_html('<a href="{}">{}</a>', object_url(obj), obj.qualified_name)
