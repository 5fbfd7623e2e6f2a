"""Settings of the server process in test_embedded_restart.py: the project's, serving
one page that reads its database (no migrations needed)."""

from opshealth.settings import *  # noqa: F403

ROOT_URLCONF = "tests.opshealth.restart_urls"
