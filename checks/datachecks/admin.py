"""Data checks in the admin: their own list, and an inline on the registry object's page.

A check defined in a file (`opshealth.yml`) is read-only here: the file is its source of
truth, and the next load would undo an edit. Validation is the model's `clean()`, as for
the API and the YAML loader.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from checks.datachecks.models import DataCheck, DefinitionFile
from registry.admin.objects import RegistryObjectAdmin

EDITABLE = ["object", "name", "kind", "params", "severity", "where", "schedule", "enabled", "samples"]
SHOWN = ["origin", "file_path", "definition_hash", "next_run_at", "latest_result", "created_at", "updated_at"]


def latest_result(check: DataCheck) -> str:
    result = check.last_result
    if result is None:
        return "never run"
    url = reverse("admin:ledger_checkresult_change", args=[result.pk])
    return format_html('<a href="{}">{}</a> {}: {}', url, result.status, result.checked_at, result.message)


@admin.register(DataCheck)
class DataCheckAdmin(admin.ModelAdmin):
    list_display = ["name", "object", "kind", "severity", "enabled", "origin", "status", "next_run_at"]
    list_filter = ["kind", "severity", "enabled", "origin", "last_result__status", "object__source"]
    search_fields = ["name", "object__schema_name", "object__object_name"]
    list_select_related = ["object__source", "last_result"]
    raw_id_fields = ["object"]
    readonly_fields = SHOWN

    @admin.display(description="latest result")
    def latest_result(self, check: DataCheck) -> str:
        return latest_result(check)

    @admin.display(description="status")
    def status(self, check: DataCheck) -> str:
        return check.status or "—"

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_from_file:
            return EDITABLE + SHOWN
        return SHOWN

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_from_file:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(DefinitionFile)
class DefinitionFileAdmin(admin.ModelAdmin):
    """The last load of each opshealth.yml, read-only: a file is changed in its repository."""

    list_display = ["path", "source_name", "status", "loaded_at"]
    list_filter = ["status", "source_name"]
    search_fields = ["path"]
    readonly_fields = ["path", "source_name", "status", "detail", "loaded_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DataCheckInline(admin.TabularInline):
    """The object's checks with their latest result; edited on the check's own page."""

    model = DataCheck
    fields = ["name", "kind", "params", "severity", "enabled", "origin", "latest_result"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description="latest result")
    def latest_result(self, check: DataCheck) -> str:
        return latest_result(check)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("last_result")


# The registry object page is the registry's; checks sits above it and adds its inline
# (the registry may not import checks).
RegistryObjectAdmin.inlines = [*RegistryObjectAdmin.inlines, DataCheckInline]
