"""`manage.py setup_schedules [--list]`: apply the job table (opshealth/schedules.py) to django-q2."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from opshealth import schedules


class Command(BaseCommand):
    help = (
        "Create or update OpsHealth's django-q2 schedules by name, remove those no longer in the "
        "table, and keep the jobs' ledger pipelines in step. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="only list the jobs with their next run")

    def handle(self, *args, list: bool, **options):
        try:
            if list:
                return self._list()
            changes = schedules.apply()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        for change in changes:
            self.stdout.write(str(change))
        changed = [c for c in changes if c.action in ("created", "updated", "removed")]
        self.stdout.write(
            f"{len(changed)} schedule(s) changed"
            if changed
            else "schedules already up to date; nothing changed"
        )

    def _list(self) -> None:
        for job, cron, next_run in schedules.listing():
            if cron is None:
                when = f"off ({job.env_var})"
            elif next_run is None:
                when = "not set up (run setup_schedules)"
            else:
                when = f"next {timezone.localtime(next_run):%Y-%m-%d %H:%M %Z}"
            self.stdout.write(f"{job.name:28} {cron or '-':14} {when:32} {job.description}")
