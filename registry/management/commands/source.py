"""`manage.py source add|list|test|remove`: sources from scripts and cron.

Secrets never printed: every DSN shown is masked. Prefer `--dsn env:VAR` in scripts, so
the password is not on the command line either.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from registry.engines import ENGINES
from registry.models import Source

# Source.objects may be shadowed by a reverse relation name: use the manager itself.
sources = Source._default_manager


class Command(BaseCommand):
    help = "Add (or update), list, test or remove monitored sources."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        add = sub.add_parser("add", help="Create the source, or update it to exactly these settings.")
        add.add_argument("name")
        add.add_argument(
            "--dsn",
            required=True,
            help="postgresql://… or key=value; mysql://…; a DuckDB file; or env:VARIABLE",
        )
        add.add_argument("--engine", default="postgresql", choices=sorted(ENGINES))
        add.add_argument("--include-schema", action="append", default=[], dest="include_schemas")
        add.add_argument("--exclude-schema", action="append", default=[], dest="exclude_schemas")
        add.add_argument("--code-path", action="append", default=[], dest="code_paths")
        add.add_argument("--search-path", action="append", default=[], dest="search_path")
        add.add_argument("--inactive", action="store_true", help="Register it but do not discover it.")
        sub.add_parser("list", help="List sources (DSNs masked).")
        test = sub.add_parser("test", help="Test the connection; exit status 1 on failure.")
        test.add_argument("name")
        remove = sub.add_parser("remove", help="Delete the source and its registry rows.")
        remove.add_argument("name")

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"handle_{action}")(**options)

    def handle_add(self, name: str, **options) -> None:
        values = {
            "engine": options["engine"],
            "dsn": options["dsn"],
            "include_schemas": options["include_schemas"],
            "exclude_schemas": options["exclude_schemas"],
            "code_paths": options["code_paths"],
            "search_path": options["search_path"],
            "is_active": not options["inactive"],
        }
        with transaction.atomic():
            source = sources.select_for_update().filter(name=name).first()
            created = source is None
            source = source or Source(name=name)
            for field, value in values.items():
                setattr(source, field, value)
            try:
                source.full_clean()
            except ValidationError as exc:
                raise CommandError(_format_errors(exc)) from None
            source.save()
        self.stdout.write(f"{'created' if created else 'updated'} source {source.name} ({source.masked_dsn})")
        for path in source.missing_code_paths():
            self.stderr.write(f"warning: code path {path!r} does not exist")

    def handle_list(self, **options) -> None:
        rows = [("NAME", "ENGINE", "ACTIVE", "LAST DISCOVERY", "DSN")]
        for source in sources.order_by("name"):
            when = source.last_discovery_at.isoformat(timespec="seconds") if source.last_discovery_at else "-"
            rows.append(
                (
                    source.name,
                    source.engine,
                    "yes" if source.is_active else "no",
                    f"{source.last_discovery_status} {when}",
                    source.masked_dsn,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]))

    def handle_test(self, name: str, **options) -> None:
        result = _get(name).test_connection()
        if not result.ok:
            raise CommandError(f"{name}: {result.error_class}: {result.message} ({result.latency_ms:.0f} ms)")
        self.stdout.write(f"{name}: ok, server {result.server_version}, {result.latency_ms:.0f} ms")

    def handle_remove(self, name: str, **options) -> None:
        deleted, per_model = _get(name).delete()
        objects = per_model.get("registry.RegistryObject", 0)
        self.stdout.write(f"removed source {name} ({objects} registry objects, {deleted} rows in all)")


def _get(name: str) -> Source:
    source = sources.filter(name=name).first()
    if source is None:
        raise CommandError(f"no source named {name!r}")
    return source


def _format_errors(exc: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
