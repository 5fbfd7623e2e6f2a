"""`manage.py data_checks load FILE [--source S] [--prune]`: data checks as code."""

from django.core.management.base import BaseCommand, CommandError

from checks.datachecks.definitions import DefinitionError, load_file


class Command(BaseCommand):
    help = "Load data checks from a YAML file (opshealth.yml), idempotently."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="create or update the checks a file defines")
        load.add_argument("file")
        load.add_argument(
            "--source", help="the source of the objects the file names (default: the file's `source:`)"
        )
        load.add_argument(
            "--prune", action="store_true", help="delete the checks this file no longer defines"
        )

    def handle(self, *args, action: str, file: str, source: str | None, prune: bool, **options):
        try:
            result = load_file(file, source=source, prune=prune)
        except DefinitionError as exc:
            raise CommandError(f"nothing loaded:\n{exc}") from None
        for label in result.created:
            self.stdout.write(f"created   {label}")
        for label in result.updated:
            self.stdout.write(f"updated   {label}")
        for label in result.pruned:
            self.stdout.write(f"deleted   {label}")
        self.stdout.write(result.summary())
