"""`manage.py token create NAME --scope read|ingest|admin [--user U]`, `token revoke NAME`, `token list`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.models import ApiToken


class Command(BaseCommand):
    help = "Create, revoke or list API tokens (the same tokens are OpenLineage API keys)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token and print it once.")
        create.add_argument("name")
        create.add_argument("--scope", choices=[s for s, _ in ApiToken.SCOPES], default=ApiToken.SCOPE_READ)
        create.add_argument("--user", help="Username the token acts as (default: none).")
        revoke = sub.add_parser("revoke", help="Revoke a token by name.")
        revoke.add_argument("name")
        sub.add_parser("list", help="List tokens (never their values).")

    def handle(self, *args, action: str, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_create(self, name: str, scope: str, user: str | None, **_):
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"No user named {user!r}.")
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} already exists.")
        try:
            with transaction.atomic():
                token, raw = ApiToken.issue(name, scope, user=owner)
        except IntegrityError as exc:  # created concurrently
            raise CommandError(f"A token named {name!r} already exists.") from exc
        self.stderr.write(f"Created token {token.name} ({token.scope}). It is shown once; store it now:")
        self.stdout.write(raw)

    def handle_revoke(self, name: str, **_):
        updated = ApiToken.objects.filter(name=name, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not updated:
            raise CommandError(f"No active token named {name!r}.")
        self.stdout.write(f"Revoked token {name}.")

    def handle_list(self, **_):
        for t in ApiToken.objects.select_related("user"):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            owner = t.user.get_username() if t.user else "-"
            self.stdout.write(f"{t.name}\t{t.scope}\t{t.prefix}…\t{owner}\t{state}\tlast used {used}")
