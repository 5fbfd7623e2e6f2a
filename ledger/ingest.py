"""Set-based ingestion: one code path under RunLogger, REST and OpenLineage.

`ingest_events(events)` applies a batch of `RunEvent`s in one transaction with a
constant number of statements whatever the batch size:

1. upsert clients and pipelines (`INSERT … ON CONFLICT DO NOTHING`, then one SELECT:
   concurrent first sightings of a pipeline cannot race);
2. insert missing runs (`ON CONFLICT (pipeline_id, external_run_id) DO NOTHING
   RETURNING`, which also tells which runs are new), then lock every run of the batch
   with `SELECT … FOR UPDATE`, in key order so that concurrent batches cannot
   deadlock;
3. fold the events, sorted by event time, into the locked rows (`ledger.state`) and
   write the changed rows back with one `UPDATE … FROM unnest(…)`;
4. upsert run assets (new non-NULL values win), advance watermarks (`GREATEST`),
   insert check results (`ON CONFLICT DO NOTHING`: a replay adds nothing);
5. on commit, send `assets_ingested` with the normalized keys written.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from ledger import state
from ledger.keys import normalize_asset_key
from ledger.models import Run
from ledger.signals import assets_ingested

logger = logging.getLogger(__name__)

CREATED, UPDATED, DUPLICATE = "created", "updated", "duplicate"


@dataclass
class AssetIn:
    asset_key: str
    namespace: str | None = None
    kind: str = "table"
    direction: str = "output"
    partition_key: str = ""
    # None: not known yet (an OpenLineage START lists outputs before they are written).
    status: str | None = "success"
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    bytes_written: int | None = None
    min_event_time: datetime | None = None
    max_event_time: datetime | None = None
    extra: dict = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error_message: str = ""

    @property
    def normalized_key(self) -> str:
        return normalize_asset_key(self.asset_key, self.namespace)


@dataclass
class WatermarkIn:
    asset_key: str
    watermark_ts: datetime
    scope_key: str = ""
    namespace: str | None = None
    run_pk: int | None = None


@dataclass
class CheckIn:
    asset_key: str
    check_name: str
    status: str
    severity: str = "error"
    metrics: dict = field(default_factory=dict)
    message: str = ""
    partition_key: str = ""
    checked_at: datetime | None = None
    namespace: str | None = None
    run_pk: int | None = None


@dataclass
class ParentRef:
    pipeline: str
    external_run_id: str
    namespace: str = ""


@dataclass
class RunEvent:
    """One event about one run, whatever path it came by.

    `status` is a `Run` status, or `state.OTHER` (an event that changes no state).
    """

    pipeline: str
    external_run_id: str
    status: str
    event_time: datetime
    namespace: str = ""
    client: str = ""
    triggered_by: str = "api"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    nominal_time: datetime | None = None
    provider: str = ""
    storage_backend: str = ""
    args: dict = field(default_factory=dict)
    git_sha: str = ""
    app_version: str = ""
    error_type: str = ""
    error_message: str = ""
    error_stack_hash: str = ""
    parent: ParentRef | None = None
    assets: list[AssetIn] = field(default_factory=list)
    watermarks: list[WatermarkIn] = field(default_factory=list)
    checks: list[CheckIn] = field(default_factory=list)
    # Filled by ingest_events once the parent run's row is known.
    parent_run_id: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.pipeline)


@dataclass
class Outcome:
    status: str  # created | updated | duplicate
    run: Run
    anomaly: dict | None = None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


DEADLOCK_ATTEMPTS = 5


def retry_on_deadlock(fn):
    """Run `fn` (which opens the outermost transaction) again when PostgreSQL aborts
    it as a deadlock victim.

    Concurrent batches lock runs in key order, but a batch that meets runs committed by
    another one after its first snapshot locks those in a second statement, out of
    that order, so two batches can still wait on each other. PostgreSQL then aborts
    one; ingestion is idempotent, so applying the same events again, on top of what
    the other committed, gives the same ledger. Inside a caller's transaction nothing
    can be retried: the error goes up to whoever owns the transaction.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except OperationalError as exc:
                deadlock = isinstance(exc.__cause__, psycopg.errors.DeadlockDetected)
                if not deadlock or connection.in_atomic_block or attempt == DEADLOCK_ATTEMPTS:
                    raise
                logger.warning("ingestion was a deadlock victim; retrying (attempt %d)", attempt + 1)

    return wrapper


@retry_on_deadlock
def ingest_events(events: list[RunEvent]) -> list[Outcome]:
    """Apply `events` in one transaction; returns one outcome per event, in order."""
    if not events:
        return []
    # savepoint=False: inside a caller's transaction (OpenLineage) a savepoint would
    # cost two round trips and buy nothing: any error aborts the whole request.
    with transaction.atomic(savepoint=False):
        pipeline_ids = _upsert_pipelines(events)
        run_keys: dict[tuple[int, str], RunEvent] = {}
        for ev in events:
            if ev.parent:
                pkey = (pipeline_ids[(ev.parent.namespace, ev.parent.pipeline)], ev.parent.external_run_id)
                run_keys.setdefault(pkey, ev)
        for ev in events:
            run_keys[(pipeline_ids[ev.key], ev.external_run_id)] = ev
        created, runs = _insert_and_lock_runs(run_keys)
        outcomes = _fold(events, pipeline_ids, runs, created)
        keys = _write_children(events, pipeline_ids, runs)
    _announce(keys)
    return outcomes


def _fold(events, pipeline_ids, runs, created) -> list[Outcome]:
    changed: dict[int, Run] = {}
    seen: set[int] = set()
    outcomes: list[Outcome | None] = [None] * len(events)
    # Event-time order (then START before RUNNING before terminal) within the batch;
    # the state rules make arrival order irrelevant across batches.
    order = sorted(range(len(events)), key=lambda i: (events[i].event_time, _rank(events[i].status)))
    for i in order:
        ev = events[i]
        run = runs[(pipeline_ids[ev.key], ev.external_run_id)]
        if ev.parent:
            parent = runs[
                (pipeline_ids[(ev.parent.namespace, ev.parent.pipeline)], ev.parent.external_run_id)
            ]
            ev.parent_run_id = parent.pk
        t = state.apply_event(run, ev)
        if t.changed:
            changed[run.pk] = run
        first_of_new = run.pk in created and run.pk not in seen
        seen.add(run.pk)
        status = CREATED if first_of_new else (UPDATED if t.changed else DUPLICATE)
        outcomes[i] = Outcome(status, run, t.anomaly)
    _update_runs(list(changed.values()))
    return outcomes  # type: ignore[return-value]


def _rank(status: str) -> int:
    return {Run.STARTED: 0, Run.RUNNING: 1, state.OTHER: 2}.get(status, 3)


def _upsert_pipelines(events: list[RunEvent]) -> dict[tuple[str, str], int]:
    wanted: dict[tuple[str, str], str] = {}
    for ev in events:
        wanted.setdefault(ev.key, "")
        if ev.client:
            wanted[ev.key] = wanted[ev.key] or ev.client
        if ev.parent:
            wanted.setdefault((ev.parent.namespace, ev.parent.pipeline), "")
    client_names = sorted({c for c in wanted.values() if c})
    with connection.cursor() as cur:
        if client_names:
            cur.execute(
                "INSERT INTO ledger_client (name, description, created_at) "
                "SELECT n, '', now() FROM unnest(%s::text[]) AS n ORDER BY n ON CONFLICT (name) DO NOTHING",
                [client_names],
            )
        keys = sorted(wanted)
        namespaces, names = [k[0] for k in keys], [k[1] for k in keys]
        clients = [wanted[k] for k in keys]
        # One round trip: insert the missing pipelines (sorted: two batches meeting the
        # same new pipelines wait, never deadlock) and read all of them back. RETURNING
        # gives the new rows, the join the old ones; a row committed by a concurrent
        # batch after this statement's snapshot is in neither, and is read again below.
        cur.execute(
            """
            WITH v AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(ns, n, client)),
            ins AS (
                INSERT INTO ledger_pipeline (namespace, name, owner, description, schedule_cron,
                                             schedule_timezone, created_at)
                SELECT ns, n, '', '', '', 'UTC', now() FROM v ORDER BY ns, n
                ON CONFLICT (namespace, name) DO NOTHING
                RETURNING id, namespace, name, client_id
            ),
            found AS (
                SELECT id, namespace, name, client_id FROM ins
                UNION ALL
                SELECT p.id, p.namespace, p.name, p.client_id FROM ledger_pipeline p
                JOIN v ON p.namespace = v.ns AND p.name = v.n
            )
            SELECT f.id, f.namespace, f.name, f.client_id, c.id
            FROM found f JOIN v ON f.namespace = v.ns AND f.name = v.n
            LEFT JOIN ledger_client c ON c.name = v.client
            """,
            [namespaces, names, clients],
        )
        rows = cur.fetchall()
        if len(rows) < len(keys):
            cur.execute(
                """
                SELECT p.id, p.namespace, p.name, p.client_id, c.id
                FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(ns, n, client)
                JOIN ledger_pipeline p ON p.namespace = v.ns AND p.name = v.n
                LEFT JOIN ledger_client c ON c.name = v.client
                """,
                [namespaces, names, clients],
            )
            rows = cur.fetchall()
        to_link = [(pid, cid) for pid, _, _, current, cid in rows if cid and current is None]
        if to_link:
            cur.execute(
                "UPDATE ledger_pipeline p SET client_id = v.cid FROM unnest(%s::bigint[], %s::bigint[]) "
                "AS v(pid, cid) WHERE p.id = v.pid AND p.client_id IS NULL",
                [[p for p, _ in to_link], [c for _, c in to_link]],
            )
    return {(ns, n): pid for pid, ns, n, _, _ in rows}


def _insert_and_lock_runs(run_keys: dict[tuple[int, str], RunEvent]) -> tuple[set[int], dict]:
    keys = sorted(run_keys)
    pids, ext_ids = [k[0] for k in keys], [k[1] for k in keys]
    triggers = [run_keys[k].triggered_by for k in keys]
    # One round trip in the common case: insert the missing runs and lock the existing
    # ones (in key order: concurrent batches cannot deadlock). New rows come from
    # RETURNING; a run committed by a concurrent batch after this statement's snapshot
    # is in neither part and is locked by a second statement.
    query = """
        WITH v AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(pid, ext, trig)),
        ins AS (
            INSERT INTO ledger_run (run_id, pipeline_id, external_run_id, external_run_id_is_uuid,
                triggered_by, status, provider, storage_backend, args, git_sha, app_version,
                error_type, error_message, error_stack_hash, anomalies, created_at, updated_at)
            SELECT gen_random_uuid(), pid, ext, ext ~* '^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$',
                trig, 'started', '', '', '{}', '', '', '', '', '', '[]', now(), now()
            FROM v ORDER BY pid, ext
            ON CONFLICT (pipeline_id, external_run_id) DO NOTHING
            RETURNING *
        ),
        locked AS (
            SELECT r.* FROM ledger_run r JOIN v ON r.pipeline_id = v.pid AND r.external_run_id = v.ext
            ORDER BY r.pipeline_id, r.external_run_id
            FOR UPDATE OF r
        )
        SELECT ins.*, true AS is_new FROM ins
        UNION ALL
        SELECT locked.*, false FROM locked
    """
    found = {(r.pipeline_id, r.external_run_id): r for r in Run.objects.raw(query, [pids, ext_ids, triggers])}
    created = {r.pk for r in found.values() if r.is_new}
    missing = [k for k in keys if k not in found]
    if missing:
        for r in Run.objects.raw(
            """
            SELECT r.* FROM ledger_run r
            JOIN unnest(%s::bigint[], %s::text[]) AS v(pid, ext)
              ON r.pipeline_id = v.pid AND r.external_run_id = v.ext
            ORDER BY r.pipeline_id, r.external_run_id
            FOR UPDATE OF r
            """,
            [[k[0] for k in missing], [k[1] for k in missing]],
        ):
            found[(r.pipeline_id, r.external_run_id)] = r
    return created, found


_RUN_COLUMNS = [
    ("status", "text"),
    ("started_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("duration_ms", "bigint"),
    ("last_event_at", "timestamptz"),
    ("nominal_time", "timestamptz"),
    ("parent_run_id", "bigint"),
    ("provider", "text"),
    ("storage_backend", "text"),
    ("args", "jsonb"),
    ("git_sha", "text"),
    ("app_version", "text"),
    ("error_type", "text"),
    ("error_message", "text"),
    ("error_stack_hash", "text"),
    ("anomalies", "jsonb"),
]


def _update_runs(runs: list[Run]) -> None:
    if not runs:
        return
    runs.sort(key=lambda r: r.pk)
    columns = [[r.pk for r in runs]]
    for name, kind in _RUN_COLUMNS:
        values = [getattr(r, name) for r in runs]
        columns.append([json.dumps(v) for v in values] if kind == "jsonb" else values)
    arrays = ", ".join(["%s::bigint[]"] + [f"%s::{'text' if k == 'jsonb' else k}[]" for _, k in _RUN_COLUMNS])
    names = ", ".join(["id"] + [n for n, _ in _RUN_COLUMNS])
    sets = ", ".join(f"{n} = v.{n}{'::jsonb' if k == 'jsonb' else ''}" for n, k in _RUN_COLUMNS)
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE ledger_run r SET {sets}, updated_at = now() "
            f"FROM unnest({arrays}) AS v({names}) WHERE r.id = v.id",
            columns,
        )


def _write_children(events, pipeline_ids, runs) -> set[str]:
    assets: dict[tuple[int, str, str], tuple[datetime, AssetIn]] = {}
    watermarks: list[WatermarkIn] = []
    checks: list[CheckIn] = []
    for ev in events:
        run = runs[(pipeline_ids[ev.key], ev.external_run_id)]
        for a in ev.assets:
            assets[(run.pk, a.asset_key, a.partition_key)] = _merge_asset(
                assets.get((run.pk, a.asset_key, a.partition_key)), ev.event_time, a
            )
        for w in ev.watermarks:
            w.run_pk = run.pk
            watermarks.append(w)
        for c in ev.checks:
            c.run_pk = run.pk
            c.checked_at = c.checked_at or ev.event_time
            checks.append(c)
    keys = upsert_assets([(k[0], a) for k, (_, a) in sorted(assets.items())])
    keys |= advance_watermarks(watermarks, announce=False)
    keys |= insert_checks(checks, announce=False)
    return keys


def _merge_asset(current, event_time: datetime, new: AssetIn):
    """Two events of one batch naming one asset: the later event's known values win."""
    if current is None:
        return (event_time, new)
    first, second = (current[1], new) if current[0] <= event_time else (new, current[1])
    merged = AssetIn(
        **{
            f: getattr(second, f) if getattr(second, f) not in (None, "", {}) else getattr(first, f)
            for f in AssetIn.__dataclass_fields__
        }
    )
    if "output" in (first.direction, second.direction):
        merged.direction = "output"  # read and written by the run: the write is what matters
    return (max(current[0], event_time), merged)


def upsert_assets(rows: list[tuple[int, AssetIn]]) -> set[str]:
    """Insert or complete run assets; a NULL (unknown) never overwrites a known value.

    Two statements: assets whose status is known set it, the others (an OpenLineage
    START lists outputs before they are written) insert as 'skipped' and leave an
    existing status alone.
    """
    known = [r for r in rows if r[1].status is not None]
    unknown = [r for r in rows if r[1].status is None]
    _upsert_asset_rows(known, set_status=True)
    _upsert_asset_rows(unknown, set_status=False)
    return {a.normalized_key for _, a in rows}


def _upsert_asset_rows(rows: list[tuple[int, AssetIn]], set_status: bool) -> None:
    if not rows:
        return
    cols = {
        "run_id": ("bigint", [r for r, _ in rows]),
        "asset_key": ("text", [a.asset_key for _, a in rows]),
        "normalized_key": ("text", [a.normalized_key for _, a in rows]),
        "kind": ("text", [a.kind for _, a in rows]),
        "direction": ("text", [a.direction for _, a in rows]),
        "partition_key": ("text", [a.partition_key for _, a in rows]),
        "status": ("text", [a.status for _, a in rows]),
        "rows_inserted": ("bigint", [a.rows_inserted for _, a in rows]),
        "rows_updated": ("bigint", [a.rows_updated for _, a in rows]),
        "rows_deleted": ("bigint", [a.rows_deleted for _, a in rows]),
        "bytes_written": ("bigint", [a.bytes_written for _, a in rows]),
        "min_event_time": ("timestamptz", [a.min_event_time for _, a in rows]),
        "max_event_time": ("timestamptz", [a.max_event_time for _, a in rows]),
        "extra": ("text", [json.dumps(a.extra) for _, a in rows]),
        "started_at": ("timestamptz", [a.started_at for _, a in rows]),
        "ended_at": ("timestamptz", [a.ended_at for _, a in rows]),
        "error_message": ("text", [a.error_message for _, a in rows]),
    }
    names = list(cols)
    select = ", ".join(
        {"extra": "v.extra::jsonb", "status": "coalesce(v.status, 'skipped')"}.get(n, f"v.{n}") for n in names
    )
    merge = [f"{n} = coalesce(EXCLUDED.{n}, t.{n})" for n in names[7:] if n not in ("extra", "error_message")]
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO ledger_runasset AS t ({", ".join(names)}, duration_ms, created_at)
            SELECT {select},
                   (extract(epoch FROM v.ended_at - v.started_at) * 1000)::bigint, now()
            FROM unnest({", ".join(f"%s::{k}[]" for k, _ in cols.values())}) AS v({", ".join(names)})
            ON CONFLICT (run_id, asset_key, partition_key) DO UPDATE SET
                {", ".join(merge)},
                {"status = EXCLUDED.status," if set_status else ""}
                direction = CASE WHEN 'output' IN (t.direction, EXCLUDED.direction) THEN 'output'
                                 ELSE 'input' END,
                extra = t.extra || EXCLUDED.extra,
                error_message = CASE WHEN EXCLUDED.error_message = '' THEN t.error_message
                                     ELSE EXCLUDED.error_message END,
                duration_ms = (extract(epoch FROM coalesce(EXCLUDED.ended_at, t.ended_at)
                               - coalesce(EXCLUDED.started_at, t.started_at)) * 1000)::bigint
            """,
            [v for _, v in cols.values()],
        )


def advance_watermarks(marks: list[WatermarkIn], announce: bool = True) -> set[str]:
    """Upsert watermarks; `GREATEST` keeps them monotonic whatever the arrival order.

    `last_run` and `updated_at` move only when the watermark itself moves.
    """
    if not marks:
        return set()
    best: dict[tuple[str, str], WatermarkIn] = {}
    for w in marks:
        cur = best.get((w.asset_key, w.scope_key))
        if cur is None or w.watermark_ts > cur.watermark_ts:
            best[(w.asset_key, w.scope_key)] = w
    rows = [best[k] for k in sorted(best)]
    keys = {normalize_asset_key(w.asset_key, w.namespace) for w in rows}
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ledger_watermark AS t (asset_key, normalized_key, scope_key, watermark_ts,
                                               updated_at, last_run_id)
            SELECT v.k, v.nk, v.s, v.ts, now(), v.run
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::bigint[])
                 AS v(k, nk, s, ts, run)
            ORDER BY v.k, v.s  -- one lock order for every writer: no deadlocks
            ON CONFLICT (asset_key, scope_key) DO UPDATE SET
                watermark_ts = GREATEST(t.watermark_ts, EXCLUDED.watermark_ts),
                updated_at = CASE WHEN EXCLUDED.watermark_ts > t.watermark_ts THEN now()
                                  ELSE t.updated_at END,
                last_run_id = CASE WHEN EXCLUDED.watermark_ts > t.watermark_ts
                                   THEN coalesce(EXCLUDED.last_run_id, t.last_run_id)
                                   ELSE t.last_run_id END
            """,
            [
                [w.asset_key for w in rows],
                [normalize_asset_key(w.asset_key, w.namespace) for w in rows],
                [w.scope_key for w in rows],
                [w.watermark_ts for w in rows],
                [w.run_pk for w in rows],
            ],
        )
    if announce:
        _announce(keys)
    return keys


def insert_checks(checks: list[CheckIn], announce: bool = True) -> set[str]:
    """Insert check results; an exact replay (same run, asset, partition, check and
    time) is skipped by the unique constraint, so ingestion stays idempotent."""
    if not checks:
        return set()
    now = timezone.now()
    keys = {normalize_asset_key(c.asset_key, c.namespace) for c in checks}
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO ledger_checkresult (asset_key, normalized_key, partition_key, check_name,
                severity, status, metrics, message, run_id, checked_at)
            SELECT v.k, v.nk, v.p, v.name, v.sev, v.st, v.m::jsonb, v.msg, v.run, v.at
            FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                        %s::text[], %s::text[], %s::bigint[], %s::timestamptz[])
                 AS v(k, nk, p, name, sev, st, m, msg, run, at)
            ORDER BY v.run, v.k, v.p, v.name, v.at  -- one lock order for every writer
            ON CONFLICT DO NOTHING
            """,
            [
                [c.asset_key for c in checks],
                [normalize_asset_key(c.asset_key, c.namespace) for c in checks],
                [c.partition_key for c in checks],
                [c.check_name for c in checks],
                [c.severity for c in checks],
                [c.status for c in checks],
                [json.dumps(c.metrics) for c in checks],
                [c.message for c in checks],
                [c.run_pk for c in checks],
                [c.checked_at or now for c in checks],
            ],
        )
    if announce:
        _announce(keys)
    return keys


def _announce(keys: Iterable[str]) -> None:
    keys = set(keys)
    if keys:
        transaction.on_commit(lambda: _send(keys))


def _send(keys: set[str]) -> None:
    # The rows are committed: a failing receiver must not turn the answer into a 5xx
    # (an OpenLineage client would resend the event five times). It is logged instead.
    for receiver, result in assets_ingested.send_robust(sender=Run, keys=keys):
        if isinstance(result, Exception):
            logger.error("assets_ingested receiver %r failed", receiver, exc_info=result)
