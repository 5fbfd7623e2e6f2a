"""ApiToken admin: a new token is shown once, in a message; revoke is an action."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone

from ledger.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke"]
    # token_hash is never shown: it is not a secret by itself, but it is useless to a person.
    fields = ["name", "scope", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        # An existing token keeps its name and scope: re-scoping a token in use would be a
        # silent privilege change. Revoke it and issue another.
        if obj is not None:
            return [*self.readonly_fields, "name", "scope", "user"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, raw = ApiToken.issue(obj.name, obj.scope, user=obj.user)
        obj.pk = token.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Token {token.name} created. Copy it now, it will not be shown again: {raw}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)
