"""`manage.py refresh_matviews [--source S] [--only schema.name] [--due]`."""

from django.core.management.base import BaseCommand, CommandError

from checks.refresh import refresh_matviews
from registry.models import RegistryObject, Source


class Command(BaseCommand):
    help = (
        "Refresh the registry's materialized views in dependency order (CONCURRENTLY where possible), "
        "each logged to the ledger. Exit status 1 if any refresh failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", help="only this source (name)")
        parser.add_argument(
            "--only", action="append", metavar="SCHEMA.NAME", help="only these views (repeatable)"
        )
        parser.add_argument(
            "--due",
            action="store_true",
            help="only the views due by their refresh schedule (the scheduled job)",
        )

    def handle(self, *args, source: str | None, only: list[str] | None, due: bool, **options):
        sources = Source.objects.filter(is_active=True).order_by("name")
        if source:
            sources = sources.filter(name=source)
            if not sources:
                raise CommandError(f"unknown or inactive source {source!r}")
        wanted = set(only) if only else None
        if wanted:
            known = {
                f"{s}.{n}"
                for s, n in RegistryObject.objects.filter(
                    source__in=sources, object_type="matview", exists_in_db=True
                ).values_list("schema_name", "object_name")
            }
            unknown = sorted(wanted - known)
            if unknown:
                raise CommandError(f"not materialized views of the registry: {', '.join(unknown)}")
        report = refresh_matviews(sources=list(sources), only=wanted, due=due)
        if report is None:
            raise CommandError("another refresh_matviews is running; skipped (recorded in the ledger)")
        for r in report.results:
            mode = "concurrently" if r.concurrently else "plain"
            state = "ok" if r.ok else f"FAILED: {r.error}"
            self.stdout.write(f"{r.source} {r.asset_key} ({mode}, {r.duration_ms} ms): {state}")
        for name, error_class in report.unreachable.items():
            self.stderr.write(f"{name}: cannot connect ({error_class})")
        if report.failed or report.unreachable:
            raise CommandError(str(report))
        self.stdout.write(str(report))
