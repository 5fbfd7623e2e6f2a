"""Admin for the ledger: history is read-only, clients and pipelines are editable.

Runs, run assets, check results and lineage events are append-only and can be large.
Their changelists never COUNT(*) (healthchecks' PingsAdmin and django-q2's TaskAdmin
do the same): the paginator asks the planner for an estimate, the full count is off,
and there is no date hierarchy (it would scan the table for its distinct dates);
a "started" filter with fixed ranges takes its place and uses the time indexes.
"""

from __future__ import annotations

import json
from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count
from django.utils import timezone
from django.utils.functional import cached_property

from ledger import bounds, schedule
from ledger.models import (
    CheckResult,
    Client,
    LineageEvent,
    Pipeline,
    Run,
    RunAsset,
    Watermark,
    WatermarkReset,
)


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is the planner's row estimate for the page's query.

    Exact enough for page links, and costs a plan instead of a scan of every matching row.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        sql, params = queryset.query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])


class ReadOnlyHistoryAdmin(admin.ModelAdmin):
    """The ledger is written by ingestion only; the admin shows it."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RecentFilter(admin.SimpleListFilter):
    """Fixed time ranges over an indexed timestamp column (instead of a date hierarchy)."""

    title = "time"
    parameter_name = "since"
    field = "started_at"
    RANGES = {
        "1h": timedelta(hours=1),
        "24h": timedelta(days=1),
        "7d": timedelta(days=7),
        "30d": timedelta(days=30),
    }

    def lookups(self, request, model_admin):
        return [(key, f"last {key}") for key in self.RANGES]

    def queryset(self, request, queryset):
        if self.value() in self.RANGES:
            return queryset.filter(**{f"{self.field}__gte": timezone.now() - self.RANGES[self.value()]})
        return queryset


class StartedFilter(RecentFilter):
    title = "started"


class CheckedFilter(RecentFilter):
    title = "checked"
    field = "checked_at"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RunAssetInline(ReadOnlyInline):
    model = RunAsset
    fields = [
        "asset_key",
        "partition_key",
        "status",
        "rows_inserted",
        "rows_updated",
        "bytes_written",
        "ended_at",
    ]


class CheckResultInline(ReadOnlyInline):
    model = CheckResult
    fields = ["check_name", "asset_key", "severity", "status", "message", "checked_at"]


@admin.register(Run)
class RunAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "external_run_id",
        "pipeline",
        "status",
        "started_at",
        "duration_ms",
        "triggered_by",
        "error_type",
    ]
    list_filter = ["status", StartedFilter, "triggered_by", "pipeline__client"]
    list_select_related = ["pipeline"]
    search_fields = ["=external_run_id", "=run_id", "pipeline__name", "error_type"]
    ordering = ["-started_at", "-id"]
    inlines = [RunAssetInline, CheckResultInline]


@admin.register(RunAsset)
class RunAssetAdmin(ReadOnlyHistoryAdmin):
    list_display = [
        "asset_key",
        "partition_key",
        "status",
        "run",
        "rows_inserted",
        "bytes_written",
        "ended_at",
    ]
    list_filter = ["status", "kind", "direction"]
    list_select_related = ["run__pipeline"]
    search_fields = ["=normalized_key", "asset_key"]
    ordering = ["-id"]


class WatermarkResetForm(forms.ModelForm):
    """A watermark's change page resets it (`Watermark.reset`, audited)."""

    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Kept in the audit trail."
    )

    class Meta:
        model = Watermark
        fields = ["watermark_ts"]

    def clean_watermark_ts(self):
        value = self.cleaned_data["watermark_ts"]
        if problem := bounds.time_problem(value):
            raise forms.ValidationError(problem)
        return value


class WatermarkResetInline(admin.TabularInline):
    model = WatermarkReset
    fields = ["reset_at", "old_ts", "new_ts", "reset_by_name", "reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Watermark)
class WatermarkAdmin(ReadOnlyHistoryAdmin):
    """Read-only, except the reset of one watermark from its change page."""

    form = WatermarkResetForm
    fields = ["asset_key", "scope_key", "watermark_ts", "reason", "updated_at", "last_run"]
    readonly_fields = ["asset_key", "scope_key", "updated_at", "last_run"]
    inlines = [WatermarkResetInline]
    list_display = ["asset_key", "scope_key", "watermark_ts", "updated_at", "last_run"]
    list_select_related = ["last_run__pipeline"]
    search_fields = ["asset_key", "scope_key"]
    ordering = ["watermark_ts"]
    # Watermarks are one row per (asset, scope): small, so the date hierarchy is cheap.
    date_hierarchy = "watermark_ts"

    def has_change_permission(self, request, obj=None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def save_model(self, request, obj, form, change) -> None:
        obj.reset(form.cleaned_data["watermark_ts"], user=request.user, reason=form.cleaned_data["reason"])


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyHistoryAdmin):
    list_display = ["check_name", "asset_key", "partition_key", "severity", "status", "checked_at", "run"]
    list_filter = ["status", "severity", CheckedFilter]
    list_select_related = ["run__pipeline"]
    search_fields = ["=normalized_key", "check_name", "asset_key"]
    ordering = ["-checked_at", "-id"]


@admin.register(LineageEvent)
class LineageEventAdmin(ReadOnlyHistoryAdmin):
    list_display = ["event_time", "event_type", "job_namespace", "job_name", "run_external_id", "received_at"]
    list_filter = ["event_type"]
    search_fields = ["=run_external_id", "job_name"]
    ordering = ["-event_time", "-id"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline_count", "created_at"]
    search_fields = ["name", "description"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(pipeline_count=Count("pipelines"))

    @admin.display(ordering="pipeline_count")
    def pipeline_count(self, client: Client) -> int:
        return client.pipeline_count


class PipelineForm(forms.ModelForm):
    class Meta:
        model = Pipeline
        fields = [
            "namespace",
            "name",
            "client",
            "owner",
            "description",
            "schedule_cron",
            "schedule_interval",
            "schedule_timezone",
            "grace",
            "max_duration",
        ]

    def clean_schedule_cron(self) -> str:
        value = self.cleaned_data["schedule_cron"].strip()
        if error := schedule.validate_cron(value):
            raise forms.ValidationError(error)
        return value

    def clean_schedule_timezone(self) -> str:
        value = self.cleaned_data["schedule_timezone"]
        if error := schedule.validate_timezone(value):
            raise forms.ValidationError(error)
        return value

    def clean_schedule_interval(self):
        return self._period("schedule_interval")

    def clean_grace(self):
        return self._period("grace", allow_zero=True)

    def clean_max_duration(self):
        return self._period("max_duration")

    def _period(self, name: str, allow_zero: bool = False):
        value = self.cleaned_data[name]
        if error := schedule.validate_period(value, allow_zero=allow_zero):
            raise forms.ValidationError(error)
        return value


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    form = PipelineForm
    list_display = [
        "__str__",
        "client",
        "owner",
        "schedule_cron",
        "schedule_interval",
        "grace",
        "max_duration",
    ]
    list_filter = ["client"]
    list_select_related = ["client"]
    search_fields = ["namespace", "name", "owner"]
    fieldsets = [
        (None, {"fields": ["namespace", "name", "client", "owner", "description"]}),
        (
            "Expected schedule",
            {
                "fields": [
                    "schedule_cron",
                    "schedule_interval",
                    "schedule_timezone",
                    "grace",
                    "max_duration",
                ],
                "description": "A cron expression (in the time zone) or a fixed interval; a run is late "
                "once an expected start plus grace has passed without one.",
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Events find their pipeline by namespace + name: renaming would split its history.
        return ["namespace", "name"] if obj else []
