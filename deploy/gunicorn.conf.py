"""gunicorn settings for serving OpsHealth: `gunicorn -c deploy/gunicorn.conf.py opshealth.wsgi`.

Every value can be overridden by the usual GUNICORN_CMD_ARGS or command-line flags, and
the sizing by the environment (WEB_WORKERS, WEB_THREADS, PORT).

Why these defaults (bench/health.py on 2 cores, 20 keep-alive clients; the machine's
other load moves p99 by tens of ms between runs):
- A request is mostly Python CPU (DRF, serializers) with a few short SQL round trips.
  One process per core gives the parallelism; its threads serve the keep-alive
  connections (a gthread worker runs each request on one of its threads) and overlap
  one request's SQL round trips with another's Python. More processes than cores buy
  nothing but contention: with the same CPU per request (1.1-1.6 ms), 2 x 10 on 2 cores
  had p99 33-63 ms in 7 of 8 endpoint runs (one 351 ms, while the host ran slow), 4 x 5
  had 65-346 ms, with single requests past 1 s in half of its runs.
- gthread keeps client connections alive (the sync worker closes every connection); a
  dashboard or a load balancer reuses them.
- reuse_port: each worker listens on a socket of its own (SO_REUSEPORT) and the kernel
  spreads new connections over them. On the one shared socket the workers race to
  accept, and a burst of connections (a load balancer's pool, 20 clients at once) often
  lands on one worker, which keeps them while they live: bench/dashboard.py found one
  worker serving all 20 in about half its windows, at ~220 requests/s on one core and
  p99 up to 170 ms, against ~600/s and 60-110 ms when split. Not for a Unix socket
  (`--bind unix:…`) nor a socket systemd hands over (see on_starting).
- preload_app: Django is imported once, before the fork, so workers start fast and
  share the imported code's memory. Database connections are opened lazily after the
  fork (Django opens none at import), so no connection is shared between processes.
- Persistent database connections (DB_CONN_MAX_AGE): without them each request pays a
  PostgreSQL backend fork and authentication, more than the queries of a small request.
- No access log: a line per request costs a write and formatting under load; the
  reverse proxy in front keeps the access log.
"""

from __future__ import annotations

import multiprocessing
import os

# Before opshealth.settings is imported (preload): keep connections across requests.
# Health checks in settings (CONN_HEALTH_CHECKS) replace a connection the server closed.
os.environ.setdefault("DB_CONN_MAX_AGE", "60")

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("WEB_THREADS", 10))
preload_app = True
reuse_port = True


def on_starting(server):
    # One shared socket where workers cannot each bind their own: a Unix socket is one
    # file, and a socket handed over by systemd (LISTEN_FDS) or by the previous master of
    # an upgrade (GUNICORN_FD) is already bound, without SO_REUSEPORT.
    unix = any(str(address).startswith("unix:") for address in server.cfg.bind)
    if unix or "LISTEN_FDS" in os.environ or "GUNICORN_FD" in os.environ:
        server.cfg.set("reuse_port", False)


def post_fork(server, worker):
    # Django's imported objects (preloaded before the fork) never die: keep them out of
    # the garbage collector's generations, so a collection scans only request garbage
    # (shorter pauses in the latency tail) and pages stay shared with the master.
    import gc

    gc.freeze()


keepalive = 30
timeout = 60
graceful_timeout = 30
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
