"""Failure throttles: so many failures per key in a fixed window, then refused until the
window ends. Used for failed token authentications (per client) and failed admin logins
(per user name and client).

The counts live in Django's cache (`CACHES`). The default cache is each process's own
memory: with several processes (gunicorn workers, `WEB_WORKERS`) each keeps its own count,
so a client gets up to (workers times the limit) tries per window, and a restart forgets them.
Point `CACHES` at a shared cache (Redis, or Django's database cache) for one count per
deployment.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def client_ident(request) -> str:
    """The client's address as DRF's throttles see it: REMOTE_ADDR, or the address a
    trusted proxy put in X-Forwarded-For when REST_FRAMEWORK["NUM_PROXIES"] says so.

    "" when there is neither: REMOTE_ADDR is optional in a WSGI environ (a server on a UNIX
    socket, an in-process client), and DRF then answers None."""
    return BaseThrottle().get_ident(request) or ""


class FailureThrottle:
    def __init__(self, name: str, limit: int, window_s: int):
        self.name, self.limit, self.window_s = name, limit, window_s

    def _cache_key(self, key: str) -> str:
        window = int(time.time() // self.window_s)
        # Hashed: a key holds a user name and an address, and cache keys must be short ASCII.
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return f"throttle:{self.name}:{window}:{digest}"

    def blocked(self, key: str) -> bool:
        return (cache.get(self._cache_key(key)) or 0) >= self.limit

    def failed(self, key: str) -> None:
        cache_key = self._cache_key(key)
        # add() then incr(): atomic in every cache backend, so concurrent failures all count.
        cache.add(cache_key, 0, self.window_s)
        try:
            cache.incr(cache_key)
        except ValueError:  # expired between the two calls: a new window
            cache.add(cache_key, 1, self.window_s)

    def wait_s(self) -> int:
        """Seconds until the current window ends."""
        return math.ceil(self.window_s - time.time() % self.window_s)


def token_failures() -> FailureThrottle:
    """Failed token authentications, per client address and minute."""
    return FailureThrottle("token", settings.OPSHEALTH_TOKEN_FAILURES_PER_MINUTE, 60)


def login_failures() -> FailureThrottle:
    """Failed admin logins, per user name and client address."""
    return FailureThrottle(
        "login", settings.OPSHEALTH_LOGIN_FAILURES, settings.OPSHEALTH_LOGIN_LOCKOUT_MINUTES * 60
    )
