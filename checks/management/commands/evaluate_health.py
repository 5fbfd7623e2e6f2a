"""`manage.py evaluate_health`: evaluate every health check and persist a snapshot."""

from django.core.management.base import BaseCommand, CommandError

from checks.evaluate import evaluate_as_job


class Command(BaseCommand):
    help = "Evaluate all health & coverage checks, persist the snapshot, prune old history."

    def add_arguments(self, parser):
        parser.add_argument("--trigger", default="cli", choices=["cli", "schedule", "demo"])

    def handle(self, *args, trigger: str, **options):
        evaluation = evaluate_as_job(trigger=trigger)
        if evaluation is None:
            raise CommandError("another evaluate_health is running; skipped (recorded in the ledger)")
        for result in evaluation.results.all():
            self.stdout.write(f"{result.status:5} {result.check_key}: {result.message}")
        self.stdout.write(
            f"global {evaluation.global_status}; score {evaluation.health_score:.2f}% ({evaluation.band}); "
            f"{evaluation.error_count} error, {evaluation.warn_count} warn, {evaluation.ok_count} ok; "
            f"{evaluation.violation_count} violations in {evaluation.duration_ms} ms"
        )
