"""Admin for sources. The DSN is a password input that is never rendered back:
leaving it blank keeps the stored one; the list and the page show it masked."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from registry.models import Source


class SourceForm(forms.ModelForm):
    dsn = forms.CharField(
        label="DSN",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "size": 80}),
        help_text="postgresql://user:password@host:port/db, key=value pairs, or env:VARIABLE. "
        "Leave blank to keep the stored DSN.",
    )

    class Meta:
        model = Source
        fields = [
            "name",
            "engine",
            "dsn",
            "include_schemas",
            "exclude_schemas",
            "code_paths",
            "search_path",
            "is_active",
        ]

    def clean_dsn(self) -> str:
        dsn = self.cleaned_data.get("dsn", "")
        if dsn:
            return dsn
        if self.instance.pk:
            return self.instance.dsn
        raise forms.ValidationError("A DSN is required.")


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
    list_display = [
        "name",
        "engine",
        "dsn_display",
        "is_active",
        "last_discovery_status",
        "last_discovery_at",
        "server_version",
    ]
    list_filter = ["engine", "is_active", "last_discovery_status"]
    search_fields = ["name"]
    readonly_fields = [
        "dsn_display",
        "last_discovery_at",
        "last_discovery_status",
        "discovery_error",
        "server_version",
        "created_at",
        "updated_at",
    ]
    actions = ["test_connection"]

    @method_decorator(sensitive_post_parameters("dsn"))
    def changeform_view(self, request: HttpRequest, *args, **kwargs):
        # Error reports (the debug page, admin mails) must not show a submitted DSN.
        return super().changeform_view(request, *args, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Source | None = None) -> list[str]:
        fields = list(SourceForm.Meta.fields)
        if obj is None:
            return fields
        # The stored DSN is shown masked beside the (empty) input that replaces it.
        fields.insert(fields.index("dsn"), "dsn_display")
        return fields + [f for f in self.readonly_fields if f != "dsn_display"]

    @admin.display(description="DSN")
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        # One at a time through Source.delete (set-based), not the collector.
        for source in queryset:
            source.delete()

    def dsn_display(self, source: Source) -> str:
        return source.masked_dsn

    @admin.display(description="Last discovery error")
    def discovery_error(self, source: Source) -> str:
        # Written safe by discovery; made safe again for rows written before it was.
        return source.safe_message(source.last_discovery_error, limit=1000)

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            result = source.test_connection()
            if result.ok:
                self.message_user(
                    request,
                    f"{source.name}: ok, server {result.server_version}, {result.latency_ms:.0f} ms",
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request, f"{source.name}: {result.error_class}: {result.message}", messages.ERROR
                )
