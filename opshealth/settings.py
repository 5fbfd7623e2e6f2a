"""OpsHealth settings: one env-driven module, defaults that make the demo work on a laptop."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dj_database_url

from common.durations import parse_duration

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    value = os.environ.get(name, default)
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def envtime(name: str, default: str) -> datetime:
    """An ISO-8601 time (UTC when it names no offset)."""
    value = os.environ.get(name) or default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} must be an ISO-8601 time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (docker/k8s secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envheader(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto,https` (or `HTTP_X_FORWARDED_PROTO,https`) as Django's
    (META key, value) pair; unset or empty is None."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    header, sep, expected = (part.strip() for part in value.partition(","))
    if not (sep and header and expected and "," not in expected):
        raise ValueError(f"{name} must be 'Header-Name,value' (e.g. X-Forwarded-Proto,https), got {value!r}")
    key = header.upper().replace("-", "_")
    return (key if key.startswith("HTTP_") else f"HTTP_{key}", expected)


# Off unless asked for: the debug error page shows request headers (a caller's Bearer
# token) and settings. `make demo` and the test settings turn it on.
DEBUG = envbool("DEBUG", "False")
# The default key is only for the laptop demo; system check opshealth.W001 flags it.
SECRET_KEY = envsecret("SECRET_KEY", "opshealth-insecure-demo-key")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# Behind TLS (README, "Serving"): with these set, `manage.py check --deploy` is clean.
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE")
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD")
# The header a TLS-terminating proxy sets, e.g. X-Forwarded-Proto,https. Only behind a
# proxy that always sets (or strips) it: otherwise any client can claim https.
SECURE_PROXY_SSL_HEADER = envheader("SECURE_PROXY_SSL_HEADER")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "ledger",
    "registry",
    "checks",
    # Before django_q: its `qcluster` command shadows django-q2's (opshealth/cluster.py).
    "opshealth",
    "opshealth.dashboard",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.BodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "opshealth.urls"
WSGI_APPLICATION = "opshealth.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------
# With DATABASE_URL: that server. Without: a private PostgreSQL under .opshealth/
# (OPSHEALTH_DATA_DIR), started on first use and reused afterwards.
OPSHEALTH_DATA_DIR = Path(os.environ.get("OPSHEALTH_DATA_DIR", BASE_DIR / ".opshealth" / "pg"))
OPSHEALTH_DB_NAME = os.environ.get("OPSHEALTH_DB_NAME", "opshealth")
DATABASE_URL = envsecret("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    EMBEDDED_POSTGRES = None
else:
    from opshealth import embedded

    EMBEDDED_POSTGRES = embedded.start(OPSHEALTH_DATA_DIR)
    embedded.ensure_database(EMBEDDED_POSTGRES, OPSHEALTH_DB_NAME)
    DATABASES = {"default": EMBEDDED_POSTGRES.settings(OPSHEALTH_DB_NAME)}
DATABASES["default"].setdefault("OPTIONS", {})
# Server-side parameter binding lets psycopg prepare a statement that a connection runs
# again and again (from its DB_PREPARE_THRESHOLD-th run): ingestion's statements are then
# planned once per connection, not once per request, which halved the database time of
# a single-event POST. Behind a transaction-pooling PgBouncer older than 1.21 (no
# prepared statements across pooled connections), set DB_PREPARE_THRESHOLD=off.
DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
    None
    if os.environ.get("DB_PREPARE_THRESHOLD", "").strip().lower() == "off"
    else envint("DB_PREPARE_THRESHOLD", 5)
)
# Persistent connections (seconds; 0 = one per request). A server under load (gunicorn)
# should set it: connecting costs more than a small ingestion request.
DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("OPSHEALTH_TEST_DB_NAME", "test_opshealth")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "opshealth" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "/admin/login/"

# --- API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests 401, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "common.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies are size- and depth-limited on every endpoint (ledger/api/parsers.py).
    # No form or multipart parser: any other body is 415, unread.
    "DEFAULT_PARSER_CLASSES": ["ledger.api.parsers.LimitedJSONParser"],
    # Strict versions (common/filters.py): a bad limit, filter value or ordering is a 400.
    "DEFAULT_PAGINATION_CLASS": "common.filters.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "common.filters.FilterBackend",
        "common.filters.SearchFilter",
        "common.filters.OrderingFilter",
    ],
    # drf-spectacular's, with the error responses (common/schema.py).
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
}
# The model of API tokens (`app_label.Model`): `common.auth` authenticates with it without
# importing a domain app. It needs `hash(raw)`, `is_active`, `allows(scope)`, `user` and
# the SCOPE_READ / SCOPE_INGEST / SCOPE_ADMIN names.
OPSHEALTH_TOKEN_MODEL = "ledger.ApiToken"
SPECTACULAR_SETTINGS = {
    "TITLE": "OpsHealth API",
    # API docs served from our own static files (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set that several apps' serializers share; without these,
    # spectacular names them by hash and warns (the schema test fails on warnings).
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "ledger.models.Run.STATUSES",
        "RunAssetStatusEnum": "ledger.models.RunAsset.STATUSES",
        "RunAssetKindEnum": "ledger.models.RunAsset.KINDS",
        "CheckResultStatusEnum": "ledger.models.CheckResult.STATUSES",
        "CheckResultSeverityEnum": "ledger.models.CheckResult.SEVERITIES",
        "HealthStatusEnum": ["OK", "WARN", "ERROR"],
        "HealthSeverityEnum": ["info", "warning", "error"],
        "HealthBandEnum": ["healthy", "degraded", "critical"],
        "AlertSeverityEnum": "checks.alerts.models.SEVERITIES",
        "IncidentStateEnum": "checks.alerts.models.Incident.STATES",
    },
    "DESCRIPTION": "Registry, run ledger, health checks and alerts of a data platform.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/schema/ and /api/docs/ are the API: signed-in users and tokens only, as the
    # README says of every endpoint under /api/.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Model.objects can be shadowed by a reverse relation named "objects".
    "DEFAULT_QUERY_MANAGER": "_default_manager",
}
# Throttles (common/throttle.py; counts in CACHES, per process by default): failed token
# authentications per client per minute before 429, and failed admin logins per user
# name and client before that user is refused from that client for the lockout.
OPSHEALTH_TOKEN_FAILURES_PER_MINUTE = envint("OPSHEALTH_TOKEN_FAILURES_PER_MINUTE", 20)
OPSHEALTH_LOGIN_FAILURES = envint("OPSHEALTH_LOGIN_FAILURES", 5)
OPSHEALTH_LOGIN_LOCKOUT_MINUTES = envint("OPSHEALTH_LOGIN_LOCKOUT_MINUTES", 15)
# How old the dashboard's page contents and long-window figures (runs per day,
# flakiness, ingestion, every RAW/MV object's staleness) may be: computed at most once
# per this many seconds (opshealth/dashboard/recent.py); 0 computes them on every request.
OPSHEALTH_DASHBOARD_FIGURES_SECONDS = envint("OPSHEALTH_DASHBOARD_FIGURES_SECONDS", 60)
# Requests larger than this are refused (413) by the ingestion endpoints.
OPSHEALTH_MAX_PAYLOAD_BYTES = envint("OPSHEALTH_MAX_PAYLOAD_BYTES", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = OPSHEALTH_MAX_PAYLOAD_BYTES
# JSON bodies nested deeper than this are refused (400): Python's parser and every
# later reader (the admin's JSON widgets, json.dumps with indent) recurse per level.
OPSHEALTH_MAX_JSON_DEPTH = envint("OPSHEALTH_MAX_JSON_DEPTH", 64)
# Assets (outputs and inputs) one run event may carry; a run writing more reports them
# over several events. Bounds the memory of one request (bench/ingest_memory.py).
OPSHEALTH_MAX_ASSETS_PER_EVENT = envint("OPSHEALTH_MAX_ASSETS_PER_EVENT", 1000)
# … and one request (a bulk or OpenLineage batch) in all.
OPSHEALTH_MAX_ASSETS_PER_REQUEST = envint("OPSHEALTH_MAX_ASSETS_PER_REQUEST", 5000)
# The sane window of every time that enters the ledger (event, run, asset, watermark and
# check times): from OPSHEALTH_EARLIEST_TIME to now + OPSHEALTH_MAX_FUTURE_HOURS. A time
# outside it is refused (422), so one typo cannot pin a watermark in the year 9999.
OPSHEALTH_EARLIEST_TIME = envtime("OPSHEALTH_EARLIEST_TIME", "1970-01-01T00:00:00+00:00")
OPSHEALTH_MAX_FUTURE_HOURS = envint("OPSHEALTH_MAX_FUTURE_HOURS", 24)

# --- Health ---------------------------------------------------------------------------
# Allowed age of an object's newest signal when neither the object nor its refresh
# schedule says otherwise.
OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS = envint("OPSHEALTH_DEFAULT_MAX_STALENESS_HOURS", 24)
OPSHEALTH_HEALTHY_THRESHOLD = float(os.environ.get("OPSHEALTH_HEALTHY_THRESHOLD", "99"))
OPSHEALTH_DEGRADED_THRESHOLD = float(os.environ.get("OPSHEALTH_DEGRADED_THRESHOLD", "95"))
OPSHEALTH_CATALOG_STATEMENT_TIMEOUT_MS = envint("OPSHEALTH_CATALOG_STATEMENT_TIMEOUT_MS", 60000)
OPSHEALTH_CONNECT_TIMEOUT_S = envint("OPSHEALTH_CONNECT_TIMEOUT_S", 5)
# Evaluations (snapshots, results, violations) older than this are pruned by evaluate_health.
OPSHEALTH_HEALTH_HISTORY_DAYS = envint("OPSHEALTH_HEALTH_HISTORY_DAYS", 30)
# A stale RAW object feeding a critical one is an ERROR once older than this many allowed ages.
OPSHEALTH_STALE_ERROR_FACTOR = float(os.environ.get("OPSHEALTH_STALE_ERROR_FACTOR", "2"))
# schema_changed lists column changes detected within this window.
OPSHEALTH_SCHEMA_CHANGE_WINDOW_HOURS = envint("OPSHEALTH_SCHEMA_CHANGE_WINDOW_HOURS", 24)
# A recovery waits this long before it is sent: a subject failing again meanwhile
# reopens its incident instead of sending "resolved" then "firing".
OPSHEALTH_ALERT_RECOVERY_DELAY = timedelta(minutes=envint("OPSHEALTH_ALERT_RECOVERY_DELAY_MINUTES", 10))
# Statement timeout of one REFRESH MATERIALIZED VIEW (refresh_matviews).
OPSHEALTH_REFRESH_STATEMENT_TIMEOUT_MS = envint("OPSHEALTH_REFRESH_STATEMENT_TIMEOUT_MS", 30 * 60 * 1000)

# --- Data checks ------------------------------------------------------------------------
# Statement timeout of every data-check query on a source (the shared scan of a table,
# a custom query, a sample read).
OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS = envint("OPSHEALTH_DATA_CHECK_STATEMENT_TIMEOUT_MS", 60000)
# Keep up to 5 failing rows with each failed result; off for warehouses with sensitive
# data (a check's own `samples` flag turns them off for one table).
OPSHEALTH_DATA_CHECK_SAMPLES = envbool("OPSHEALTH_DATA_CHECK_SAMPLES", "true")
# work_mem of the data checks' transactions on a source, in MB (0: the server's own): the
# sort that unique and monotonic checks need spills to disk beyond it.
OPSHEALTH_DATA_CHECK_WORK_MEM_MB = envint("OPSHEALTH_DATA_CHECK_WORK_MEM_MB", 0)

# --- Ledger read side -----------------------------------------------------------------
# `prune_ledger` deletes runs and results older than this (the latest run and the latest
# outcome of a pipeline, and the latest result of a check, are always kept).
OPSHEALTH_LEDGER_RETENTION_DAYS = envint("OPSHEALTH_LEDGER_RETENTION_DAYS", 90)
# Flaky ranking: below this many terminal runs nothing is called flaky; a flip rate
# (status changes between consecutive runs / (runs - 1)) at or above the threshold, or
# this many retry-then-success logical runs, is flaky; the last N runs all failed is broken.
# The window they are judged over: /ledger/flaky's default and /metrics' flip rate.
OPSHEALTH_FLAKY_WINDOW_DAYS = envint("OPSHEALTH_FLAKY_WINDOW_DAYS", 30)
OPSHEALTH_FLAKY_MIN_SAMPLE = envint("OPSHEALTH_FLAKY_MIN_SAMPLE", 10)
OPSHEALTH_FLAKY_FLIP_RATE = float(os.environ.get("OPSHEALTH_FLAKY_FLIP_RATE", "0.3"))
OPSHEALTH_FLAKY_MIN_RETRY_SUCCESSES = envint("OPSHEALTH_FLAKY_MIN_RETRY_SUCCESSES", 2)
OPSHEALTH_BROKEN_STREAK = envint("OPSHEALTH_BROKEN_STREAK", 3)

# --- Scheduler ------------------------------------------------------------------------
# As django-q2's documentation warns: `retry` above `timeout` (else the ORM broker hands a
# task still running to a second worker), `catch_up` off (after an outage each schedule
# runs once, not once per missed tick), few attempts (a job's next tick is its retry).
Q_CLUSTER = {
    # The queue's key in the ORM broker and the key prefix in Redis.
    "name": os.environ.get("Q_NAME", "opshealth"),
    "orm": "default",
    "workers": envint("Q_WORKERS", 2),
    "timeout": 1800,
    "retry": 2400,
    "catch_up": False,
    "max_attempts": 1,
    "save_limit": 1000,
    # The ORM broker polls its queue this often (seconds) when idle: django-q2's 0.2 s
    # cost an idle cluster 4 % of a core (bench/jobs.py); a job picked up a second late
    # does not matter.
    "poll": 1,
}
if os.environ.get("REDIS_URL"):
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = os.environ["REDIS_URL"]

# The control loop (checks/retry.py): a failed refresh is retried, transient errors only
# (SQLSTATE codes, or two-character classes: 08 connection, 40001 serialization, 40P01
# deadlock, 55P03 lock timeout, 57014 statement timeout, 57P0x server shutdown, 53300 too
# many connections), at most this many attempts in all, after a cooldown that doubles.
# A source gets at most BREAKER_MAX auto-retries within BREAKER_WINDOW (circuit breaker).
OPSHEALTH_RETRY_MAX_ATTEMPTS = envint("OPSHEALTH_RETRY_MAX_ATTEMPTS", 3)
OPSHEALTH_RETRY_COOLDOWN = parse_duration(os.environ.get("OPSHEALTH_RETRY_COOLDOWN") or "10m")
OPSHEALTH_RETRY_TRANSIENT_SQLSTATES = envlist(
    "OPSHEALTH_RETRY_TRANSIENT_SQLSTATES", "08,40001,40P01,55P03,57014,57P01,57P02,57P03,53300"
)
OPSHEALTH_RETRY_BREAKER_MAX = envint("OPSHEALTH_RETRY_BREAKER_MAX", 5)
OPSHEALTH_RETRY_BREAKER_WINDOW = parse_duration(os.environ.get("OPSHEALTH_RETRY_BREAKER_WINDOW") or "15m")

# Dead-man switch: pinged (GET) after each successful evaluation, e.g. a healthchecks.io
# check URL. A secret (it names the check): OPSHEALTH_HEARTBEAT_URL_FILE works too.
OPSHEALTH_HEARTBEAT_URL = envsecret("OPSHEALTH_HEARTBEAT_URL")
OPSHEALTH_HEARTBEAT_TIMEOUT_S = envint("OPSHEALTH_HEARTBEAT_TIMEOUT_S", 5)

# --- Mail -------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "opshealth@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# --- Code scan --------------------------------------------------------------------
# Code paths of sources must lie under one of these (relative ones from BASE_DIR), after
# resolving `..` and symlinks: staff cannot point the scan at /etc and show it to readers.
OPSHEALTH_CODE_ROOTS = envlist("OPSHEALTH_CODE_ROOTS") or [str(BASE_DIR)]
# How the code scan recognises HTTP route handlers (registry.codescan.RoutePatterns):
# fnmatch patterns on dotted names → HTTP method ("*": from the `methods` argument).
# SQL in a handler, or in a function a handler reaches, is used in `endpoint` context.
OPSHEALTH_ROUTE_PATTERNS = {
    "decorators": {
        # FastAPI/Starlette, Flask 2+, aiohttp RouteTableDef, Sanic, Quart
        **{
            f"*.{verb}": verb.upper() for verb in ("get", "post", "put", "patch", "delete", "head", "options")
        },
        "*.route": "*",
        "*.api_route": "*",
        "*.websocket": "GET",
        # Bottle's module-level decorators
        **{verb: verb.upper() for verb in ("get", "post", "put", "patch", "delete")},
        "route": "*",
        # DRF function views and viewset extra actions; CherryPy
        "api_view": "*",
        "*.api_view": "*",
        "action": "*",
        "*.action": "*",
        "cherrypy.expose": "GET",
        "expose": "GET",
        # Django function views that say their method (also handlers when wired in urls.py)
        "require_POST": "POST",
        "require_GET": "GET",
        "require_safe": "GET",
        "require_http_methods": "*",
        "*.require_POST": "POST",
        "*.require_http_methods": "*",
    },
    "registrations": {
        # Django urls.py
        **{name: "*" for name in ("path", "re_path", "url", "*.path", "*.re_path", "*.url")},
        # Flask, FastAPI/Starlette
        "*.add_url_rule": "*",
        "*.add_api_route": "*",
        "Route": "*",
        "*.Route": "*",
        # aiohttp
        **{f"*.add_{verb}": verb.upper() for verb in ("get", "post", "put", "patch", "delete", "head")},
        "*.add_route": "*",
        "*.add_view": "*",
        **{f"web.{verb}": verb.upper() for verb in ("get", "post", "put", "patch", "delete")},
        "web.route": "*",
        "web.view": "*",
        # DRF routers, Tornado applications
        "*router.register": "*",
        "*Application": "*",
        "*.add_handlers": "*",
    },
    # Class-based views: Django View and generics, DRF APIView/ViewSets, Flask MethodView,
    # Tornado RequestHandler, Starlette HTTPEndpoint, aiohttp web.View.
    "view_bases": ["View", "*.View", "*View", "*ViewSet", "*RequestHandler", "*HTTPEndpoint"],
    # Calls mounting a router/blueprint under a prefix (FastAPI, Flask).
    "mounts": ["*.include_router", "*.register_blueprint"],
    "view_methods": {
        **{verb: verb.upper() for verb in ("get", "post", "put", "patch", "delete", "head", "options")},
        "list": "GET",
        "retrieve": "GET",
        "create": "POST",
        "update": "PUT",
        "partial_update": "PATCH",
        "destroy": "DELETE",
    },
}
