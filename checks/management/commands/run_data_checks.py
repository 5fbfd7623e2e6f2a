"""`manage.py run_data_checks [--source S] [--object schema.name] [--check ID] [--all] [--due]`."""

from django.core.management.base import BaseCommand, CommandError

from checks.datachecks.models import DataCheck
from checks.datachecks.runner import RunReport, run_checks, run_due
from common.identifiers import split_identifier


class Command(BaseCommand):
    help = (
        "Run data checks now (whatever their schedule): those of a source, an object, one check, "
        "or --all enabled checks. Results go to the ledger. Exit status 1 if a check could not run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", help="the enabled checks of this source (name)")
        parser.add_argument("--object", metavar="SCHEMA.NAME", help="the enabled checks of this object")
        parser.add_argument("--check", type=int, metavar="ID", help="this check, even when disabled")
        parser.add_argument("--all", action="store_true", help="every enabled check")
        parser.add_argument("--due", action="store_true", help="the checks due by their schedule (cron)")

    def handle(self, *args, source, object, check, all, due, **options):
        if due:
            report = run_due()
            if report is None:
                raise CommandError("another run of the data checks holds the lock; skipped (recorded)")
            return self.report(report)
        if not (source or object or check or all):
            raise CommandError(
                "say which checks: --source S, --object schema.name, --check ID, --all or --due"
            )
        checks = DataCheck.objects.with_latest().order_by(
            "object__source__name", "object__schema_name", "object__object_name", "name"
        )
        checks = checks.filter(pk=check) if check else checks.filter(enabled=True)
        if source:
            checks = checks.filter(object__source__name=source)
        if object:
            parts = split_identifier(object, strict=False)
            if len(parts) != 2:
                raise CommandError(f"--object takes schema.name, not {object!r}")
            checks = checks.filter(object__schema_name=parts[0], object__object_name=parts[1])
        checks = list(checks)
        if not checks:
            raise CommandError("no data check matches")
        self.report(run_checks(checks))

    def report(self, report: RunReport) -> None:
        for r in report.results:
            self.stdout.write(
                f"{r.outcome.status:5} {r.check.object.qualified_name} {r.check.name}: {r.outcome.message}"
            )
        self.stdout.write(str(report))
        if report.count("error"):
            raise CommandError(f"{report.count('error')} data check(s) could not run")
