"""The raw SQL of alerting: set-based statements whose parameter count never grows
with the data (ids travel as arrays, rows as one JSON recordset). Table names come
from the models' `_meta`.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import cache

from django.db import connection, models

from checks.alerts.models import (
    AlertRule,
    Channel,
    Delivery,
    Incident,
    IncidentEvent,
    Notification,
    SubjectState,
)
from checks.models import CheckRun, Violation
from checks.queries import fetch, latest_evaluation_sql
from ledger.models import Client, Pipeline
from ledger.queries import recent_outcomes_sql
from registry.models import Dependency, RegistryObject, Source

RULE = AlertRule._meta.db_table
INCIDENT = Incident._meta.db_table
NOTIFICATION = Notification._meta.db_table
CHANNEL = Channel._meta.db_table


def execute(sql: str, params=None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- Conditions ---------------------------------------------------------------------

# Every (rule, pipeline in its scope) → the failed runs among its last `depth` outcomes,
# or over the window of a failure_rate rule. The last outcomes of a pipeline are read
# once, as deep as its deepest rule needs, through ledger_run_pipe_started. Outcomes are
# `Run.objects.outcomes_of(...)`, generated into the statement (`recent_outcomes_sql`):
# run_failed is the check pipeline_run_failed's rule, not a copy of it.
_PIPELINES_SQL = """
WITH rp AS (
    SELECT r.id AS rule_id, r.kind, p.id AS pipeline_id, p.namespace, p.name, COALESCE(c.name, '') AS client,
           CASE r.kind WHEN 'run_failed' THEN 1 WHEN 'consecutive_failures' THEN (r.params->>'n')::int
                       WHEN 'failures_of_last' THEN (r.params->>'m')::int ELSE 0 END AS depth,
           CASE r.kind WHEN 'run_failed' THEN 1 ELSE (r.params->>'n')::int END AS need,
           (r.params->>'window_seconds')::int AS window_s,
           (r.params->>'min_sample')::int AS min_sample,
           (r.params->>'threshold')::float AS threshold
    FROM {rule} r
    JOIN {pipeline} p ON r.scope_pipeline IN ('', p.name)
    LEFT JOIN {client} c ON c.id = p.client_id
    WHERE r.id = ANY(%(rules)s) AND r.scope_client IN ('', COALESCE(c.name, ''))
),
deepest AS (SELECT pipeline_id, max(depth) AS depth FROM rp WHERE depth > 0 GROUP BY pipeline_id),
recent AS (
    SELECT d.pipeline_id, x.*
    FROM deepest d
    CROSS JOIN LATERAL (
        SELECT r.status, row_number() OVER (ORDER BY r.started_at DESC, r.id DESC) AS pos,
               json_build_object('run', r.external_run_id, 'ended_at', r.ended_at, 'error_type', r.error_type,
                                 'error_message', left(r.error_message, 300)) AS run
        FROM ({recent} LIMIT d.depth) r
    ) x
),
counted AS (
    SELECT rp.rule_id, rp.pipeline_id, count(*) FILTER (WHERE f.status = 'failed') AS failed, count(*) AS total,
           json_agg(f.run ORDER BY f.pos) FILTER (WHERE f.status = 'failed' AND f.pos <= 5) AS runs
    FROM rp JOIN recent f ON f.pipeline_id = rp.pipeline_id AND f.pos <= rp.depth
    GROUP BY rp.rule_id, rp.pipeline_id, rp.need
    HAVING count(*) FILTER (WHERE f.status = 'failed') >= rp.need
),
rated AS (
    SELECT rp.rule_id, rp.pipeline_id, x.failed, x.total, x.runs
    FROM rp
    CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE r.status = 'failed') AS failed, count(*) AS total,
               (json_agg(json_build_object('run', r.external_run_id, 'ended_at', r.ended_at,
                                           'error_type', r.error_type, 'error_message', left(r.error_message, 300))
                         ORDER BY r.started_at DESC) FILTER (WHERE r.status = 'failed')) AS runs
        FROM ({window}) r
        WHERE r.started_at >= %(now)s - make_interval(secs => rp.window_s)
    ) x
    WHERE rp.kind = 'failure_rate' AND x.total >= rp.min_sample AND x.failed > 0
      AND x.failed >= rp.threshold * x.total
)
SELECT f.rule_id, f.pipeline_id, p.namespace, p.name, COALESCE(c.name, ''), f.failed, f.total, f.runs
FROM (SELECT * FROM counted UNION ALL
      SELECT rule_id, pipeline_id, failed, total,
             (SELECT json_agg(e) FROM (SELECT json_array_elements(runs) e LIMIT 5) t) FROM rated) f
JOIN {pipeline} p ON p.id = f.pipeline_id
LEFT JOIN {client} c ON c.id = p.client_id
ORDER BY f.rule_id, f.pipeline_id
"""


@cache
def _pipelines_sql() -> str:
    return _PIPELINES_SQL.format(
        rule=RULE,
        pipeline=Pipeline._meta.db_table,
        client=Client._meta.db_table,
        recent=recent_outcomes_sql("d.pipeline_id"),
        window=recent_outcomes_sql("rp.pipeline_id"),
    )


def _loads(value):
    """Django's cursor leaves json/jsonb as text (JSONField parses it, raw SQL must)."""
    return json.loads(value) if isinstance(value, str) else value


def pipeline_firing(rule_ids: list[int], now: datetime) -> list[tuple]:
    return [(*row[:-1], _loads(row[-1])) for row in fetch(_pipelines_sql(), {"rules": rule_ids, "now": now})]


def source_names(object_ids: list[int]) -> dict[int, str]:
    return dict(
        fetch(
            f"SELECT o.id, s.name FROM {RegistryObject._meta.db_table} o "
            f"JOIN {Source._meta.db_table} s ON s.id = o.source_id WHERE o.id = ANY(%s)",
            [object_ids],
        )
    )


# Offending items of the latest evaluation at or above each rule's level, in its scope.
# `{latest}` is the latest evaluation's id, `Evaluation.objects.latest_one()` as SQL.
_CHECKS_SQL = f"""
WITH r AS (
    SELECT r.*, x.min_rank FROM {RULE} r
    JOIN unnest(%(rules)s::bigint[], %(ranks)s::int[]) AS x(id, min_rank) ON x.id = r.id
)
SELECT r.id, v.check_key, v.subject_type, v.subject, v.object_id, v.level, v.detail, cr.message,
       s.name, o.schema_name || '.' || o.object_name
FROM r
JOIN {Violation._meta.db_table} v ON v.evaluation_id = ({{latest}})
JOIN {CheckRun._meta.db_table} cr ON cr.id = v.check_run_id
LEFT JOIN {RegistryObject._meta.db_table} o ON o.id = v.object_id
LEFT JOIN {Source._meta.db_table} s ON s.id = o.source_id
WHERE (CASE v.level WHEN 'ERROR' THEN 2 WHEN 'WARN' THEN 1 ELSE 0 END) >= r.min_rank
  AND r.scope_check_key IN ('', v.check_key)
  AND (r.scope_object = '' OR r.scope_object = o.schema_name || '.' || o.object_name)
  AND (r.scope_source = '' OR r.scope_source = COALESCE(s.name, v.detail->>'source')
       OR (v.subject_type = 'source' AND r.scope_source = v.subject))
  AND (r.scope_pipeline = '' OR (v.subject_type = 'pipeline' AND r.scope_pipeline = v.subject))
ORDER BY r.id, v.check_key, v.subject
"""


def check_firing(rule_ids: list[int], ranks: list[int]) -> list[tuple]:
    rows = fetch(_latest(_CHECKS_SQL), {"rules": rule_ids, "ranks": ranks})
    return [(*row[:6], _loads(row[6]), *row[7:]) for row in rows]


@cache
def _latest(statement: str) -> str:
    return statement.format(latest=latest_evaluation_sql("id"))


# --- Lineage-aware suppression -------------------------------------------------------

# Lineage-aware suppression reads the registry's edges once per cycle and walks them in
# Python (`checks.alerts.lineage`): a multi-source walk visits each object once. A
# recursive CTE walks paths, not objects, and a DAG of views over views has exponentially
# many (measured: on bench/alerts.py's 10,000 objects it filled the disk with temp files).


def edges() -> list[tuple[int, int]]:
    """Every (upstream, downstream) edge of the registry."""
    return fetch(f"SELECT upstream_id, downstream_id FROM {Dependency._meta.db_table}")


# Incidents on objects of a source the latest evaluation found unreachable → that
# source's unresolved source_unreachable incident, if there is one (`{latest}` as above).
_UNREACHABLE_SQL = f"""
WITH unreachable AS (
    SELECT v.subject AS source FROM {Violation._meta.db_table} v
    WHERE v.evaluation_id = ({{latest}}) AND v.check_key = 'source_unreachable'
)
SELECT c.incident_id,
       (SELECT r.id FROM {INCIDENT} r
        WHERE r.resolved_at IS NULL AND r.labels->>'check_key' = 'source_unreachable'
          AND r.labels->>'source' = s.name
        ORDER BY r.id LIMIT 1)
FROM unnest(%s::bigint[], %s::bigint[]) AS c(incident_id, object_id)
JOIN {RegistryObject._meta.db_table} o ON o.id = c.object_id
JOIN {Source._meta.db_table} s ON s.id = o.source_id
WHERE s.name IN (SELECT source FROM unreachable)
"""


def unreachable_roots(incident_objects: dict[int, int]) -> dict[int, int | None]:
    """incident id → the incident of its object's unreachable source (None: no such incident)."""
    ids = list(incident_objects)
    return dict(fetch(_latest(_UNREACHABLE_SQL), [ids, [incident_objects[i] for i in ids]]))


def upstream_open_incident(object_id: int) -> int | None:
    """An unresolved incident on an object upstream of this one (transitively), if any:
    the control loop's "never retry while an upstream object has an open incident"."""
    rows = fetch(
        f"""
        WITH RECURSIVE up(anc) AS (
            SELECT upstream_id FROM {Dependency._meta.db_table} WHERE downstream_id = %(obj)s
            UNION
            SELECT d.upstream_id FROM up JOIN {Dependency._meta.db_table} d ON d.downstream_id = up.anc
        )
        SELECT i.id FROM up JOIN {INCIDENT} i ON i.object_id = up.anc AND i.resolved_at IS NULL
        WHERE up.anc <> %(obj)s ORDER BY i.id LIMIT 1
        """,
        {"obj": object_id},
    )
    return rows[0][0] if rows else None


# --- Rows as one JSON recordset --------------------------------------------------------


def _columns(model: type[models.Model], names: list[str]) -> list[tuple[str, str, str]]:
    """(attribute, column, SQL type) of the named fields."""
    out = []
    for name in names:
        f = model._meta.get_field(name)
        out.append((f.attname, f.column, f.db_type(connection)))
    return out


def _json(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{value.total_seconds()} seconds"
    raise TypeError(type(value).__name__)


def _recordset(columns) -> str:
    return "json_to_recordset(%s::json) AS v(" + ", ".join(f'"{c}" {t}' for _, c, t in columns) + ")"


def _rows(model: type[models.Model], objects, columns) -> str:
    """The rows as JSON: model instances, or dicts (a missing key takes the field's default)."""
    defaults = {f.attname: f.get_default() for f in model._meta.concrete_fields}
    return json.dumps(
        [
            {c: o.get(a, defaults[a]) if isinstance(o, dict) else getattr(o, a) for a, c, _ in columns}
            for o in objects
        ],
        default=_json,
    )


def insert(model: type[models.Model], objects: list, *, on_conflict: str = "") -> list[int]:
    """INSERT `objects` (instances or dicts of attribute names, every concrete field but
    the primary key) in one statement; the new ids, in order (rows skipped by
    `on_conflict` are missing)."""
    if not objects:
        return []
    cols = _columns(model, [f.name for f in model._meta.concrete_fields if not f.primary_key])
    column_list = ", ".join(f'"{c}"' for _, c, _ in cols)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({column_list}) SELECT {column_list} FROM {_recordset(cols)} "
        f"{on_conflict} RETURNING id"
    )
    return [row[0] for row in fetch(sql, [_rows(model, objects, cols)])]


def update(model: type[models.Model], objects: list, names: list[str]) -> int:
    """UPDATE the `names` fields of `objects` (by primary key) in one statement."""
    if not objects:
        return 0
    cols = _columns(model, ["id", *names])
    sets = ", ".join(f'"{c}" = v."{c}"' for _, c, _ in cols[1:])
    return execute(
        f"UPDATE {model._meta.db_table} t SET {sets} FROM {_recordset(cols)} WHERE t.id = v.id",
        [_rows(model, objects, cols)],
    )


def touch(incident_ids: list[int], now: datetime) -> None:
    """The incidents still firing were seen now."""
    if incident_ids:
        execute(f"UPDATE {INCIDENT} SET last_seen_at = %s WHERE id = ANY(%s)", [now, incident_ids])


# --- Incidents -------------------------------------------------------------------------


def incidents_to_judge(now: datetime, reopen_since: datetime) -> list[Incident]:
    """Unresolved incidents, and each subject's latest incident resolved by itself since
    `reopen_since` whose recovery was not sent (a re-fire reopens it)."""
    # Locked to the end of the judge's transaction: an acknowledgement or a snooze made
    # meanwhile waits for it instead of being overwritten by the judge's write-back.
    return list(
        Incident.objects.raw(
            f"""
            SELECT * FROM {INCIDENT} WHERE id IN (
                SELECT id FROM {INCIDENT} WHERE resolved_at IS NULL
                UNION ALL
                SELECT id FROM (
                    SELECT DISTINCT ON (i.rule_id, i.subject_key) i.id, i.rule_id, i.subject_key
                    FROM {INCIDENT} i
                    WHERE i.resolved_at >= %s AND i.resolved_by_name = ''
                    ORDER BY i.rule_id, i.subject_key, i.resolved_at DESC
                ) recent
                WHERE NOT EXISTS (SELECT 1 FROM {NOTIFICATION} n WHERE n.incident_id = recent.id
                                  AND n.kind = 'resolved' AND n.status = 'sent')
                  AND NOT EXISTS (SELECT 1 FROM {INCIDENT} u WHERE u.resolved_at IS NULL
                                  AND u.rule_id = recent.rule_id AND u.subject_key = recent.subject_key)
            )
            FOR UPDATE
            """,
            [reopen_since],
        )
    )


def cancel_pending(incident_ids: list[int], kinds: list[str]) -> int:
    return execute(
        f"UPDATE {NOTIFICATION} SET status = 'cancelled', last_error = 'cancelled: the incident fired again' "
        "WHERE incident_id = ANY(%s) AND kind = ANY(%s) AND status = 'pending'",
        [incident_ids, kinds],
    )


def insert_events(events: list[IncidentEvent]) -> None:
    insert(IncidentEvent, events)


def subject_states(keys: list[tuple[int, str]]) -> list[SubjectState]:
    """The states of these (rule, subject) pairs, and of every flapping subject."""
    table = SubjectState._meta.db_table
    return list(
        SubjectState.objects.raw(
            f"SELECT * FROM {table} WHERE flapping_since IS NOT NULL "
            f"OR (rule_id, subject_key) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
            [[k[0] for k in keys], [k[1] for k in keys]],
        )
    )


def save_subject_states(states: list[SubjectState]) -> None:
    insert(
        SubjectState,
        states,
        on_conflict="ON CONFLICT (rule_id, subject_key) DO UPDATE SET changes = EXCLUDED.changes, "
        "last_change_at = EXCLUDED.last_change_at, flapping_since = EXCLUDED.flapping_since",
    )


# --- Outbox ----------------------------------------------------------------------------

# Claim due rows: lock them (skipping rows another dispatcher holds), set a lease and
# count the attempt, in one short statement committed before anything is sent. A row
# whose lease ran out (its dispatcher died mid-send) is due again.
_CLAIM_SQL = f"""
UPDATE {NOTIFICATION} n SET claimed_until = %(lease)s, attempts = n.attempts + 1
FROM (SELECT id FROM {NOTIFICATION}
      WHERE status = 'pending' AND due_at <= %(now)s AND (claimed_until IS NULL OR claimed_until < %(now)s)
      ORDER BY due_at, id LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) c,
     {CHANNEL} ch
WHERE n.id = c.id AND ch.id = n.channel_id
RETURNING n.id, n.channel_id, n.idempotency_key, n.payload, n.attempts,
          ch.kind, ch.target, ch.secret, ch.enabled, ch.broken_at, ch.name
"""


def claim(now: datetime, lease_until: datetime, limit: int) -> list[tuple]:
    rows = fetch(_CLAIM_SQL, {"now": now, "lease": lease_until, "limit": limit})
    return [(*row[:3], _loads(row[3]), *row[4:]) for row in rows]


def record_deliveries(notifications: list, deliveries: list[Delivery], broken: list[Channel]) -> None:
    update(Notification, notifications, ["status", "due_at", "claimed_until", "sent_at", "last_error"])
    insert(Delivery, deliveries)
    update(Channel, broken, ["broken_at", "broken_reason"])
