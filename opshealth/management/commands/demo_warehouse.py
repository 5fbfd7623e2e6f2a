"""`manage.py demo_warehouse [--database NAME] [--reset]`: build the demo warehouse."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from common.secrets import mask_dsn
from opshealth.demo import warehouse


class Command(BaseCommand):
    help = "Build the demo warehouse (demo/README.md) in its own database on OpsHealth's server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=warehouse.DEFAULT_DATABASE, help="database name")
        parser.add_argument("--reset", action="store_true", help="drop the database and rebuild it")

    def handle(self, *args, database: str, reset: bool, **options) -> None:
        try:
            result = warehouse.build(database, reset=reset)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        report(self.stdout, result)


def report(out, result: warehouse.BuildResult) -> None:
    """What was done, and the DSN to register (masked: it may carry DATABASE_URL's password)."""
    if result.built:
        out.write(f"built demo warehouse in database {result.database}")
    else:
        out.write(f"demo warehouse {result.database} is already built (use --reset to rebuild)")
    if result.foreign_table_skipped:
        out.write(f"  no foreign table raw.remote_rates: {result.foreign_table_skipped}")
    out.write(f"  DSN: {mask_dsn(result.dsn)}")
