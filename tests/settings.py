"""Test settings: the project's settings on a separate embedded data directory.

Tests never touch the demo data: without DATABASE_URL they get their own private
PostgreSQL under .opshealth/test-pg (and pytest-django's test_opshealth database).
"""

import os
from pathlib import Path

os.environ.setdefault(
    "OPSHEALTH_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".opshealth" / "test-pg")
)

# DEBUG defaults to off; the tests (and the processes they start) run with it on, as
# `make demo` does. pytest-django still turns it off inside each test.
os.environ.setdefault("DEBUG", "true")

from opshealth.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": False}  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The API takes JSON only (multipart and form bodies are 415): so do the test clients.
REST_FRAMEWORK = {**REST_FRAMEWORK, "TEST_REQUEST_DEFAULT_FORMAT": "json"}  # noqa: F405
