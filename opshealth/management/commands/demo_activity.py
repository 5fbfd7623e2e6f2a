"""`manage.py demo_activity`: give the demo platform a past, so every check has
something real to show (at least one OK, one WARN, one ERROR).

Run after `manage.py demo` (warehouse built, source `demo` registered and discovered).
Idempotent: simulated runs have stable ids per (pipeline, slot), so a re-run within
the same hour replays nothing, and ledger ingestion ignores exact duplicates.

Steps:
  1. make `mart.customer_ltv` fail to refresh: recreated (same columns, still WITH NO
     DATA) over a guard function that raises, so it stays unpopulated too;
  2. four weeks of simulated pipeline runs, each recorded through RunLogger with a clock
     that reads the simulated time (a failing run raises inside it): `load_orders` (healthy, daily),
     `load_customers` (flaky), `sync_fx_rates` (broken for 5 days), `load_inventory`
     (every 6 h, overdue for 2 days), `load_web_sessions` (stopped 3 days ago: the stale
     RAW table feeding the critical `mart.session_funnel`), data checks (one failing),
     a watermark on a key no registry object matches; plus two weeks of nightly
     refreshes of the matviews (product_performance stopped 3 days ago);
  3. refresh the matviews for real (`refresh_matviews`, all but product_performance;
     customer_ltv fails), link the asset keys, re-discover (criticality and refresh
     schedules are inferred from that history), enable health on public.audit_trail
     (an audited override that nothing measures);
  4. run the data checks of `demo/app/opshealth.yml` (loaded by discover; some fail on
     purpose: duplicate payment ids, a negative amount, a gap day, a stale table);
  5. give health a past (the dashboard's trend, "failing since"): an evaluation at this
     time of day on each of the last HISTORY_DAYS days, judged at that time (the RAW
     table that stopped three days ago was fresh before), once; then evaluate now and
     print each check's status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from checks.datachecks.models import DataCheck
from checks.datachecks.runner import run_checks
from checks.evaluate import evaluate, evaluate_as_job
from checks.models import Evaluation
from checks.refresh import PIPELINE as REFRESH_PIPELINE
from ledger.logger import RunLogger
from ledger.models import Pipeline, Run
from opshealth.demo import alerts
from registry.links import refresh_asset_links
from registry.models import RegistryObject, Source
from registry.overrides import apply_overrides

SOURCE = "demo"
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
HISTORY_DAYS = 10  # days of health history before today's evaluation

_FAILING_LTV = """
CREATE OR REPLACE FUNCTION mart.crm_export_guard() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'canon.customers export locked by the CRM migration (demo failure)';
END $$;
DROP MATERIALIZED VIEW IF EXISTS mart.customer_ltv;
CREATE MATERIALIZED VIEW mart.customer_ltv AS
SELECT c.customer_id, c.full_name, count(o.order_id) AS orders, min(o.order_date) AS first_order,
       max(o.order_date) AS last_order
FROM canon.customers AS c
LEFT JOIN canon.orders AS o ON o.customer_id = c.customer_id
WHERE mart.crm_export_guard()
GROUP BY c.customer_id, c.full_name
WITH NO DATA;
"""


def _run_id(pipeline: str, at: datetime) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opshealth-demo/{pipeline}/{at:%Y-%m-%dT%H}"))


class SimulatedFailure(Exception):
    """What a failing simulated run raises inside its RunLogger."""


@dataclass
class SimulatedRun:
    """One past run of a demo pipeline, replayed through RunLogger at its own time."""

    pipeline: str
    start: datetime
    ok: bool
    minutes: int = 4
    assets: list = field(default_factory=list)  # (asset key, rows inserted)
    watermarks: list = field(default_factory=list)  # (asset key, watermark)
    checks: list = field(default_factory=list)  # (asset key, check, status, severity, message)
    error: str = ""
    kind: str = "table"

    @property
    def external_run_id(self) -> str:
        return _run_id(self.pipeline, self.start)

    def record(self) -> None:
        """Run a RunLogger whose clock reads the simulated time: started at `start`,
        assets, watermarks and checks logged at the end, closed as success or — when
        the run fails — as failed by a real exception, with its type and stack hash."""
        now = [self.start]
        end = self.start + timedelta(minutes=self.minutes)
        try:
            with RunLogger(
                self.pipeline,
                triggered_by="scheduler",
                external_run_id=self.external_run_id,
                clock=lambda: now[0],
            ) as run:
                now[0] = end
                for key, rows in self.assets:
                    run.log_asset(
                        key,
                        kind=self.kind,
                        status="success" if self.ok else "failed",
                        rows_inserted=rows if self.ok else 0,
                        started_at=self.start,
                    )
                for key, name, status, severity, message in self.checks:
                    run.record_check(key, name, status=status, severity=severity, message=message)
                if not self.ok:
                    raise SimulatedFailure(self.error)
                for key, ts in self.watermarks:
                    run.update_watermark(key, ts)
        except SimulatedFailure:
            pass  # recorded as a failed run; the demo goes on


def simulated_history(now: datetime) -> list[SimulatedRun]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    runs: list[SimulatedRun] = []
    for d in range(28, -1, -1):
        day = today - d * DAY
        if day + 6 * HOUR <= now:  # load_orders: healthy, every day at 06:00
            at = day + 6 * HOUR
            runs.append(
                SimulatedRun(
                    "load_orders",
                    at,
                    True,
                    assets=[("raw.orders", 900 + d), ("raw.order_items", 2400), ("raw.payments", 880)],
                    watermarks=[("raw.orders", at), ("raw.payments", at)],
                    checks=[
                        ("raw.orders", "not_null(order_id)", "pass", "error", ""),
                        ("raw.payments", "no_negative(amount)", "pass", "error", ""),
                    ],
                )
            )
        if day + 5 * HOUR <= now:  # load_customers: flaky, fails every 3rd day then retries
            at = day + 5 * HOUR
            flaky = d % 3 == 1
            runs.append(
                SimulatedRun(
                    "load_customers",
                    at,
                    not flaky,
                    assets=[("raw.customers", 40)],
                    watermarks=[("raw.customers", at)],
                    error="statement timeout",
                )
            )
            if flaky:
                runs.append(
                    SimulatedRun(
                        "load_customers",
                        at + HOUR,
                        True,
                        assets=[("raw.customers", 40)],
                        watermarks=[("raw.customers", at + HOUR)],
                    )
                )
        if day + 7 * HOUR <= now:  # sync_fx_rates: broken for the last 5 days
            at = day + 7 * HOUR
            runs.append(
                SimulatedRun(
                    "sync_fx_rates",
                    at,
                    d > 5,
                    assets=[("raw.fx_rates", 30)],
                    watermarks=[("raw.fx_rates", at)],
                    error="ECB endpoint returned HTTP 503",
                )
            )
        for h in (0, 6, 12, 18):  # load_inventory: every 6 h, stopped 2 days ago
            at = day + h * HOUR
            if d >= 2 and at <= now:
                runs.append(
                    SimulatedRun(
                        "load_inventory",
                        at,
                        True,
                        minutes=2,
                        assets=[("raw.inventory_snapshots", 120)],
                        watermarks=[("raw.inventory_snapshots", at)],
                    )
                )
        if d >= 3:  # load_web_sessions: the loader stopped three days ago
            at = day + 4 * HOUR
            runs.append(
                SimulatedRun(
                    "load_web_sessions",
                    at,
                    True,
                    assets=[("raw.web_sessions", 5000)],
                    watermarks=[("raw.web_sessions", at)],
                )
            )
        if d <= 14 and day + 2 * HOUR <= now:  # nightly refreshes by OpsHealth's job
            at = day + 2 * HOUR
            keys = ["mart.daily_sales", "mart.session_funnel"] + (
                ["mart.product_performance"] if d >= 3 else []
            )
            runs.append(
                SimulatedRun(
                    REFRESH_PIPELINE, at, True, minutes=1, kind="matview", assets=[(k, None) for k in keys]
                )
            )
        if day + 8 * HOUR <= now:  # data checks on canon.payments: failing since yesterday
            at = day + 8 * HOUR
            status = "fail" if d <= 1 else "pass"
            runs.append(
                SimulatedRun(
                    "check_payments",
                    at,
                    True,
                    minutes=1,
                    checks=[
                        (
                            "canon.payments",
                            "unique(payment_id)",
                            status,
                            "error",
                            "12 duplicate payment ids" if status == "fail" else "",
                        ),
                        ("canon.payments", "row_count(1, 100000)", "pass", "warn", ""),
                    ],
                )
            )
    # a producer writing a key no registry object matches
    runs.append(
        SimulatedRun(
            "legacy_clickstream", today - 2 * DAY, True, watermarks=[("raw.clickstream_legacy", today)]
        )
    )
    return runs


class Command(BaseCommand):
    help = "Simulate weeks of pipeline activity on the demo platform, refresh matviews, evaluate health."

    def handle(self, *args, **options):
        source = Source.objects.filter(name=SOURCE).first()
        if source is None or not RegistryObject.objects.filter(source=source).exists():
            raise CommandError("no discovered source 'demo': run `manage.py demo --no-serve` first")
        now = timezone.now()
        with psycopg.connect(source.resolved_dsn(), autocommit=True) as conn:
            guarded = conn.execute(
                "SELECT pg_get_viewdef('mart.customer_ltv'::regclass) LIKE '%crm_export_guard%'"
            ).fetchone()[0]
            if not guarded:
                conn.execute(_FAILING_LTV)
        planned = simulated_history(now)
        # Re-running the demo replays nothing: runs already recorded are skipped.
        recorded = set(
            Run.objects.filter(external_run_id__in=[r.external_run_id for r in planned]).values_list(
                "external_run_id", flat=True
            )
        )
        todo = [r for r in planned if r.external_run_id not in recorded]
        for simulated in todo:
            simulated.record()
        self.stdout.write(f"simulated {len(todo)} pipeline runs over 4 weeks through RunLogger")
        self._schedules()
        refresh_asset_links()
        call_command("discover", source=SOURCE, stdout=self.stdout, stderr=self.stderr)
        self._refresh()
        refresh_asset_links()
        call_command("discover", source=SOURCE, stdout=self.stdout, stderr=self.stderr)
        self._enable_health("public", "audit_trail")
        report = run_checks(DataCheck.objects.filter(object__source=source, enabled=True).with_latest())
        failing = sorted(r.check.name for r in report.results if r.outcome.status != "pass")
        self.stdout.write(f"{report}; not passing: {', '.join(failing) or 'none'}")
        self._health_history(now)
        evaluation = evaluate_as_job(trigger="demo")
        if evaluation is None:
            raise CommandError("an evaluation is already running; try again")
        for r in evaluation.results.all():
            self.stdout.write(f"{r.status:5} {r.check_key}: {r.message}")
        self.stdout.write(
            f"global {evaluation.global_status}, health score {evaluation.health_score:.1f}% ({evaluation.band})"
        )
        alerts.set_up(self.stdout)

    def _health_history(self, now: datetime) -> None:
        if Evaluation.objects.filter(evaluated_at__lt=now - DAY / 2).exists():
            return  # a re-run keeps the history it made
        for days in range(HISTORY_DAYS, 0, -1):
            evaluate(now=now - days * DAY, trigger="demo")
        self.stdout.write(f"evaluated health once a day over the last {HISTORY_DAYS} days")

    def _schedules(self) -> None:
        for name, interval, grace in [
            ("load_orders", DAY, HOUR),
            ("load_customers", DAY, 2 * HOUR),
            ("sync_fx_rates", DAY, HOUR),
            ("load_inventory", 6 * HOUR, HOUR),
            ("load_web_sessions", DAY, 2 * HOUR),
        ]:
            Pipeline.objects.filter(namespace="", name=name).update(schedule_interval=interval, grace=grace)

    def _refresh(self) -> None:
        keys = [
            f"{s}.{n}"
            for s, n in RegistryObject.objects.filter(
                source__name=SOURCE, object_type="matview", exists_in_db=True
            ).values_list("schema_name", "object_name")
            if f"{s}.{n}" != "mart.product_performance"  # left stale on purpose
        ]
        args = ["refresh_matviews", "--source", SOURCE, *[a for k in keys for a in ("--only", k)]]
        try:
            call_command(*args, stdout=self.stdout, stderr=self.stderr)
        except CommandError as exc:  # customer_ltv fails on purpose
            self.stdout.write(f"refresh_matviews: {exc}")

    def _enable_health(self, schema: str, name: str) -> None:
        obj = RegistryObject.objects.filter(source__name=SOURCE, schema_name=schema, object_name=name).first()
        if obj is None or obj.health_enabled:
            return
        apply_overrides(obj, {"health_enabled": True}, actor_name="demo_activity", via="cli")
