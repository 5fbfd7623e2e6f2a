"""Create or update the read-only database role that Grafana and Metabase log in as.

The role may LOGIN, use the `ops_reporting` schema and SELECT its views; nothing else
(no table of the application, no write, transactions read-only by default). Running
the command again converges the role to that state. The password, read from a file,
is sent to the server as a SCRAM-SHA-256 verifier computed here, so the clear text
never appears in a statement, a server log or our output.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from psycopg import sql

SCHEMA = "ops_reporting"


class Command(BaseCommand):
    help = "Create/update the read-only reporting role (SELECT on ops_reporting views only)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default="opshealth_reporting", help="role name")
        parser.add_argument("--password-file", type=Path, help="file holding the role's password")

    def handle(self, *args, name: str, password_file: Path | None, **options):
        password = self._read_password(password_file)
        role = sql.Identifier(name)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [SCHEMA])
            if cursor.fetchone() is None:
                raise CommandError(f"schema {SCHEMA} does not exist: run `manage.py migrate` first")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            created = cursor.fetchone() is None
            for statement in self._statements(role, created):
                cursor.execute(statement.as_string(cursor.connection))
            if password is not None:
                # libpq computes the SCRAM-SHA-256 verifier (the clear password never
                # reaches the server, nor its log); a raw psycopg cursor, as Django's
                # debug cursor would log the statement.
                pgconn = cursor.connection.pgconn
                verifier = sql.Literal(
                    pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
                )
                with cursor.connection.cursor() as raw:
                    raw.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, verifier))
            cursor.execute(
                "SELECT count(*) FROM information_schema.role_table_grants "
                "WHERE grantee = %s AND table_schema = %s AND privilege_type = 'SELECT'",
                [name, SCHEMA],
            )
            views = cursor.fetchone()[0]
        verb = "created" if created else "updated"
        password_note = "password set" if password is not None else "password unchanged"
        self.stdout.write(f"role {name} {verb}: SELECT on {views} views in {SCHEMA}; {password_note}")

    def _read_password(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            password = path.read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read the password file: {exc.strerror}") from exc
        if not password:
            raise CommandError("the password file is empty")
        return password

    def _statements(self, role: sql.Identifier, create: bool) -> list[sql.Composed]:
        schema = sql.Identifier(SCHEMA)
        database = sql.Identifier(connection.settings_dict["NAME"])
        attributes = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT")
        statements = [
            sql.SQL("CREATE ROLE {} " if create else "ALTER ROLE {} ").format(role) + attributes,
            # Belt and braces: even a granted write privilege would fail in a read-only
            # transaction, and a runaway dashboard query is cut off.
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role),
            sql.SQL("ALTER ROLE {} SET statement_timeout = '60s'").format(role),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role),
            sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(schema, role),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role),
            # Views added by later migrations (v2_*) are readable without re-running this.
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(
                schema, role
            ),
        ]
        # Undo anything granted by hand on the application's tables.
        statements.append(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(role))
        return statements
