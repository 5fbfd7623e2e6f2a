"""The admin of alerting: rules, channels, incidents (with acknowledge and resolve
actions), silences, maintenance windows; the outbox and delivery attempts read-only.

A channel's target is a secret: the change form never renders it (an empty field keeps
the stored one) and every list shows the masked form.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from checks.alerts.models import (
    AlertRule,
    Channel,
    Delivery,
    Incident,
    IncidentEvent,
    MaintenanceWindow,
    Notification,
    Silence,
)
from common.paginators import CappedCountPaginator


class ChannelForm(forms.ModelForm):
    target = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text="E-mail addresses (comma-separated) or a webhook URL. Never shown again: "
        "leave empty to keep the stored one.",
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Webhooks: HMAC-SHA256 key of the X-OpsHealth-Signature header. Empty keeps the stored one.",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "target", "secret", "enabled"]

    def clean(self):
        data = super().clean()
        pk = self.instance.pk
        self.stored = Channel.objects.values("target", "secret").get(pk=pk) if pk else None
        if not data.get("target"):
            if self.stored is None:
                self.add_error("target", "A new channel needs a target.")
            else:
                data["target"] = self.stored["target"]
        if not data.get("secret") and self.stored is not None:
            data["secret"] = self.stored["secret"]
        return data

    def save(self, commit=True):
        if self.stored is not None:  # a changed target clears the broken mark
            target, self.instance.target = self.instance.target, self.stored["target"]
            self.instance.set_target(target)
        return super().save(commit)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "target_display", "enabled", "broken_at", "broken_reason"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name"]
    readonly_fields = ["target_display", "broken_at", "broken_reason", "created_at"]
    actions = ["send_test"]

    @admin.action(description="Send a test message")
    def send_test(self, request, queryset):
        for channel in queryset:
            delivery = channel.send_test(by=request.user.get_username())
            level = messages.SUCCESS if delivery.outcome == "sent" else messages.ERROR
            self.message_user(request, f"{channel.name}: {delivery.outcome} {delivery.error}", level)


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "severity", "enabled", "repeat_interval", "send_resolved"]
    list_filter = ["kind", "severity", "enabled"]
    search_fields = ["name", "scope_pipeline", "scope_object", "scope_check_key"]
    filter_horizontal = ["channels"]
    fieldsets = [
        (None, {"fields": ["name", "kind", "params", "severity", "enabled", "channels"]}),
        (
            "Scope (empty = any; set fields narrow)",
            {"fields": ["scope_client", "scope_pipeline", "scope_source", "scope_object", "scope_check_key"]},
        ),
        ("Notifying", {"fields": ["repeat_interval", "send_resolved", "resolve_after"]}),
    ]


class EventInline(admin.TabularInline):
    model = IncidentEvent

    fields = ["at", "kind", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class NotificationInline(admin.TabularInline):
    model = Notification
    fields = ["created_at", "kind", "channel", "status", "attempts", "sent_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["id", "rule", "subject", "state", "severity", "quiet_reason", "opened_at", "resolved_at"]
    list_filter = ["state", "severity", "quiet_reason", "rule"]
    search_fields = ["subject"]
    list_select_related = ["rule"]
    raw_id_fields = ["object", "suppressed_by", "acknowledged_by"]
    readonly_fields = [f.name for f in Incident._meta.fields if f.name not in ("ack_note",)]
    inlines = [EventInline, NotificationInline]
    actions = ["acknowledge", "resolve"]
    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def _act(self, request, queryset, verb: str) -> None:
        done = 0
        for incident in queryset.exclude(state=Incident.RESOLVED):
            name = request.user.get_username()
            if verb == "acknowledge":
                incident.acknowledge(by=name, user=request.user)
            else:
                incident.resolve(by=name)
            done += 1
        self.message_user(request, f"{done} incident(s): {verb}d.")

    @admin.action(description="Acknowledge")
    def acknowledge(self, request, queryset):
        self._act(request, queryset, "acknowledge")

    @admin.action(description="Resolve")
    def resolve(self, request, queryset):
        self._act(request, queryset, "resolve")


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    paginator = CappedCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "idempotency_key",
        "channel",
        "kind",
        "status",
        "attempts",
        "due_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "kind", "channel"]
    list_select_related = ["channel"]
    raw_id_fields = ["incident"]
    search_fields = ["idempotency_key"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["attempted_at", "channel", "notification", "attempt", "outcome", "error", "duration_ms"]
    list_filter = ["outcome", "is_test", "channel"]
    list_select_related = ["channel", "notification"]
    raw_id_fields = ["notification"]


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = [
        "comment",
        "starts_at",
        "ends_at",
        "rule",
        "scope_pipeline",
        "scope_object",
        "created_by_name",
    ]
    list_filter = ["rule"]
    readonly_fields = ["created_by_name", "created_at"]
    exclude = ["created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.created_by_name = request.user.get_username()
        super().save_model(request, obj, form, change)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(admin.ModelAdmin):
    list_display = ["name", "weekdays", "start_time", "duration", "timezone", "enabled", "rule"]
    list_filter = ["enabled"]
