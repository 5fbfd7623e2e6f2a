"""Read-only admin of the evaluation history: snapshots, check results, violations.

Append-only history: nothing is edited here, and the big lists skip COUNT(*)
(`show_full_result_count = False`) and the paginator's count query.
"""

from django.contrib import admin, messages

from checks import actions
from checks.models import Action, CheckRun, Evaluation, RetryPolicy, Violation
from common.paginators import CappedCountPaginator
from registry.admin.objects import RegistryObjectAdmin
from registry.admin.sources import SourceAdmin
from registry.models import RegistryObject, Source


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


@admin.register(Action)
class ActionAdmin(ReadOnlyAdmin):
    """The audit of actions: who asked for what, when, and how it ended."""

    list_display = [
        "id",
        "kind",
        "target",
        "state",
        "via",
        "requested_by_name",
        "requested_at",
        "attempt",
        "run",
    ]
    list_filter = ["state", "kind", "via"]
    search_fields = ["target", "requested_by_name"]
    list_select_related = ["run__pipeline"]
    raw_id_fields = ["run", "parent_run", "object", "source", "requested_by"]
    show_full_result_count = False


def queue_actions(modeladmin, request, kind: str, targets: list) -> None:
    """Queue `kind` on each target and say so; the task cluster runs them."""
    queued, in_flight = [], []
    for target in targets:
        try:
            action, created = actions.request(
                kind, target, user=request.user, by=str(request.user), via=Action.ADMIN
            )
        except actions.ActionError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
            continue
        (queued if created else in_flight).append(f"#{action.pk} {action.target}")
    if queued:
        modeladmin.message_user(request, f"queued {kind}: {', '.join(queued)}", messages.SUCCESS)
    if in_flight:
        modeladmin.message_user(request, f"already queued or running: {', '.join(in_flight)}", messages.INFO)


class SourceActionsAdmin(SourceAdmin):
    """The registry's source admin, with the actions of the `checks` layer above it."""

    actions = [*SourceAdmin.actions, "discover_now"]

    @admin.action(description="Discover now (queued for the task cluster)")
    def discover_now(self, request, queryset) -> None:
        queue_actions(self, request, "discover", [s.pk for s in queryset])


class RetryPolicyInline(admin.StackedInline):
    model = RetryPolicy
    fields = ["max_attempts", "cooldown"]
    extra = 0
    max_num = 1
    verbose_name = "retry policy override (empty: the default from settings)"


class RegistryObjectActionsAdmin(RegistryObjectAdmin):
    """The registry's object admin, with `refresh now` and the retry policy override."""

    actions = [*RegistryObjectAdmin.actions, "refresh_now"]
    inlines = [*RegistryObjectAdmin.inlines, RetryPolicyInline]

    @admin.action(description="Refresh now (materialized views; queued for the task cluster)")
    def refresh_now(self, request, queryset) -> None:
        queue_actions(self, request, "refresh", [o.pk for o in queryset])


admin.site.unregister(Source)
admin.site.register(Source, SourceActionsAdmin)
admin.site.unregister(RegistryObject)
admin.site.register(RegistryObject, RegistryObjectActionsAdmin)
