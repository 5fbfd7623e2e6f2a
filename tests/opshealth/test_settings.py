"""Settings helpers (env parsing, NAME_FILE secrets) and the system checks' stable ids."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
from django.conf import settings
from django.test import override_settings

from opshealth.settings import envbool, envint, envlist, envsecret
from opshealth.system_checks import check_settings

# Settings imported in a child process without starting the embedded server: a
# DATABASE_URL is enough (nothing connects at import).
CHILD_ENV = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing", "PATH": os.environ.get("PATH", "")}


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), ("on", True), ("no", False), ("", False)]
)
def test_envbool_accepts_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("OPSHEALTH_TEST_FLAG", raw)
    assert envbool("OPSHEALTH_TEST_FLAG") is expected


@pytest.mark.parametrize("junk", ["maybe", "2", "tru", "yes please"])
def test_envbool_rejects_junk(monkeypatch, junk):
    monkeypatch.setenv("OPSHEALTH_TEST_FLAG", junk)
    with pytest.raises(ValueError, match="OPSHEALTH_TEST_FLAG must be a boolean"):
        envbool("OPSHEALTH_TEST_FLAG")


def test_envbool_default_when_unset(monkeypatch):
    monkeypatch.delenv("OPSHEALTH_TEST_FLAG", raising=False)
    assert envbool("OPSHEALTH_TEST_FLAG", "true") is True


def test_envint_parses_and_rejects_junk(monkeypatch):
    monkeypatch.setenv("OPSHEALTH_TEST_INT", "42")
    assert envint("OPSHEALTH_TEST_INT", 1) == 42
    monkeypatch.setenv("OPSHEALTH_TEST_INT", "")
    assert envint("OPSHEALTH_TEST_INT", 7) == 7
    monkeypatch.setenv("OPSHEALTH_TEST_INT", "4two")
    with pytest.raises(ValueError, match="OPSHEALTH_TEST_INT must be an integer"):
        envint("OPSHEALTH_TEST_INT", 1)


def test_envlist_splits_and_trims(monkeypatch):
    monkeypatch.setenv("OPSHEALTH_TEST_LIST", " a.example , ,b.example")
    assert envlist("OPSHEALTH_TEST_LIST") == ["a.example", "b.example"]


def test_envsecret_reads_the_name_file_variable_first(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")
    monkeypatch.setenv("OPSHEALTH_TEST_SECRET", "from-the-variable")
    assert envsecret("OPSHEALTH_TEST_SECRET") == "from-the-variable"
    monkeypatch.setenv("OPSHEALTH_TEST_SECRET_FILE", str(secret_file))
    assert envsecret("OPSHEALTH_TEST_SECRET") == "from-the-file"


def _settings_in_child(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", f"import opshealth.settings as s; {code}"],
        cwd=settings.BASE_DIR,
        env={**CHILD_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_junk_boolean_stops_the_settings_with_a_clear_message():
    child = _settings_in_child("pass", DEBUG="maybe")
    assert child.returncode != 0
    assert "DEBUG must be a boolean (true/false), got 'maybe'" in child.stderr


def test_secret_key_and_database_url_come_from_files(tmp_path):
    (tmp_path / "key").write_text("k" * 50 + "\n")
    (tmp_path / "db").write_text("postgresql://etl@db.internal:6543/ops\n")
    child = _settings_in_child(
        "print(s.SECRET_KEY); print(s.DATABASES['default']['HOST'], s.DATABASES['default']['PORT'])",
        SECRET_KEY_FILE=str(tmp_path / "key"),
        DATABASE_URL_FILE=str(tmp_path / "db"),
        DATABASE_URL="",
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["k" * 50, "db.internal 6543"]


@pytest.fixture(autouse=True)
def _real_secret_key(settings):
    # pytest-django runs with DEBUG off, so the demo key would trip W001 everywhere.
    settings.SECRET_KEY = "a-long-random-production-key-" * 2


def ids() -> list[str]:
    return [problem.id for problem in check_settings(None)]


def test_the_test_settings_pass_every_check():
    assert ids() == []


@override_settings(DEBUG=False, SECRET_KEY="opshealth-insecure-demo-key")
def test_w001_demo_secret_key_without_debug():
    assert ids() == ["opshealth.W001"]


@override_settings(DEBUG=True, SECRET_KEY="opshealth-insecure-demo-key")
def test_w001_is_quiet_in_debug():
    assert ids() == []


def test_e001_database_is_not_postgresql():
    databases = {"default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.sqlite3"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Django warns that overriding DATABASES is unusual
        with override_settings(DATABASES=databases):
            assert ids() == ["opshealth.E001"]


@pytest.mark.parametrize(("healthy", "degraded"), [(90, 95), (101, 95)])
def test_e002_health_bands_out_of_order(healthy, degraded):
    with override_settings(OPSHEALTH_HEALTHY_THRESHOLD=healthy, OPSHEALTH_DEGRADED_THRESHOLD=degraded):
        assert ids() == ["opshealth.E002"]


@override_settings(OPSHEALTH_MAX_PAYLOAD_BYTES=0)
def test_e003_payload_limit_not_positive():
    assert ids() == ["opshealth.E003"]


def test_manage_py_check_reports_the_id():
    child = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={**CHILD_ENV, "DEBUG": "false", "OPSHEALTH_HEALTHY_THRESHOLD": "50"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 1
    assert "opshealth.E002" in child.stderr
    assert "opshealth.W001" in child.stderr


def test_debug_is_off_unless_asked_for():
    child = _settings_in_child("print(s.DEBUG)")
    assert (child.returncode, child.stdout) == (0, "False\n"), child.stderr


@pytest.mark.parametrize(("given", "seen"), [(None, "true"), ("false", "false")])
def test_make_demo_runs_in_debug_mode_unless_told_otherwise(given, seen):
    # Each recipe line of `make demo` prints the DEBUG it would run with, instead of running.
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"} | ({"DEBUG": given} if given else {})
    child = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "demo", "PY=sh -c 'echo DEBUG=$$DEBUG' --"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert set(child.stdout.splitlines()) == {f"DEBUG={seen}"}


PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "q8v!Yz2#Lr0_wPz7Km4nT1bXo9Hc3Fd6Sj5Ga8Ue2Ri7Vl1Ny0Qm",
    "ALLOWED_HOSTS": "ops.example.com",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto,https",
}


def _check_deploy(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={**CHILD_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_the_readmes_production_settings():
    child = _check_deploy(**PRODUCTION_ENV)
    assert child.returncode == 0, child.stderr
    assert "System check identified no issues" in child.stdout


def test_check_deploy_names_each_missing_production_setting():
    child = _check_deploy(DEBUG="false", SECRET_KEY=PRODUCTION_ENV["SECRET_KEY"])
    assert child.returncode == 1
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in child.stderr


def test_proxy_ssl_header_is_read_as_djangos_pair():
    child = _settings_in_child(
        "print(s.SECURE_PROXY_SSL_HEADER)", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto,https"
    )
    assert child.stdout == "('HTTP_X_FORWARDED_PROTO', 'https')\n", child.stderr
    child = _settings_in_child("pass", SECURE_PROXY_SSL_HEADER="https")
    assert child.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be 'Header-Name,value'" in child.stderr
