"""`manage.py refresh_matviews [--source S] [--only schema.name]`."""

from django.core.management.base import BaseCommand, CommandError

from checks.jobs import exclusive, record_skipped
from checks.refresh import PIPELINE, RefreshResult, refresh_source
from ledger.logger import RunLogger
from ledger.models import RunAsset
from registry.links import refresh_asset_links
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

    def handle(self, *args, source: str | None, only: list[str] | None, **options):
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
        with exclusive(PIPELINE) as acquired:
            if not acquired:
                record_skipped(PIPELINE)
                raise CommandError("another refresh_matviews is running; skipped (recorded in the ledger)")
            args = {"sources": [s.name for s in sources], "only": sorted(wanted) if wanted else None}
            results: list[RefreshResult] = []
            logger = RunLogger(PIPELINE, args=args)
            try:
                # The run fails when any refresh fails: its error names them.
                with logger:
                    self._refresh(sources, wanted, logger, results)
            finally:
                # link the refreshed keys now: the staleness rule reads refreshes through links
                keys = RunAsset.objects.filter(run=logger.run).values_list("normalized_key", flat=True)
                if logger.run is not None:
                    refresh_asset_links(list(keys))
        self.stdout.write(f"{len(results)} of {len(results)} materialized views refreshed")

    def _refresh(self, sources, wanted, run, results: list[RefreshResult]) -> None:
        unreachable = []
        for source in sources:
            try:
                done = refresh_source(source, run, wanted)
            except Exception as exc:  # an unreachable source must not stop the others
                unreachable.append(source.name)
                self.stderr.write(f"{source.name}: cannot connect ({type(exc).__name__})")
                continue
            for r in done:
                mode = "concurrently" if r.concurrently else "plain"
                state = "ok" if r.ok else f"FAILED: {r.error}"
                self.stdout.write(f"{r.source} {r.asset_key} ({mode}, {r.duration_ms} ms): {state}")
            results.extend(done)
        failed = [r.asset_key for r in results if not r.ok]
        if failed or unreachable:
            raise CommandError(
                f"{len(failed)} of {len(results)} refreshes failed ({', '.join(failed) or '-'}); "
                f"unreachable sources: {', '.join(unreachable) or '-'}"
            )
