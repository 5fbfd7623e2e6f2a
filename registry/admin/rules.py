"""Admins of the rules (inference and resolver rules are data, edited here), of the
asset links (read-only: derived by the resolver) and of the override audit (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from registry.admin.objects import object_link
from registry.models import (
    CRITICALITIES,
    LAYERS,
    ROLES,
    AssetLink,
    InferenceRule,
    OverrideAudit,
    ResolverRule,
)
from registry.patterns import pattern_problem
from registry.serializers_resolvers import rule_errors

# The values an inference rule may give each attribute.
ATTRIBUTE_VALUES = {
    "layer": [value for value, _ in LAYERS],
    "role": [value for value, _ in ROLES],
    "criticality": [value for value, _ in CRITICALITIES],
}


class InferenceRuleForm(forms.ModelForm):
    class Meta:
        model = InferenceRule
        fields = [
            "attribute",
            "value",
            "priority",
            "schema_pattern",
            "name_pattern",
            "object_types",
            "when_layers",
            "evidence",
            "description",
            "is_active",
        ]

    def _regex(self, name: str) -> str:
        value = self.cleaned_data.get(name, "")
        problem = value and pattern_problem(value)
        if problem:
            raise forms.ValidationError(problem)
        return value

    def clean_schema_pattern(self) -> str:
        return self._regex("schema_pattern")

    def clean_name_pattern(self) -> str:
        return self._regex("name_pattern")

    def clean(self):
        cleaned = super().clean()
        allowed = ATTRIBUTE_VALUES.get(cleaned.get("attribute", ""), [])
        if allowed and cleaned.get("value") not in allowed:
            self.add_error("value", f"{cleaned['attribute']} takes one of: {', '.join(allowed)}.")
        return cleaned


@admin.register(InferenceRule)
class InferenceRuleAdmin(admin.ModelAdmin):
    form = InferenceRuleForm
    list_display = [
        "attribute",
        "value",
        "priority",
        "schema_pattern",
        "name_pattern",
        "object_types",
        "when_layers",
        "evidence",
        "is_active",
        "description",
    ]
    list_display_links = ["attribute", "value"]
    list_editable = ["priority", "is_active"]
    list_filter = ["attribute", "evidence", "is_active"]
    search_fields = ["description", "schema_pattern", "name_pattern", "value"]
    ordering = ["attribute", "priority", "id"]


class ResolverRuleForm(forms.ModelForm):
    class Meta:
        model = ResolverRule
        fields = ["source", "kind", "priority", "match", "target", "options", "description", "is_active"]

    def clean(self):
        cleaned = super().clean()
        errors = rule_errors(
            cleaned.get("kind", ""),
            cleaned.get("match", ""),
            cleaned.get("target", ""),
            cleaned.get("options", {}),
        )
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field, message)
        return cleaned


@admin.register(ResolverRule)
class ResolverRuleAdmin(admin.ModelAdmin):
    form = ResolverRuleForm
    list_display = ["__str__", "kind", "priority", "match", "target", "source", "is_active"]
    list_editable = ["priority", "is_active"]
    list_filter = ["kind", "is_active", "source"]
    list_select_related = ["source"]
    search_fields = ["match", "target", "description"]
    ordering = ["priority", "kind", "id"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by OpsHealth itself: people look, never edit."""

    # Append-only tables grow without bound: no COUNT(*) of the whole table per page.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ResolvedFilter(admin.SimpleListFilter):
    title = "resolved"
    parameter_name = "resolved"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(object__isnull=self.value() == "no")
        return queryset


@admin.register(AssetLink)
class AssetLinkAdmin(ReadOnlyAdmin):
    list_display = ["normalized_key", "registry_object", "resolver_rule", "resolved_at"]
    list_filter = [ResolvedFilter]
    list_select_related = ["object"]
    search_fields = ["normalized_key"]

    @admin.display(description="object", ordering="object__schema_name")
    def registry_object(self, link: AssetLink) -> str:
        return object_link(link.object)


@admin.register(OverrideAudit)
class OverrideAuditAdmin(ReadOnlyAdmin):
    list_display = [
        "changed_at",
        "registry_object",
        "field",
        "old_value",
        "new_value",
        "changed_by_name",
        "via",
    ]
    list_filter = ["via", "field"]
    list_select_related = ["object"]
    search_fields = ["object__schema_name", "object__object_name", "changed_by_name"]
    date_hierarchy = "changed_at"

    @admin.display(description="object", ordering="object__schema_name")
    def registry_object(self, audit: OverrideAudit) -> str:
        return object_link(audit.object)
