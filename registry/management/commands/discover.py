"""manage.py discover: read each active source's catalog and code into the registry."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.discovery import discover_sources
from registry.models import Source


class Command(BaseCommand):
    help = "Discover database objects, columns, dependencies and code usages of sources."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="name of one source (default: every active source)")
        parser.add_argument("--csv-dir", type=Path, help="also write the discovery_*.csv artifacts here")
        parser.add_argument("--no-code-scan", action="store_true", help="skip scanning code paths")
        parser.add_argument("--dry-run", action="store_true", help="report counts, write nothing")

    def handle(self, *args, source=None, csv_dir=None, no_code_scan=False, dry_run=False, **options):
        sources = None
        if source:
            sources = Source._default_manager.filter(name=source)
            if not sources.exists():
                raise CommandError(f"no source named {source!r}")
        report = discover_sources(
            sources,
            csv_dir=csv_dir,
            # Several sources write into one directory: one subdirectory each.
            csv_subdirs=not source,
            code_scan=not no_code_scan,
            dry_run=dry_run,
            progress=self._progress,
        )
        for result in report.results:
            self.stdout.write(result.summary())
        for failure in report.failures:
            self.stderr.write(failure)
        if report.failures:
            failures = report.failures
            raise CommandError(failures[0] if len(failures) == 1 else f"{len(failures)} sources failed")

    def _progress(self, phase: str, counts: dict) -> None:
        # Progress only on a terminal: cron logs get the summary line alone.
        if sys.stderr.isatty():
            detail = ", ".join(f"{k} {v}" for k, v in counts.items())
            sys.stderr.write(f"\r\033[K{phase}{': ' + detail if detail else ''}")
            if phase == "done":
                sys.stderr.write("\n")
            sys.stderr.flush()
