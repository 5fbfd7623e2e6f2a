"""Read-only admin of the evaluation history: snapshots, check results, violations.

Append-only history: nothing is edited here, and the big lists skip COUNT(*)
(`show_full_result_count = False`) and the paginator's count query.
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.utils.functional import cached_property

from checks.models import CheckRun, Evaluation, Violation


class CappedCountPaginator(Paginator):
    """Violations grow with every evaluation: count at most 10,001 rows (a LIMIT in a
    subquery) instead of the whole table."""

    CAP = 10_001

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class CheckRunInline(admin.TabularInline):
    model = CheckRun
    fields = ["check_key", "severity", "status", "offending_count", "message", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = [
        "evaluated_at",
        "global_status",
        "health_score",
        "band",
        "violation_count",
        "trigger",
        "duration_ms",
    ]
    list_filter = ["global_status", "band", "trigger"]
    date_hierarchy = "evaluated_at"
    inlines = [CheckRunInline]
    show_full_result_count = False


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = ["check_key", "status", "severity", "offending_count", "evaluated_at"]
    list_filter = ["status", "severity", "check_key"]
    list_select_related = ["evaluation"]
    show_full_result_count = False


@admin.register(Violation)
class ViolationAdmin(ReadOnlyAdmin):
    list_display = ["check_key", "level", "subject", "subject_type", "evaluation"]
    list_filter = ["level", "check_key", "subject_type"]
    search_fields = ["subject"]
    list_select_related = ["evaluation", "object"]
    raw_id_fields = ["evaluation", "check_run", "object"]
    show_full_result_count = False
    paginator = CappedCountPaginator


# The alerting admin; the data checks' admin, and their inline on the registry object page.
from checks.alerts import admin as alerts_admin  # noqa: E402, F401
from checks.datachecks import admin as datachecks_admin  # noqa: E402, F401
