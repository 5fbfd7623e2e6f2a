"""Figures over a long window (30 days of runs, 14 days of ingestion, every RAW object's
staleness), computed at most once a minute per process and shown with their time.

At a million runs one of these takes the database a second or more, while what it shows
moves slowly; a dashboard that 20 people reload every minute must not recompute it for
each of them. Each page says how old its figures are ("as of 10:41:07"); pages of one
object, the checks and the registry list are always live.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

T = TypeVar("T")


def recent(key: str, compute: Callable[[], T]) -> tuple[T, datetime]:
    """`compute()`'s result and when it was computed, at most
    OPSHEALTH_DASHBOARD_FIGURES_SECONDS ago (0: always now)."""
    seconds = settings.OPSHEALTH_DASHBOARD_FIGURES_SECONDS
    key = f"dashboard:{key}"
    hit = cache.get(key) if seconds else None
    if hit is None:
        hit = (compute(), timezone.now())
        if seconds:
            cache.set(key, hit, seconds)
    return hit
