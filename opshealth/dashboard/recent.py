"""What the dashboard shows, computed at most once a minute and served from the cache:
long-window figures (30 days of runs, 14 days of ingestion, every RAW object's staleness)
and the rendered content of the tabs (views.py), each shown with its time.

At a million runs one figure takes the database a second or more, and rendering a tab
of 50 rows with their charts tens of milliseconds of Python, while what they show moves
slowly: a dashboard that 20 people reload every minute must not recompute it for each of
them. Each page says how old its figures are ("as of 10:41:07").

Stale while revalidate, single flight: when a value is older than
OPSHEALTH_DASHBOARD_FIGURES_SECONDS, or was computed for another state (a newer
evaluation, a registry change), the one caller that takes the key's lock (`cache.add`,
atomic in every cache backend) recomputes it while the others go on serving the previous
value; they wait for it only when there is none yet. With the default cache (each
process its own) that is one computation per process and key; point CACHES at a shared
cache (Redis, Django's database cache) for one per cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

T = TypeVar("T")

# A value is kept this long past its freshness, to be served while it is recomputed.
KEEP_SECONDS = 3600
# A computation holds the key's lock at most this long (a process killed meanwhile must
# not block the key); a waiter gives up waiting after it and computes itself.
LOCK_SECONDS = 60
POLL_SECONDS = 0.05


def revalidated(key: str, state: str, compute: Callable[[], tuple[T, datetime]]) -> tuple[T, datetime]:
    """`compute()`'s (value, as of) for `state`, recomputed once it is older than
    OPSHEALTH_DASHBOARD_FIGURES_SECONDS (0: on every call) or of another state; while one
    caller recomputes it, the others get the previous one (see the module docstring)."""
    seconds = settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS
    if not seconds:
        return compute()
    key = f"dashboard:{key}"
    hit = cache.get(key)  # (state, value, as of)
    if hit is not None and hit[0] == state and (timezone.now() - hit[2]).total_seconds() < seconds:
        return hit[1], hit[2]
    lock = f"{key}:computing"
    if not cache.add(lock, True, LOCK_SECONDS):
        if hit is not None:
            return hit[1], hit[2]
        hit = _wait(key, lock)
        if hit is not None:
            return hit[1], hit[2]
    try:
        value, as_of = compute()
        cache.set(key, (state, value, as_of), seconds + KEEP_SECONDS)
    finally:
        cache.delete(lock)
    return value, as_of


def _wait(key: str, lock: str) -> tuple | None:
    """The value another caller is computing, once it is there; None when that caller
    gave up (its lock is gone) or took longer than LOCK_SECONDS."""
    deadline = time.monotonic() + LOCK_SECONDS
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        hit = cache.get(key)
        if hit is not None:
            return hit
        if cache.get(lock) is None:
            return None
    return None


def recent(key: str, compute: Callable[[], T], state: str = "") -> tuple[T, datetime]:
    """`compute()`'s result and when it was computed, at most
    OPSHEALTH_DASHBOARD_FIGURES_SECONDS ago (0: always now), single flight."""

    def timed() -> tuple[T, datetime]:
        at = timezone.now()  # the result is at least as new as its start
        return compute(), at

    return revalidated(key, state, timed)
