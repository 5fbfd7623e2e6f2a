"""Staleness of registry objects: written once, in SQL, set-based (`checks.queries`).

Used by the checks (freshness_sla_breach, mv_refresh_stale, mv_refresh_failed,
raw_source_stale_affecting_critical) and by the API (raw-health, mv-health).

Rule (spec §6): staleness = now - the newest of three signals, each read from the
ledger through `AssetLink(normalized_key → object)`:
  1. `watermark`  — the newest Watermark.watermark_ts of the object's asset keys;
  2. `run_asset`  — the end of the newest successful output RunAsset that is not a
                    refresh (a run asset without `ended_at` is no signal);
  3. `refresh`    — the end of the newest successful RunAsset of kind `matview` (what
                    refresh_matviews logs: PostgreSQL records no refresh time).
Allowed age = the object's `max_staleness` override, else its refresh schedule (manual,
then inferred), else OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS. Each row says which signal
decided and where the allowed age came from.

A materialized view is also stale relative to its inputs when an upstream watermark is
newer than its last successful refresh. The upstream walk (recursive CTE) crosses views
and tables but stops at other materialized views: those have their own inputs check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings

from checks import queries


@dataclass(frozen=True)
class Staleness:
    object_id: int
    schema_name: str
    object_name: str
    object_type: str
    layer: str
    is_critical: bool
    watermark_at: datetime | None
    last_write_at: datetime | None
    last_refresh_success_at: datetime | None
    newest_at: datetime | None
    allowed_age: timedelta
    allowed_by: str
    last_refresh_status: str | None
    last_refresh_at: datetime | None
    last_refresh_duration_ms: int | None
    last_refresh_error: str | None
    upstream_watermark_at: datetime | None
    upstream_name: str | None
    now: datetime

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"

    @property
    def decided_by(self) -> str | None:
        """Which signal was the newest, so decided the age (None: no signal at all)."""
        if self.newest_at is None:
            return None
        for name, value in (
            ("watermark", self.watermark_at),
            ("run_asset", self.last_write_at),
            ("refresh", self.last_refresh_success_at),
        ):
            if value == self.newest_at:
                return name
        return None

    @property
    def age(self) -> timedelta | None:
        return None if self.newest_at is None else self.now - self.newest_at

    @property
    def is_stale(self) -> bool:
        return self.age is not None and self.age > self.allowed_age

    @property
    def stale_vs_inputs(self) -> bool:
        """An upstream watermark is newer than this materialized view's last refresh."""
        return (
            self.object_type == "matview"
            and self.upstream_watermark_at is not None
            and self.last_refresh_success_at is not None
            and self.upstream_watermark_at > self.last_refresh_success_at
        )

    def refresh_due(self, within: timedelta) -> bool:
        """A materialized view is due for a refresh when it never refreshed successfully,
        when its last refresh will be older than its allowed age within `within` (the
        refresh job's cadence: waiting for the next tick would be too late), or when an
        input is newer than it."""
        if self.object_type != "matview":
            return False
        if self.last_refresh_success_at is None:
            return True
        return self.now + within - self.last_refresh_success_at >= self.allowed_age or self.stale_vs_inputs

    @property
    def status(self) -> str:
        """OK | STALE | NO_SIGNAL: the object's freshness in one word (raw-health)."""
        if self.newest_at is None:
            return "NO_SIGNAL"
        return "STALE" if self.is_stale else "OK"

    @property
    def lateness(self) -> timedelta | None:
        """How far past its allowed age the object is (negative: time left)."""
        return None if self.age is None else self.age - self.allowed_age

    def mv_status(self, populated: bool | None) -> str:
        """A materialized view's state, worst first: FAILED (last refresh failed),
        NOT_POPULATED, NEVER_REFRESHED, STALE (by age or relative to its inputs), OK."""
        if self.last_refresh_status == "failed":
            return "FAILED"
        if populated is False:
            return "NOT_POPULATED"
        if self.newest_at is None:
            return "NEVER_REFRESHED"
        return "STALE" if self.is_stale or self.stale_vs_inputs else "OK"

    @property
    def age_hours(self) -> float | None:
        return _hours(self.age)

    @property
    def allowed_hours(self) -> float:
        return _hours(self.allowed_age)

    def detail(self) -> dict:
        """The evaluation's explanation, JSON-ready (violations and API rows)."""
        return {
            "decided_by": self.decided_by,
            "last_signal_at": iso(self.newest_at),
            "age_hours": _hours(self.age),
            "allowed_hours": _hours(self.allowed_age),
            "allowed_by": self.allowed_by,
            "watermark_at": iso(self.watermark_at),
            "last_write_at": iso(self.last_write_at),
            "last_refresh_at": iso(self.last_refresh_success_at),
        }


def iso(value: datetime | None) -> str | None:
    """A timestamp as the check details and API rows carry it (JSON-ready, None kept)."""
    return value.isoformat() if value else None


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def object_staleness(
    now: datetime, *, only: str | None = None, ids: list[int] | None = None
) -> list[Staleness]:
    """Staleness of every existing registry object (or only matviews / RAW, or only the
    objects `ids`), one query."""
    default_age = timedelta(hours=settings.OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS)
    if ids is not None:
        only = "ids"
    return [Staleness(*row, now=now) for row in queries.staleness(default_age, only, ids)]


def watermarks(object_ids: list[int]) -> list[tuple]:
    """Every watermark of the objects: (asset_key, scope_key, watermark_ts, updated_at,
    object_id), oldest first. One statement."""
    return queries.watermarks(object_ids)


INGESTION_FIELDS = (
    "day",
    "object_id",
    "schema_name",
    "object_name",
    "runs",
    "failed",
    "rows_inserted",
    "rows_updated",
    "bytes_written",
)


def ingestion_daily(
    since: date, *, object_ids: list[int] | None = None, per_object: bool = True
) -> list[dict]:
    """Per UTC day (newest first) and RAW object, or per day over all RAW objects
    (`per_object=False`, object fields None): output run assets written, failed, rows
    and bytes, from the ledger. `object_ids` limits it to those objects. One statement."""
    rows = queries.ingestion_daily(since, object_ids, per_object)
    return [dict(zip(INGESTION_FIELDS, row, strict=True)) for row in rows]


def refresh_history(object_ids: list[int], *, last: int) -> dict[int, list[tuple]]:
    """object id → its `last` refreshes, newest first: (ended_at, status, duration_ms,
    error_message). One statement, one probe of each link's run assets."""
    history: dict[int, list[tuple]] = {}
    for object_id, *row in queries.refresh_history(object_ids, last):
        history.setdefault(object_id, []).append(tuple(row))
    return history


@dataclass(frozen=True)
class WatermarkFreshness:
    """One watermark of a RAW object, aged against the object's allowed age."""

    asset_key: str
    scope_key: str
    watermark_ts: datetime
    updated_at: datetime
    object: Staleness

    @property
    def age(self) -> timedelta:
        return self.object.now - self.watermark_ts

    @property
    def age_hours(self) -> float:
        return _hours(self.age)

    @property
    def is_stale(self) -> bool:
        return self.age > self.object.allowed_age


def raw_watermark_freshness(now: datetime) -> list[WatermarkFreshness]:
    """Every watermark of a RAW object, oldest first (two statements)."""
    by_id = {r.object_id: r for r in object_staleness(now, only="raw")}
    return [WatermarkFreshness(*row[:4], by_id[row[4]]) for row in watermarks(list(by_id))]
