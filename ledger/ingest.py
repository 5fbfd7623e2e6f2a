"""Set-based ingestion: one code path under RunLogger, REST and OpenLineage.

`ingest_events(events)` applies a batch of `RunEvent`s in one transaction with a
constant number of statements whatever the batch size, two in the common case:

1. `lock`: one statement reads the batch's pipelines and locks its existing runs
   (`SELECT … FOR UPDATE`, in key order so that concurrent batches cannot deadlock).
   A pipeline seen for the first time, or a client to create or link, adds
   `_upsert_pipelines` (`INSERT … ON CONFLICT DO NOTHING`, then a read).
2. `fold`: the events, sorted by event time, are applied to the locked rows and to
   new unsaved runs by the state machine (`Run.record_event`).
3. `insert_new_runs`: new runs are inserted with their final state (`ON CONFLICT DO
   NOTHING RETURNING`); a run a concurrent batch inserted meanwhile is locked and
   the events are applied to it instead.
4. `write`: one statement updates the changed runs and upserts run assets (new
   non-NULL values win), watermarks (`GREATEST`) and check results (`ON CONFLICT DO
   NOTHING`: a replay adds nothing), each a CTE.
5. On commit, `assets_ingested` is sent with the normalized keys written.

Rows travel as one JSON document per statement (`ledger.queries`), whose column lists
follow the models' `_meta`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import psycopg
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from ledger.keys import normalize_asset_key
from ledger.models import CheckResult, Client, Pipeline, Run, RunAsset, Watermark
from ledger.queries import (
    Write,
    execute_writes,
    field_defaults,
    json_rows,
    lock_runs_sql,
    model_columns,
    recordset,
)
from ledger.signals import assets_ingested

logger = logging.getLogger(__name__)

_RUN, _ASSET, _CLIENT, _PIPELINE = (m._meta.db_table for m in (Run, RunAsset, Client, Pipeline))

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

    @property
    def normalized_key(self) -> str:
        return normalize_asset_key(self.asset_key, self.namespace)


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

    @property
    def normalized_key(self) -> str:
        return normalize_asset_key(self.asset_key, self.namespace)

    @property
    def run_id(self) -> int | None:
        """The column `run_pk` is written to."""
        return self.run_pk


@dataclass
class ParentRef:
    pipeline: str
    external_run_id: str
    namespace: str = ""


@dataclass
class RunEvent:
    """One event about one run, whatever path it came by.

    `status` is a `Run` status, or `Run.OTHER` (an event that changes no state).
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
        batch = _Batch(events)
        batch.lock()
        batch.fold()
        batch.insert_new_runs()
        keys = batch.write()
    _announce(keys)
    return batch.outcomes  # type: ignore[return-value]


RunKey = tuple[str, str, str]  # namespace, pipeline, external run id


def _run_key(ev: RunEvent) -> RunKey:
    return (ev.namespace, ev.pipeline, ev.external_run_id)


def _parent_key(ev: RunEvent) -> RunKey:
    return (ev.parent.namespace, ev.parent.pipeline, ev.parent.external_run_id)


# The same test as the INSERT's former `~*` (hyphens optional, any case).
_UUID_LIKE = re.compile(r"^[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}$", re.IGNORECASE)
_RUN_FIELDS = [f for f in Run._meta.concrete_fields]
_RUN_SELECT = ", ".join(f"r.{f.column}" for f in _RUN_FIELDS)


class _LockKey(NamedTuple):
    ns: str
    n: str
    ext: str
    client: str


_LOCK_KEY_COLUMNS = [("ns", "text"), ("n", "text"), ("ext", "text"), ("client", "text")]
_LOCK_SQL = lock_runs_sql(_LOCK_KEY_COLUMNS, _RUN_SELECT)


class _Batch:
    """One batch through the four steps of `ingest_events`.

    `runs` maps every run key of the batch (parents included) to its `Run`: the row
    locked by `lock()`, or a new unsaved one (pk None) that `fold()` fills from its
    events and `insert_new_runs()` inserts with its final state, so a new run costs
    one INSERT, not an INSERT and an UPDATE.
    """

    def __init__(self, events: list[RunEvent]):
        self.events = events
        # Event-time order (then START before RUNNING before terminal) within the batch;
        # the state rules make arrival order irrelevant across batches.
        self.order = sorted(range(len(events)), key=lambda i: (events[i].event_time, _rank(events[i].status)))
        keys: dict[RunKey, None] = {}
        for i in self.order:
            ev = events[i]
            if ev.parent:
                keys.setdefault(_parent_key(ev))
            keys.setdefault(_run_key(ev))
        self.keys = sorted(keys)  # one lock order for every writer
        self.runs: dict[RunKey, Run] = {}
        self.new: set[RunKey] = set()  # runs this batch inserts
        self.dirty: set[RunKey] = set()  # existing runs to write back
        self.outcomes: list[Outcome | None] = [None] * len(events)

    def lock(self) -> None:
        """Read the pipelines and lock the existing runs (one statement). A pipeline
        seen for the first time, or a client to link, costs `_upsert_pipelines` too."""
        rows = self._lock_rows()
        if any(pid is None or linkable for ns, n, _, pid, linkable, _ in rows):
            pipelines = _upsert_pipelines(self.events)
            if any(pid is None and not pipelines[(ns, n)][1] for ns, n, _, pid, _, _ in rows):
                # Created by a concurrent batch since the read: it may have runs too.
                rows = self._lock_rows()
            else:
                # Pipelines created here have no runs yet: all of theirs are new.
                rows = [
                    (ns, n, ext, pid or pipelines[(ns, n)][0], cid, v) for ns, n, ext, pid, cid, v in rows
                ]
        first_trigger: dict[RunKey, str] = {}
        for i in self.order:
            first_trigger.setdefault(_run_key(self.events[i]), self.events[i].triggered_by)
        for ns, n, ext, pid, _, values in rows:
            key = (ns, n, ext)
            if values[0] is not None:
                self.runs[key] = _run_from_row(values)
            else:
                self.new.add(key)
                self.runs[key] = Run(
                    pipeline_id=pid,
                    external_run_id=ext,
                    external_run_id_is_uuid=bool(_UUID_LIKE.match(ext)),
                    triggered_by=first_trigger.get(key, "api"),
                )

    def _lock_rows(self) -> list[tuple]:
        """(namespace, pipeline, run id, pipeline id, client to create or link, run row)
        for every run key; a run row of NULLs when the run does not exist."""
        clients: dict[tuple[str, str], str] = {}
        for ev in self.events:
            if ev.client:
                clients.setdefault((ev.namespace, ev.pipeline), ev.client)
        keys = [_LockKey(*k, clients.get(k[:2], "")) for k in self.keys]
        with connection.cursor() as cur:
            cur.execute(
                _LOCK_SQL,
                [json_rows(keys, _LOCK_KEY_COLUMNS)],
            )
            return [(*row[:5], row[5:]) for row in cur.fetchall()]

    def fold(self, only: set[RunKey] | None = None) -> None:
        """Apply the events (all, or those of the runs in `only`) to their runs."""
        seen: set[RunKey] = set()
        for i in self.order:
            ev = self.events[i]
            key = _run_key(ev)
            if only is not None and key not in only:
                continue
            run = self.runs[key]
            if ev.parent:
                ev.parent_run_id = self.runs[_parent_key(ev)].pk  # None while the parent is new
            t = run.record_event(ev)
            if t.changed and key not in self.new:
                self.dirty.add(key)
            first_of_new = key in self.new and key not in seen
            seen.add(key)
            status = CREATED if first_of_new else (UPDATED if t.changed else DUPLICATE)
            self.outcomes[i] = Outcome(status, run, t.anomaly)

    def insert_new_runs(self) -> None:
        """Insert the new runs with their folded state. A run that a concurrent batch
        inserted after `lock()` read is locked now and the events are applied to it
        instead; a new parent's id, known only now, is linked by applying its
        children's events again (a duplicate changes nothing else)."""
        if not self.new:
            return
        keys = sorted(self.new)
        runs = [self.runs[k] for k in keys]
        with connection.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO {_RUN} ({_NEW_RUN_NAMES}, created_at, updated_at)
                SELECT {_NEW_RUN_NAMES}, now(), now() FROM {recordset(_NEW_RUN_COLUMNS)}
                ORDER BY pipeline_id, external_run_id
                ON CONFLICT (pipeline_id, external_run_id) DO NOTHING
                RETURNING id, pipeline_id, external_run_id
                """,
                [json_rows(runs, _NEW_RUN_COLUMNS)],
            )
            inserted = {(pid, ext): pk for pk, pid, ext in cur.fetchall()}
        lost = set()
        for key, run in zip(keys, runs, strict=True):
            run.pk = inserted.get((run.pipeline_id, run.external_run_id))
            if run.pk is None:
                lost.add(key)
        if lost:
            self._relock(lost)
        orphans = {
            _run_key(ev)
            for ev in self.events
            if ev.parent and ev.parent_run_id is None and _run_key(ev) not in lost
        }
        self.new -= lost
        if lost or orphans:
            self.fold(only=lost)
            self._link_parents(orphans)

    def _relock(self, keys: set[RunKey]) -> None:
        runs = [self.runs[k] for k in sorted(keys)]
        with connection.cursor() as cur:
            cur.execute(
                f"""
                SELECT {_RUN_SELECT} FROM {_RUN} r
                JOIN {recordset(_RUN_KEY_COLUMNS)}
                  ON r.pipeline_id = v.pipeline_id AND r.external_run_id = v.external_run_id
                ORDER BY r.pipeline_id, r.external_run_id
                FOR UPDATE OF r
                """,
                [json_rows(runs, _RUN_KEY_COLUMNS)],
            )
            found = {(r.pipeline_id, r.external_run_id): r for r in map(_run_from_row, cur.fetchall())}
        for key in keys:
            old = self.runs[key]
            self.runs[key] = found[(old.pipeline_id, old.external_run_id)]

    def _link_parents(self, keys: set[RunKey]) -> None:
        for i in self.order:
            ev = self.events[i]
            key = _run_key(ev)
            if ev.parent and key in keys:
                ev.parent_run_id = self.runs[_parent_key(ev)].pk
                if self.runs[key].record_event(ev).changed:
                    self.dirty.add(key)

    def write(self) -> set[str]:
        """Write back the changed existing runs and every child row in one statement;
        returns the normalized asset keys written."""
        assets: dict[tuple[int, str, str], tuple[datetime, AssetIn]] = {}
        watermarks: list[WatermarkIn] = []
        checks: list[CheckIn] = []
        for ev in self.events:
            run = self.runs[_run_key(ev)]
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
        asset_rows = [(k[0], a) for k, (_, a) in sorted(assets.items())]
        execute_writes(
            [
                _update_runs([self.runs[k] for k in self.dirty]),
                *_asset_writes(asset_rows),
                Watermark.objects.advance_statement(watermarks),
                _check_write(checks),
            ]
        )
        return (
            {a.normalized_key for _, a in asset_rows}
            | {normalize_asset_key(w.asset_key, w.namespace) for w in watermarks}
            | {normalize_asset_key(c.asset_key, c.namespace) for c in checks}
        )


def _run_from_row(values) -> Run:
    run = Run.from_db(connection.alias, [f.attname for f in _RUN_FIELDS], values)
    # Django reads jsonb as text (its JSONField decodes it; from_db does not).
    run.args = json.loads(run.args) if isinstance(run.args, str) else run.args
    run.anomalies = json.loads(run.anomalies) if isinstance(run.anomalies, str) else run.anomalies
    return run


def _rank(status: str) -> int:
    return {Run.STARTED: 0, Run.RUNNING: 1, Run.OTHER: 2}.get(status, 3)


def _upsert_pipelines(events: list[RunEvent]) -> dict[tuple[str, str], tuple[int, bool]]:
    """Create the missing clients and pipelines, link pipelines to their client when
    they have none; returns {(namespace, name): (id, created by this call)}."""
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
                f"INSERT INTO {_CLIENT} (name, description, created_at) "
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
            f"""
            WITH v AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(ns, n, client)),
            ins AS (
                INSERT INTO {_PIPELINE} (namespace, name, owner, description, schedule_cron,
                                             schedule_timezone, created_at)
                SELECT ns, n, '', '', '', 'UTC', now() FROM v ORDER BY ns, n
                ON CONFLICT (namespace, name) DO NOTHING
                RETURNING id, namespace, name, client_id
            ),
            found AS (
                SELECT id, namespace, name, client_id, true AS created FROM ins
                UNION ALL
                SELECT p.id, p.namespace, p.name, p.client_id, false FROM {_PIPELINE} p
                JOIN v ON p.namespace = v.ns AND p.name = v.n
            )
            SELECT f.id, f.namespace, f.name, f.client_id, c.id, f.created
            FROM found f JOIN v ON f.namespace = v.ns AND f.name = v.n
            LEFT JOIN {_CLIENT} c ON c.name = v.client
            """,
            [namespaces, names, clients],
        )
        rows = cur.fetchall()
        if len(rows) < len(keys):
            cur.execute(
                f"""
                SELECT p.id, p.namespace, p.name, p.client_id, c.id, false
                FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(ns, n, client)
                JOIN {_PIPELINE} p ON p.namespace = v.ns AND p.name = v.n
                LEFT JOIN {_CLIENT} c ON c.name = v.client
                """,
                [namespaces, names, clients],
            )
            rows = cur.fetchall()
        to_link = [(pid, cid) for pid, _, _, current, cid, _ in rows if cid and current is None]
        if to_link:
            cur.execute(
                f"UPDATE {_PIPELINE} p SET client_id = v.cid FROM unnest(%s::bigint[], %s::bigint[]) "
                "AS v(pid, cid) WHERE p.id = v.pid AND p.client_id IS NULL",
                [[p for p, _ in to_link], [c for _, c in to_link]],
            )
    return {(ns, n): (pid, created) for pid, ns, n, _, _, created in rows}


# Column lists follow the models (`queries.model_columns`). A run's identity is written
# once, by the INSERT; every other stored column is its state, which the UPDATE writes
# back. The database sets the times of the row itself.
_ROW_TIMES = ["id", "created_at", "updated_at"]
_RUN_IDENTITY = ["run_id", "pipeline_id", "external_run_id", "external_run_id_is_uuid", "triggered_by"]
_RUN_COLUMNS = model_columns(Run, exclude=[*_ROW_TIMES, *_RUN_IDENTITY])
_RUN_KEY_COLUMNS = [c for c in model_columns(Run) if c[0] in ("pipeline_id", "external_run_id")]
_NEW_RUN_COLUMNS = model_columns(Run, exclude=_ROW_TIMES)
_NEW_RUN_NAMES = ", ".join(n for n, _ in _NEW_RUN_COLUMNS)


def _update_runs(runs: list[Run]) -> Write:
    if not runs:
        return None
    runs.sort(key=lambda r: r.pk)
    sets = ", ".join(f"{n} = v.{n}" for n, _ in _RUN_COLUMNS)
    columns = [("id", "bigint"), *_RUN_COLUMNS]
    return (
        f"UPDATE {_RUN} r SET {sets}, updated_at = now() FROM {recordset(columns)} WHERE r.id = v.id",
        [json_rows(runs, columns)],
    )


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


def _asset_writes(rows: list[tuple[int, AssetIn]]) -> list[Write]:
    """Insert or complete run assets; a NULL (unknown) never overwrites a known value.

    Two statements: assets whose status is known set it, the others (an OpenLineage
    START lists outputs before they are written) insert as 'skipped' and leave an
    existing status alone.
    """
    return [
        _asset_write([r for r in rows if r[1].status is not None], set_status=True),
        _asset_write([r for r in rows if r[1].status is None], set_status=False),
    ]


def _asset_write(rows: list[tuple[int, AssetIn]], set_status: bool) -> Write:
    if not rows:
        return None
    rows = [_AssetRow(run_id, a) for run_id, a in rows]
    names = [n for n, _ in _ASSET_COLUMNS]
    select = ", ".join({"status": "coalesce(v.status, 'skipped')"}.get(n, f"v.{n}") for n in names)
    merge = [f"{n} = coalesce(EXCLUDED.{n}, t.{n})" for n in names if n not in _ASSET_UNMERGED]
    return (
        f"""
            INSERT INTO {_ASSET} AS t ({", ".join(names)}, duration_ms, created_at)
            SELECT {select},
                   (extract(epoch FROM v.ended_at - v.started_at) * 1000)::bigint, now()
            FROM {recordset(_ASSET_COLUMNS)}
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
        [json_rows(rows, _ASSET_COLUMNS, _ASSET_DEFAULTS)],
    )


# duration_ms is computed from the times; a column AssetIn does not carry takes the
# model field's default.
_ASSET_COLUMNS = model_columns(RunAsset, exclude=["id", "duration_ms", "created_at"])
_ASSET_DEFAULTS = field_defaults(RunAsset)
# Identity and the columns with their own merge rule; any other column keeps a known
# value against an unknown (NULL) one.
_ASSET_UNMERGED = {
    "run_id", "asset_key", "normalized_key", "kind", "partition_key", "status", "direction", "extra",
    "error_message",
}  # fmt: skip


class _AssetRow:
    """An `AssetIn` with the id of its run, as `json_rows` reads it."""

    def __init__(self, run_id: int, asset: AssetIn):
        self.run_id, self.asset = run_id, asset

    def __getattr__(self, name: str):
        return getattr(self.asset, name)


def advance_watermarks(marks: list[WatermarkIn]) -> None:
    """Advance watermarks (`Watermark.objects.advance`) and link their keys once committed."""
    Watermark.objects.advance(marks)
    _announce(normalize_asset_key(w.asset_key, w.namespace) for w in marks)


def insert_checks(checks: list[CheckIn]) -> None:
    """Insert check results (see `_check_write`) and link their keys once committed."""
    execute_writes([_check_write(checks)])
    _announce(normalize_asset_key(c.asset_key, c.namespace) for c in checks)


def _check_write(checks: list[CheckIn]) -> Write:
    """Insert check results; an exact replay (same run, asset, partition, check and
    time) is skipped by the unique constraint, so ingestion stays idempotent."""
    if not checks:
        return None
    now = timezone.now()
    for c in checks:
        c.checked_at = c.checked_at or now
    return (
        f"""
            INSERT INTO {CheckResult._meta.db_table} ({_CHECK_NAMES})
            SELECT {_CHECK_NAMES}
            FROM {recordset(_CHECK_COLUMNS)}
            -- one lock order for every writer
            ORDER BY v.run_id, v.asset_key, v.partition_key, v.check_name, v.checked_at
            ON CONFLICT DO NOTHING
            """,
        [json_rows(checks, _CHECK_COLUMNS)],
    )


_CHECK_COLUMNS = model_columns(CheckResult, exclude=["id"])
_CHECK_NAMES = ", ".join(n for n, _ in _CHECK_COLUMNS)


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
