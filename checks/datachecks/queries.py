"""The raw SQL of data checks on OpsHealth's own database (table names from `_meta`).

Each statement takes arrays (`= ANY(%s)`, `unnest`), so its parameter count does not
grow with the number of checks.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

from checks.datachecks.models import PIPELINE, DataCheck, DefinitionFile
from ledger.models import CheckResult, Pipeline, Run

_DC = DataCheck._meta.db_table
_DF = DefinitionFile._meta.db_table
_CR = CheckResult._meta.db_table
_RUN = Run._meta.db_table
_PIPE = Pipeline._meta.db_table


def observed_history(check_ids: list[int], since: datetime) -> dict[int, list[tuple[datetime, float]]]:
    """{check id: [(checked_at, observed value)]} of these checks' results since `since`:
    row_count's baseline. Served by ledger_check_time (checked_at range)."""
    if not check_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (cr.metrics->>'data_check_id')::bigint, cr.checked_at, cr.metrics->'observed'
            FROM {_CR} cr
            JOIN {_RUN} r ON r.id = cr.run_id
            JOIN {_PIPE} p ON p.id = r.pipeline_id AND p.namespace = '' AND p.name = %s
            WHERE cr.checked_at >= %s AND cr.status IN ('pass', 'fail', 'skip')
              AND (cr.metrics->>'data_check_id')::bigint = ANY(%s)
            """,
            [PIPELINE, since, check_ids],
        )
        history: dict[int, list[tuple[datetime, float]]] = {}
        for check_id, at, observed in cursor.fetchall():
            value = json.loads(observed) if isinstance(observed, str) else observed
            if isinstance(value, int | float) and not isinstance(value, bool):
                history.setdefault(check_id, []).append((at, value))
        return history


def link_results(run_pk: int, check_ids: list[int], next_runs: list[datetime]) -> int:
    """Point each check at its result of run `run_pk` and set its next run time, in one
    statement. Returns the number of checks updated."""
    if not check_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {_DC} AS d
            SET last_result_id = COALESCE(r.id, d.last_result_id), next_run_at = v.next_run_at
            FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, next_run_at)
            LEFT JOIN {_CR} AS r ON r.run_id = %s AND (r.metrics->>'data_check_id')::bigint = v.id
            WHERE d.id = v.id
            """,
            [check_ids, next_runs, run_pk],
        )
        return cursor.rowcount


def daily_results(check_ids: list[int], since: datetime) -> dict[int, list[dict]]:
    """{check id: [{day, runs, passed, failed, errors, skipped, pass_rate}]} per UTC day
    since `since`, oldest first: the trend of the API and the dashboard's sparklines, one
    statement for any number of checks (ledger_check_time). The pass rate is of the
    judged results (a skip is none); days without one are left out."""
    if not check_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT (metrics->>'data_check_id')::bigint AS check_id,
                   (checked_at AT TIME ZONE 'UTC')::date AS day,
                   count(*), count(*) FILTER (WHERE status = 'pass'),
                   count(*) FILTER (WHERE status = 'fail'), count(*) FILTER (WHERE status = 'error'),
                   count(*) FILTER (WHERE status = 'skip')
            FROM {_CR}
            WHERE checked_at >= %s AND (metrics->>'data_check_id')::bigint = ANY(%s)
            GROUP BY 1, 2 HAVING count(*) FILTER (WHERE status <> 'skip') > 0 ORDER BY 1, 2
            """,
            [since, check_ids],
        )
        days: dict[int, list[dict]] = {}
        for check_id, day, runs, passed, failed, errors, skipped in cursor.fetchall():
            days.setdefault(check_id, []).append(
                {
                    "day": day,
                    "runs": runs,
                    "passed": passed,
                    "failed": failed,
                    "errors": errors,
                    "skipped": skipped,
                    "pass_rate": round(passed / (runs - skipped), 4),
                }
            )
        return days


def data_checks_state() -> str:
    """A fingerprint of every data check (any column: a definition, a schedule, an
    enabled flag, the latest result a run points it at) and of the definition files'
    last loads, in one statement: what the cached Data checks page is keyed by, so an
    edit or a run shows at once. Whole rows are hashed, not an `updated_at`: the runs
    and the YAML loader write checks in bulk statements that do not set it."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT concat_ws(' ', (SELECT count(*) || ':' || coalesce(sum(hashtextextended(d::text, 0)), 0)
                                   FROM {_DC} d),
                             (SELECT count(*) || ':' || coalesce(sum(hashtextextended(f::text, 0)), 0)
                                   FROM {_DF} f))
            """
        )
        return cursor.fetchone()[0]
