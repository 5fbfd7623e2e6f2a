"""`manage.py demo`: everything `make demo` shows, then the development server.

Steps: build the demo warehouse, register it as source `demo`, discover it, create or
update the `admin` user, create a read token, print the URLs and the login, serve.
Every step is idempotent, so running it again is safe.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.models import ApiToken
from opshealth.demo import warehouse
from opshealth.management.commands.demo_warehouse import report

SOURCE_NAME = "demo"
ADMIN_USERNAME = "admin"
TOKEN_NAME = "demo-read"


class Command(BaseCommand):
    help = "Build and register the demo warehouse, create the admin login, and run the server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--database", default=warehouse.DEFAULT_DATABASE, help="demo warehouse database")
        parser.add_argument("--reset", action="store_true", help="rebuild the demo warehouse from scratch")
        parser.add_argument(
            "--no-serve", action="store_true", help="set everything up, do not run the server"
        )
        parser.add_argument(
            "--credentials-file",
            default=str(settings.BASE_DIR / ".opshealth" / "demo-admin.txt"),
            help="where a generated admin password is kept, so re-runs print the same",
        )

    def handle(self, *args, **options) -> None:
        result = warehouse.build(options["database"], reset=options["reset"])
        report(self.stdout, result)
        self.register_source(result.dsn)
        self.discover()
        password = self.ensure_admin(Path(options["credentials_file"]))
        self.ensure_token()
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write("")
        self.stdout.write(f"Admin:     {base}/admin/")
        self.stdout.write(f"API root:  {base}/api/v1/")
        self.stdout.write(f"API docs:  {base}/api/docs/")
        self.stdout.write(f"Login:     {ADMIN_USERNAME} / {password}")
        if not options["no_serve"]:
            # No autoreloader: it would re-run this whole command in a child process.
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)

    def register_source(self, dsn: str) -> None:
        call_command(
            "source",
            "add",
            SOURCE_NAME,
            "--dsn",
            dsn,
            "--code-path",
            "demo/app",
            "--exclude-schema",
            "ops",
            stdout=self.stdout,
            stderr=self.stderr,
        )

    def discover(self) -> None:
        if "discover" not in get_commands():
            self.stdout.write("discovery is not installed: skipping `discover --source demo`")
            return
        call_command("discover", source=SOURCE_NAME, stdout=self.stdout, stderr=self.stderr)

    def ensure_admin(self, credentials_file: Path) -> str:
        """Create or update the superuser `admin`; returns its password.

        OPSHEALTH_DEMO_PASSWORD wins; else a password generated once and kept in
        `credentials_file` (owner-only), so every run prints the same login.
        """
        password = os.environ.get("OPSHEALTH_DEMO_PASSWORD", "")
        if not password and credentials_file.exists():
            password = credentials_file.read_text().strip()
        if not password:
            password = secrets.token_urlsafe(12)
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            credentials_file.touch(mode=0o600)
            credentials_file.write_text(password + "\n")
        user, created = get_user_model()._default_manager.get_or_create(username=ADMIN_USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} admin user {ADMIN_USERNAME}")
        return password

    def ensure_token(self) -> None:
        if "token" not in get_commands():
            self.stdout.write("the token command is not installed: no demo read token created")
            return
        if ApiToken._default_manager.filter(name=TOKEN_NAME).exists():
            self.stdout.write(f"read token {TOKEN_NAME} exists (its value was printed when it was created)")
            return
        try:
            call_command("token", "create", TOKEN_NAME, "--scope", "read", stdout=self.stdout)
        except CommandError as exc:
            self.stderr.write(f"could not create the demo read token: {exc}")
