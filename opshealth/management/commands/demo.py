"""`manage.py demo`: everything `make demo` shows, then the development server.

Steps: build the demo warehouse, register it as source `demo`, discover it, give it a
past (`demo_activity`: matview refreshes, a few weeks of pipeline runs, a health
evaluation), create or update the `admin` user, create a read token, apply the job
table (`setup_schedules`), print the URLs and the login, then serve: a task cluster
(`manage.py qcluster`, a child process) beside the development server, so the demo is
live (an evaluation every 5 minutes). Ctrl-C stops both.
Every step is idempotent, so running it again is safe.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.models import ApiToken
from opshealth.demo import warehouse
from opshealth.management.commands.demo_warehouse import report

SOURCE_NAME = "demo"
ADMIN_USERNAME = "admin"
TOKEN_NAME = "demo-read"
# The cluster stops within 10 s of SIGTERM (opshealth/cluster.py); then it is killed.
CLUSTER_STOP_TIMEOUT_S = 15


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
            help="where a generated admin password is kept, so re-runs print the same "
            "(the demo read token goes beside it, in demo-token.txt)",
        )

    def handle(self, *args, **options) -> None:
        base = f"http://{options['host']}:{options['port']}"
        if "SITE_URL" not in os.environ:
            # The links of the demo's alerts (incidents, drilldowns) lead to this server;
            # the task cluster, a child process, inherits it.
            os.environ["SITE_URL"] = settings.SITE_URL = base
        try:
            result = warehouse.build(options["database"], reset=options["reset"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report(self.stdout, result)
        self.register_source(result.dsn)
        if self.discover():
            call_command("demo_activity", stdout=self.stdout, stderr=self.stderr)
        credentials_file = Path(options["credentials_file"])
        password = self.ensure_admin(credentials_file)
        token = self.ensure_token(credentials_file.with_name("demo-token.txt"))
        call_command("setup_schedules", stdout=self.stdout, stderr=self.stderr)
        self.stdout.write("")
        self.stdout.write(f"Dashboard: {base}/ops/health  (log in as below)")
        self.stdout.write(f"Admin:     {base}/admin/")
        self.stdout.write(f"API root:  {base}/api/v1/")
        self.stdout.write(f"API docs:  {base}/api/docs/")
        self.stdout.write(f"Login:     {ADMIN_USERNAME} / {password}")
        if token:
            self.stdout.write(
                f"API token: {token}  (curl -H 'Authorization: Bearer {token}' {base}/api/v1/sources)"
            )
        if not options["no_serve"]:
            self.serve(options["host"], options["port"])

    def serve(self, host: str, port: str) -> None:
        """The task cluster in a child process, the development server in this one."""
        cluster = subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"])
        # The development server dies at once on SIGTERM/SIGHUP (a closed terminal): exit
        # through the `finally` below instead, so the cluster does not outlive it.
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *args: sys.exit(0))
        self.stdout.write(
            f"Scheduler: qcluster (pid {cluster.pid}); manage.py setup_schedules --list shows the jobs"
        )
        try:
            # No autoreloader: it would re-run this whole command in a child process.
            call_command("runserver", f"{host}:{port}", use_reloader=False)
        finally:
            # Ctrl-C reached the cluster too (same terminal); a server that stopped
            # otherwise stops it here.
            cluster.terminate()
            try:
                cluster.wait(CLUSTER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                cluster.kill()
                cluster.wait()

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

    def discover(self) -> bool:
        try:
            call_command("discover", source=SOURCE_NAME, stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:
            # The failed run is recorded on the source and in the ledger: serve anyway,
            # so the admin can show what went wrong.
            self.stderr.write(f"discovery failed: {exc}")
            return False
        return True

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
            _write_private(credentials_file, password)
        user, created = get_user_model()._default_manager.get_or_create(username=ADMIN_USERNAME)
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} admin user {ADMIN_USERNAME}")
        return password

    def ensure_token(self, token_file: Path) -> str:
        """A read token for trying the API; returns it, or "" when none can be shown.

        The clear value exists only when the token is created: it is kept (owner-only)
        in `token_file`, so re-runs print it again.
        """
        if ApiToken._default_manager.filter(name=TOKEN_NAME).exists():
            if token_file.exists():
                return token_file.read_text().strip()
            self.stdout.write(f"read token {TOKEN_NAME} exists; its value was printed when it was created")
            return ""
        out = io.StringIO()
        try:
            call_command("token", "create", TOKEN_NAME, "--scope", "read", stdout=out, stderr=io.StringIO())
        except CommandError as exc:
            self.stderr.write(f"could not create the demo read token: {exc}")
            return ""
        raw = out.getvalue().strip()
        _write_private(token_file, raw)
        self.stdout.write(f"created read token {TOKEN_NAME}")
        return raw


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text + "\n")
