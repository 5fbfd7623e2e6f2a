"""Statistics on the UTC day of a run's start, for `ledger.analytics.runs_per_day` (the
dashboard's runs tab, `/ledger/runs-per-day`): without them PostgreSQL guesses one group
per run, sorts every run of the window by day (on disk at a million runs) and groups
them; with them it knows there are ~90 days and hashes the runs into 30 groups (1,000,000
runs, 333,314 in 30 days: 516 ms -> 200 ms). Statistics cost ingestion nothing (only
ANALYZE reads them), unlike an index on the expression. Other time zones than UTC get the
former plan."""

from django.db import migrations

CREATE = """
CREATE STATISTICS ledger_run_started_day_utc ON ((started_at AT TIME ZONE 'UTC')::date) FROM ledger_run;
ANALYZE ledger_run;
"""
DROP = "DROP STATISTICS IF EXISTS ledger_run_started_day_utc;"


class Migration(migrations.Migration):
    dependencies = [("ledger", "0007_reporting_v2_latest_outcome")]

    operations = [migrations.RunSQL(CREATE, reverse_sql=DROP)]
