"""The `ops_reporting` schema: versioned, read-only views for Grafana and Metabase.

The views are a public contract (columns documented in docs/reporting.md): a change of
meaning or of a column is a new `v2_*` view in a new migration, never an edit of a
`v1_*` one. They run with their owner's rights, so the reporting role needs SELECT on
the views only, never on the `ledger_*` tables. The SQL is frozen here on purpose:
migrations must not import application code that changes later.
"""

from django.db import migrations

VIEWS = {
    "v1_runs": """
        SELECT r.run_id, r.pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               p.namespace AS pipeline_namespace, p.name AS pipeline_name,
               p.client_id, c.name AS client, p.owner,
               r.external_run_id, parent.run_id AS parent_run_id, r.triggered_by, r.status,
               r.status IN ('success', 'failed', 'aborted') AS is_terminal,
               r.started_at, r.ended_at, r.duration_ms, r.nominal_time,
               r.error_type, r.error_message, r.error_stack_hash, r.git_sha, r.app_version
        FROM ledger_run r
        JOIN ledger_pipeline p ON p.id = r.pipeline_id
        LEFT JOIN ledger_client c ON c.id = p.client_id
        LEFT JOIN ledger_run parent ON parent.id = r.parent_run_id
    """,
    # Every pipeline, with its newest run if any (an index probe per pipeline on
    # ledger_run_pipe_started).
    "v1_latest_run_per_pipeline": """
        SELECT p.id AS pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               p.client_id, c.name AS client, p.owner,
               p.schedule_cron, p.schedule_interval, p.grace, p.max_duration,
               r.run_id, r.status, r.started_at, r.ended_at, r.duration_ms,
               r.error_type, r.error_message,
               EXTRACT(EPOCH FROM now() - r.started_at)::bigint AS seconds_since_start
        FROM ledger_pipeline p
        LEFT JOIN ledger_client c ON c.id = p.client_id
        LEFT JOIN LATERAL (
            SELECT * FROM ledger_run lr
            WHERE lr.pipeline_id = p.id AND lr.started_at IS NOT NULL
            ORDER BY lr.started_at DESC, lr.id DESC LIMIT 1
        ) r ON true
    """,
    "v1_runs_daily": """
        SELECT (date_trunc('day', r.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS day,
               r.pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               p.client_id, c.name AS client,
               COUNT(*) AS runs,
               COUNT(*) FILTER (WHERE r.status = 'success') AS success,
               COUNT(*) FILTER (WHERE r.status = 'failed') AS failed,
               COUNT(*) FILTER (WHERE r.status = 'aborted') AS aborted,
               COUNT(*) FILTER (WHERE r.status IN ('started', 'running')) AS running
        FROM ledger_run r
        JOIN ledger_pipeline p ON p.id = r.pipeline_id
        LEFT JOIN ledger_client c ON c.id = p.client_id
        WHERE r.started_at IS NOT NULL
        GROUP BY 1, r.pipeline_id, p.namespace, p.name, p.client_id, c.name
    """,
    # failed / (success + failed) over the trailing 7 and 30 days; aborted runs apart.
    "v1_failure_rate": """
        SELECT p.id AS pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               p.client_id, c.name AS client,
               COUNT(*) FILTER (WHERE w.d7 AND w.status IN ('success', 'failed')) AS runs_7d,
               COUNT(*) FILTER (WHERE w.d7 AND w.status = 'failed') AS failed_7d,
               ROUND(COUNT(*) FILTER (WHERE w.d7 AND w.status = 'failed')::numeric
                     / NULLIF(COUNT(*) FILTER (WHERE w.d7 AND w.status IN ('success', 'failed')), 0), 4)
                   AS failure_rate_7d,
               COUNT(*) FILTER (WHERE w.status IN ('success', 'failed')) AS runs_30d,
               COUNT(*) FILTER (WHERE w.status = 'failed') AS failed_30d,
               ROUND(COUNT(*) FILTER (WHERE w.status = 'failed')::numeric
                     / NULLIF(COUNT(*) FILTER (WHERE w.status IN ('success', 'failed')), 0), 4)
                   AS failure_rate_30d,
               COUNT(*) FILTER (WHERE w.status = 'aborted') AS aborted_30d
        FROM ledger_pipeline p
        LEFT JOIN ledger_client c ON c.id = p.client_id
        JOIN (
            SELECT pipeline_id, status, started_at >= now() - interval '7 days' AS d7
            FROM ledger_run
            WHERE started_at >= now() - interval '30 days'
              AND status IN ('success', 'failed', 'aborted')
        ) w ON w.pipeline_id = p.id
        GROUP BY p.id, p.namespace, p.name, p.client_id, c.name
    """,
    # From a failure that follows a non-failure to the end of the next success, last 30 days.
    "v1_mttr": """
        WITH terminal AS (
            SELECT r.pipeline_id, r.status, COALESCE(r.ended_at, r.started_at) AS at,
                   LAG(r.status) OVER w AS prev_status,
                   MIN(CASE WHEN r.status = 'success' THEN COALESCE(r.ended_at, r.started_at) END)
                       OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at DESC, r.id DESC
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS recovered_at
            FROM ledger_run r
            WHERE r.status IN ('success', 'failed') AND r.started_at >= now() - interval '30 days'
            WINDOW w AS (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id)
        )
        SELECT t.pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               c.name AS client,
               COUNT(*) AS incidents, COUNT(t.recovered_at) AS recovered,
               EXTRACT(EPOCH FROM AVG(t.recovered_at - t.at))::float8 AS mttr_seconds
        FROM terminal t
        JOIN ledger_pipeline p ON p.id = t.pipeline_id
        LEFT JOIN ledger_client c ON c.id = p.client_id
        WHERE t.status = 'failed' AND t.prev_status IS DISTINCT FROM 'failed'
        GROUP BY t.pipeline_id, p.namespace, p.name, c.name
    """,
    # The API's flaky ranking over the last 30 days with the default thresholds frozen
    # (min sample 10, flip rate 0.3, 2 retry-then-success, broken after 3 failures).
    "v1_flaky_ranking": """
        WITH terminal AS (
            SELECT r.pipeline_id, r.status, r.started_at, r.nominal_time, r.parent_run_id,
                   COALESCE(r.args ->> 'partition_key', '') AS partition_key,
                   LAG(r.status) OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at, r.id) AS prev_status,
                   ROW_NUMBER() OVER (PARTITION BY r.pipeline_id ORDER BY r.started_at DESC, r.id DESC)
                       AS recency
            FROM ledger_run r
            WHERE r.status IN ('success', 'failed') AND r.started_at >= now() - interval '30 days'
        ),
        per_pipeline AS (
            SELECT pipeline_id, COUNT(*) AS sample_size,
                   COUNT(*) FILTER (WHERE status = 'failed') AS failures,
                   COUNT(*) FILTER (WHERE prev_status IS NOT NULL AND status <> prev_status) AS flips,
                   COALESCE(MIN(recency) FILTER (WHERE status = 'success') - 1, COUNT(*)) AS failure_streak,
                   MAX(started_at) AS last_run_at
            FROM terminal GROUP BY pipeline_id
        ),
        retries AS (
            SELECT pipeline_id, COUNT(*) AS retry_successes FROM (
                SELECT pipeline_id FROM terminal
                WHERE nominal_time IS NOT NULL OR parent_run_id IS NOT NULL OR partition_key <> ''
                GROUP BY pipeline_id, nominal_time, parent_run_id, partition_key
                HAVING MIN(started_at) FILTER (WHERE status = 'failed')
                     < MAX(started_at) FILTER (WHERE status = 'success')
            ) logical GROUP BY pipeline_id
        ),
        measured AS (
            SELECT pp.*, COALESCE(rt.retry_successes, 0) AS retry_successes,
                   ROUND(pp.flips::numeric / NULLIF(pp.sample_size - 1, 0), 4) AS flip_rate
            FROM per_pipeline pp LEFT JOIN retries rt USING (pipeline_id)
        )
        SELECT m.pipeline_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline,
               c.name AS client, m.sample_size, m.failures, m.flips, m.flip_rate,
               m.retry_successes, m.failure_streak, m.last_run_at,
               CASE WHEN m.failure_streak >= 3 THEN 'broken'
                    WHEN m.sample_size < 10 THEN 'insufficient_data'
                    WHEN m.flip_rate >= 0.3 OR m.retry_successes >= 2 THEN 'flaky'
                    ELSE 'healthy' END AS classification
        FROM measured m
        JOIN ledger_pipeline p ON p.id = m.pipeline_id
        LEFT JOIN ledger_client c ON c.id = p.client_id
    """,
    "v1_watermarks": """
        SELECT w.asset_key, w.normalized_key, w.scope_key, w.watermark_ts, w.updated_at,
               EXTRACT(EPOCH FROM now() - w.watermark_ts)::bigint AS age_seconds,
               r.run_id AS last_run_id, r.status AS last_run_status,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS last_run_pipeline
        FROM ledger_watermark w
        LEFT JOIN ledger_run r ON r.id = w.last_run_id
        LEFT JOIN ledger_pipeline p ON p.id = r.pipeline_id
    """,
    "v1_check_results": """
        SELECT cr.id, cr.checked_at, cr.asset_key, cr.normalized_key, cr.partition_key,
               cr.check_name, cr.severity, cr.status, cr.message, cr.metrics,
               r.run_id,
               CASE WHEN p.namespace = '' THEN p.name ELSE p.namespace || '/' || p.name END AS pipeline
        FROM ledger_checkresult cr
        LEFT JOIN ledger_run r ON r.id = cr.run_id
        LEFT JOIN ledger_pipeline p ON p.id = r.pipeline_id
    """,
}

CREATE = "CREATE SCHEMA IF NOT EXISTS ops_reporting;\n" + "\n".join(
    f"CREATE VIEW ops_reporting.{name} AS {sql.strip()};" for name, sql in VIEWS.items()
)
DROP = "\n".join(f"DROP VIEW IF EXISTS ops_reporting.{name};" for name in reversed(VIEWS)) + (
    "\nDROP SCHEMA IF EXISTS ops_reporting;"
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql=DROP)]
