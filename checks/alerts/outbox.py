"""Delivering the outbox: at least once, deduplicated, never lost.

A step claims a batch of due rows in one committed statement (`FOR UPDATE SKIP
LOCKED`, a lease, the attempt counted), sends them outside any transaction (a few at
once, in threads that never touch the database), and records every outcome in three
statements. Concurrent dispatchers claim disjoint rows; a dispatcher that dies after
its claim leaves the lease to expire, and the row goes out again under the same
`Idempotency-Key`, so the receiver can tell it is the same message.

Retries back off 1, 2, 4 … 60 minutes, at most MAX_ATTEMPTS tries. A permanent error
fails the row at once and marks the channel broken; rows for a broken or disabled
channel fail without being sent, each with a delivery row saying why.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from checks.alerts import queries
from checks.alerts.channels import ChannelError, transport
from checks.alerts.models import Delivery, Notification

logger = logging.getLogger("opshealth.alerts")

BATCH = 200
SENDERS = 8
LEASE = timedelta(minutes=5)  # far above a send's timeout
MAX_ATTEMPTS = 8
MAX_BACKOFF_MINUTES = 60


def backoff(attempts: int) -> timedelta:
    """Wait before the next try after `attempts` failed ones: 1, 2, 4 … 60 minutes."""
    return timedelta(minutes=min(MAX_BACKOFF_MINUTES, 2 ** (attempts - 1)))


def deliver_due(now: datetime | None = None, *, batch: int = BATCH) -> tuple[int, int, int]:
    """Deliver every due notification. Returns (sent, to retry, failed)."""
    now = now or timezone.now()
    totals = [0, 0, 0]
    while True:
        rows = queries.claim(now, now + LEASE, batch)
        for i, n in enumerate(_deliver(rows, now)):
            totals[i] += n
        if len(rows) < batch:
            return totals[0], totals[1], totals[2]


def _send(row: tuple) -> tuple[str, float]:
    """Send one claimed row; "" on success, else the error (prefixed "!" if permanent)."""
    _id, _channel_id, key, payload, _attempts, kind, target, secret, enabled, broken_at, _name = row
    if not enabled:
        return "!channel disabled", 0.0
    if broken_at is not None:
        return f"!channel broken since {broken_at:%Y-%m-%d %H:%M}", 0.0
    started = time.perf_counter()
    try:
        transport(kind, target, secret).notify(payload, key)
    except ChannelError as exc:
        return ("!" if exc.permanent else "") + str(exc), time.perf_counter() - started
    return "", time.perf_counter() - started


def _deliver(rows: list[tuple], now: datetime) -> tuple[int, int, int]:
    if not rows:
        return 0, 0, 0
    with ThreadPoolExecutor(max_workers=min(SENDERS, len(rows))) as pool:
        results = list(pool.map(_send, rows))
    updates, deliveries, broken = [], [], {}
    sent = retried = failed = 0
    for row, (error, seconds) in zip(rows, results, strict=True):
        pk, channel_id, key, _payload, attempts, _kind, _t, _s, _e, broken_at, name = row
        permanent = error.startswith("!")
        error = error.lstrip("!")
        update = SimpleNamespace(
            id=pk, status=Notification.SENT, due_at=now, claimed_until=None, sent_at=None, last_error=error
        )
        if not error:
            update.sent_at = now
            sent += 1
        elif permanent or attempts >= MAX_ATTEMPTS:
            update.status = Notification.FAILED
            failed += 1
            if permanent and broken_at is None and not error.startswith("channel "):
                broken[channel_id] = SimpleNamespace(id=channel_id, broken_at=now, broken_reason=error[:300])
        else:
            update.status = Notification.PENDING
            update.due_at = now + backoff(attempts)
            retried += 1
        if error:
            # the channel's name, never its target: webhook URLs carry tokens
            logger.warning("notification %s to channel %s: %s", key, name, error)
        updates.append(update)
        deliveries.append(
            Delivery(
                notification_id=pk,
                channel_id=channel_id,
                attempted_at=now,
                attempt=attempts,
                outcome=_outcome(error, update.status),
                permanent=permanent,
                error=error[:500],
                duration_ms=int(seconds * 1000),
            )
        )
    with transaction.atomic():
        queries.record_deliveries(updates, deliveries, list(broken.values()))
    return sent, retried, failed


def _outcome(error: str, status: str) -> str:
    if not error:
        return "sent"
    return "retry" if status == Notification.PENDING else "failed"
