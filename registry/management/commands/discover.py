"""manage.py discover: read each active source's catalog and code into the registry."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from registry.discovery import DiscoveryError, discover_and_record
from registry.models import Source


class Command(BaseCommand):
    help = "Discover database objects, columns, dependencies and code usages of sources."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="name of one source (default: every active source)")
        parser.add_argument("--csv-dir", type=Path, help="also write the discovery_*.csv artifacts here")
        parser.add_argument("--no-code-scan", action="store_true", help="skip scanning code paths")
        parser.add_argument("--dry-run", action="store_true", help="report counts, write nothing")

    def handle(self, *args, source=None, csv_dir=None, no_code_scan=False, dry_run=False, **options):
        sources = Source._default_manager.all()
        if source:
            sources = sources.filter(name=source)
            if not sources.exists():
                raise CommandError(f"no source named {source!r}")
        else:
            sources = sources.filter(is_active=True)
        failures = []
        for src in sources:
            # Several sources write into one directory: one subdirectory each.
            target = (csv_dir / src.name if not source else csv_dir) if csv_dir else None
            try:
                result = discover_and_record(
                    src, code_scan=not no_code_scan, dry_run=dry_run, csv_dir=target, progress=self._progress
                )
            except DiscoveryError as exc:
                failures.append(str(exc))
                self.stderr.write(str(exc))
                continue
            self.stdout.write(result.summary())
        if failures:
            raise CommandError(failures[0] if len(failures) == 1 else f"{len(failures)} sources failed")

    def _progress(self, phase: str, counts: dict) -> None:
        # Progress only on a terminal: cron logs get the summary line alone.
        if sys.stderr.isatty():
            detail = ", ".join(f"{k} {v}" for k, v in counts.items())
            sys.stderr.write(f"\r\033[K{phase}{': ' + detail if detail else ''}")
            if phase == "done":
                sys.stderr.write("\n")
            sys.stderr.flush()
