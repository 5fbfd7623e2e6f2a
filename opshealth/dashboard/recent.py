"""What the dashboard shows, computed at most once a minute and served from the cache:
long-window figures (30 days of runs, 14 days of ingestion, every RAW object's staleness)
and the rendered content of the tabs (views.py), each shown with its time.

At a million runs one figure takes the database a second or more, and rendering a tab
of 50 rows with their charts tens of milliseconds of Python, while what they show moves
slowly: a dashboard that 20 people reload every minute must not recompute it for each of
them. Each page says how old its figures are ("as of 10:41:07").

Stale while revalidate, single flight, in the background:
1. A value younger than OPSHEALTH_DASHBOARD_FIGURES_SECONDS, computed for the same state,
   is served as it is.
2. An older one (same state) is served too, and the one caller that takes the key's lock
   (`cache.add`, atomic in every cache backend) queues its recompute for the process's
   revalidation thread (one recompute at a time), which runs it with no parallel query
   workers (ledger.queries.without_parallel_workers): nobody waits for it, so it takes
   one core, not every core of a small machine. No request waits for it, not even the
   one that found the value stale: under load a month of runs takes seconds to rank,
   and that request's client would wait all of them.
3. A value computed for another state (a newer evaluation, a registry change) is wrong,
   not old: the caller that takes the lock recomputes it at once and waits for it; the
   others serve the previous value meanwhile.
4. With no value yet, the others wait for the one computing it.
A revalidation nested in another (a tab's figures, computed while its content is
rendered) runs inline, in the outer one's thread.

With the default cache (each process its own) that is one computation per process and
key; point CACHES at a shared cache (Redis, Django's database cache) for one per cluster.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from ledger.queries import without_parallel_workers

T = TypeVar("T")

logger = logging.getLogger(__name__)

# A value is kept this long past its freshness, to be served while it is recomputed.
KEEP_SECONDS = 3600
# A computation holds the key's lock at most this long (a process killed meanwhile must
# not block the key); a waiter gives up waiting after it and computes itself.
LOCK_SECONDS = 60
POLL_SECONDS = 0.05
# The thread that recomputes stale values, one at a time: a burst of stale pages (a
# crawler over object pages) queues up behind it instead of opening a database
# connection each and taking every core.
_revalidations = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboard-revalidate")

# How many computations the current thread is inside: a nested one runs inline.
_computing = threading.local()


def revalidated(key: str, state: str, compute: Callable[[], tuple[T, datetime]]) -> tuple[T, datetime]:
    """`compute()`'s (value, as of) for `state`, recomputed once it is older than
    OPSHEALTH_DASHBOARD_FIGURES_SECONDS (0: on every call) or of another state; a value
    only too old is served while a thread recomputes it (see the module docstring)."""
    seconds = settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS
    if not seconds:
        return compute()
    key = f"dashboard:{key}"
    hit = cache.get(key)  # (state, value, as of)
    same_state = hit is not None and hit[0] == state
    if same_state and (timezone.now() - hit[2]).total_seconds() < seconds:
        return hit[1], hit[2]
    lock = f"{key}:computing"
    if not cache.add(lock, True, LOCK_SECONDS):
        if hit is not None:
            return hit[1], hit[2]
        hit = _wait(key, lock)
        if hit is not None:
            return hit[1], hit[2]
    elif same_state and not getattr(_computing, "depth", 0):
        _revalidations.submit(_in_background, key, lock, state, compute, seconds)
        return hit[1], hit[2]
    return _store(key, lock, state, compute, seconds)


def _store(
    key: str, lock: str, state: str, compute: Callable[[], tuple[T, datetime]], seconds: int
) -> tuple[T, datetime]:
    """Compute the value, cache it and release the key's lock."""
    _computing.depth = getattr(_computing, "depth", 0) + 1
    try:
        value, as_of = compute()
        cache.set(key, (state, value, as_of), seconds + KEEP_SECONDS)
        return value, as_of
    finally:
        _computing.depth -= 1
        cache.delete(lock)


def _in_background(
    key: str, lock: str, state: str, compute: Callable[[], tuple[T, datetime]], seconds: int
) -> None:
    """_store in the revalidation thread: with no parallel query workers, on the thread's
    own database connection, closed when done. A failure leaves the previous value served
    (the next caller after it tries again) and is logged."""
    try:
        with without_parallel_workers():
            _store(key, lock, state, compute, seconds)
    except Exception:
        logger.exception("recomputing %s failed", key)
    finally:
        connections.close_all()


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
