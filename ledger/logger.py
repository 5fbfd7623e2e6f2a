"""`RunLogger`: record a Python job in the ledger.

    with RunLogger("opshealth.discover", triggered_by="cli", args={...}) as run:
        run.log_asset("mart.daily_sales", kind="matview", rows_inserted=10)
        run.update_watermark("raw.orders", ts)
        run.record_check("raw.orders", "not_null(order_id)", status="pass")

The rule about transactions: **enter RunLogger outside any `transaction.atomic()`
block** (entering inside one raises `RunLoggerInAtomicBlock`). Its own writes are
then committed at once, so the `started` row, and the `failed` row when the body
raises, survive whatever the body's transactions do. The body may open atomic blocks
of its own (discovery writes the registry in one): calls made *inside* such a block

- `log_asset` and `record_check` are kept and written when the RunLogger closes,
  so they survive a rollback of that block (they record what was attempted);
- `update_watermark` is applied on the commit of that block, and dropped if it rolls
  back: a watermark says data was loaded, which a rollback undid.

`run_context()` lets a caller that runs someone else's job learn which runs it
recorded (an action links the run it produced) and give them a parent (a retry is a
run whose parent is the failed run), without passing anything through the job.

What the API refuses, RunLogger refuses too, raising `ledger.bounds.Refused` (a
`ValueError` naming the field): a time outside the ledger's window, text PostgreSQL
cannot store, `args`/`extra`/`metrics` nested deeper than `OPSHEALTH_MAX_JSON_DEPTH`.
"""

from __future__ import annotations

import hashlib
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from django.db import transaction
from django.utils import timezone

from ledger import bounds, ingest
from ledger.models import Run


@dataclass
class RunContext:
    parent: Run | None = None
    runs: list[Run] = field(default_factory=list)


_context: ContextVar[RunContext | None] = ContextVar("opshealth_run_context", default=None)


@contextmanager
def run_context(*, parent: Run | None = None) -> Iterator[list[Run]]:
    """Collect the runs RunLoggers start inside the block (the yielded list), and give
    `parent` as parent run to those that name none."""
    ctx = RunContext(parent)
    token = _context.set(ctx)
    try:
        yield ctx.runs
    finally:
        _context.reset(token)


class RunLoggerInAtomicBlock(RuntimeError):
    """RunLogger was entered inside a transaction it could not outlive."""


def stack_hash(exc: BaseException) -> str:
    """A hash stable across runs and unrelated edits: the exception type and the
    (module, function) of every frame, without line numbers or addresses."""
    parts = [f"{type(exc).__module__}.{type(exc).__qualname__}"]
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        parts.append(f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _in_callers_transaction() -> bool:
    """True inside an atomic block of the caller.

    The blocks a Django/pytest-django test case wraps each test in are not the
    caller's (Django marks them `_from_testcase`): tests with the `db` fixture can use
    RunLogger, its writes then rolled back with the test like everything else.
    """
    blocks = transaction.get_connection().atomic_blocks
    return any(not getattr(block, "_from_testcase", False) for block in blocks)


class RunLogger:
    def __init__(
        self,
        pipeline: str,
        *,
        triggered_by: str = "cli",
        args: dict | None = None,
        client: str | None = None,
        external_run_id: str | None = None,
        parent_run: Run | None = None,
        git_sha: str = "",
        app_version: str = "",
        namespace: str = "",
        provider: str = "",
        storage_backend: str = "",
        clock: Callable[[], datetime] = timezone.now,
    ):
        # Every timestamp the run records comes from `clock`: a backfill (or the demo's
        # simulated history) passes its own to record runs that happened in the past.
        self.clock = clock
        self.pipeline = pipeline
        self.namespace = namespace
        self.external_run_id = external_run_id or str(uuid.uuid4())
        ctx = _context.get()
        self._context_runs = ctx.runs if ctx else None
        self.parent_run = parent_run or (ctx.parent if ctx else None)
        self._context = dict(
            triggered_by=triggered_by,
            args=args or {},
            client=client or "",
            git_sha=git_sha,
            app_version=app_version,
            provider=provider,
            storage_backend=storage_backend,
        )
        self.run: Run | None = None
        self._pending_assets: list[ingest.AssetIn] = []
        self._pending_checks: list[ingest.CheckIn] = []

    def _event(self, status: str, **fields) -> ingest.RunEvent:
        parent = None
        if self.parent_run is not None:
            p = self.parent_run.pipeline
            parent = ingest.ParentRef(p.name, self.parent_run.external_run_id, p.namespace)
        return ingest.RunEvent(
            pipeline=self.pipeline,
            namespace=self.namespace,
            external_run_id=self.external_run_id,
            status=status,
            event_time=fields.pop("event_time", None) or self.clock(),
            parent=parent,
            **self._context,
            **fields,
        )

    def _write(self, ev: ingest.RunEvent) -> None:
        bounds.check_event(ev)
        (outcome,) = ingest.ingest_events([ev])
        self.run = outcome.run

    def __enter__(self) -> RunLogger:
        if _in_callers_transaction():
            raise RunLoggerInAtomicBlock(
                "RunLogger must be entered outside transaction.atomic(): its run rows must "
                "survive a rollback of the caller's transaction. Open the atomic block inside "
                "the `with RunLogger(...)` body instead."
            )
        now = self.clock()
        self._write(self._event(Run.STARTED, event_time=now, started_at=now))
        if self._context_runs is not None:
            self._context_runs.append(self.run)
        return self

    def __exit__(self, exc_type, exc: BaseException | None, tb: TracebackType | None) -> bool:
        fields: dict = {"assets": self._pending_assets, "checks": self._pending_checks}
        if exc is None:
            self._write(self._event(Run.SUCCESS, **fields))
        else:
            status = Run.ABORTED if isinstance(exc, KeyboardInterrupt) else Run.FAILED
            self._write(
                self._event(
                    status,
                    error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                    error_message=str(exc)[:10000],
                    error_stack_hash=stack_hash(exc),
                    **fields,
                )
            )
        self._pending_assets, self._pending_checks = [], []
        return False  # re-raise

    def log_asset(
        self,
        asset_key: str,
        *,
        kind: str = "table",
        status: str = "success",
        partition_key: str = "",
        started_at: datetime | None = None,
        ended_at: datetime | None = None,
        **metrics,
    ) -> None:
        """Record one asset written by this run (metrics: rows_inserted, rows_updated,
        rows_deleted, bytes_written, min_event_time, max_event_time, extra,
        error_message)."""
        asset = ingest.AssetIn(
            asset_key,
            kind=kind,
            status=status,
            partition_key=partition_key,
            started_at=started_at,
            ended_at=ended_at or self.clock(),
            **metrics,
        )
        ev = self._event(Run.OTHER, assets=[asset])
        bounds.check_event(ev)  # now, at the call that is wrong, not when the run closes
        if _in_callers_transaction():
            self._pending_assets.append(asset)
        else:
            self._write(ev)

    def update_watermark(self, asset_key: str, ts: datetime, scope_key: str = "") -> None:
        problem = bounds.time_problem(ts)
        if problem:
            raise bounds.Refused("watermark_ts", problem, bounds.TIME_WINDOW)
        mark = ingest.WatermarkIn(asset_key, ts, scope_key=scope_key, run_pk=self.run.pk)
        if _in_callers_transaction():
            transaction.on_commit(lambda: ingest.advance_watermarks([mark]))
        else:
            ingest.advance_watermarks([mark])

    def record_check(
        self,
        asset_key: str,
        check_name: str,
        *,
        status: str,
        severity: str = "error",
        metrics: dict | None = None,
        message: str = "",
        partition_key: str = "",
    ) -> None:
        self.record_checks(
            [
                ingest.CheckIn(
                    asset_key,
                    check_name,
                    status,
                    severity=severity,
                    metrics=metrics or {},
                    message=message,
                    partition_key=partition_key,
                    checked_at=self.clock(),
                )
            ]
        )

    def record_checks(self, checks: list[ingest.CheckIn]) -> None:
        """Record many check results in one ledger write (one statement, not one per result)."""
        if not checks:
            return
        ev = self._event(Run.OTHER, checks=checks)
        bounds.check_event(ev)
        if _in_callers_transaction():
            self._pending_checks.extend(checks)
        else:
            self._write(ev)
