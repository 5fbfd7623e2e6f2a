"""`manage.py demo --no-serve` end to end, on the test server with its own database."""

from __future__ import annotations

import io
import os

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from psycopg import sql

from checks.models import Evaluation
from ledger.models import ApiToken, Run
from opshealth.demo import warehouse
from registry.models import RegistryObject, Source

DATABASE = f"test_demo_cmd_{os.getpid()}"


@pytest.fixture(scope="module", autouse=True)
def _drop_demo_database():
    yield
    with psycopg.connect(warehouse.demo_dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


def demo(credentials_file, **options) -> str:
    out = io.StringIO()
    call_command(
        "demo",
        no_serve=True,
        database=DATABASE,
        credentials_file=str(credentials_file),
        stdout=out,
        stderr=io.StringIO(),
        **options,
    )
    return out.getvalue()


def test_demo_sets_everything_up_and_rerunning_is_safe(db, tmp_path, monkeypatch, settings):
    monkeypatch.delenv("OPSHEALTH_DEMO_PASSWORD", raising=False)
    # No SITE_URL for the demo to respect, and none left behind by it: the setenv records
    # the variable's absence, which the teardown restores, as the settings fixture does.
    monkeypatch.setenv("SITE_URL", "")
    monkeypatch.delenv("SITE_URL")
    credentials = tmp_path / "demo-admin.txt"
    first = demo(credentials, host="0.0.0.0", port="9000")
    # The demo's alert links lead to the demo's server (its task cluster inherits it).
    assert settings.SITE_URL == os.environ["SITE_URL"] == "http://0.0.0.0:9000"
    mailed = [
        line for message in mail.outbox for line in message.body.splitlines() if line.startswith("Incident: ")
    ]
    assert mailed and all(
        line.startswith("Incident: http://0.0.0.0:9000/ops/health?tab=alerts&incident=") for line in mailed
    )

    password = credentials.read_text().strip()
    assert len(password) >= 12
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    urls = [line for line in first.splitlines() if "http://" in line]
    assert urls[0] == "Dashboard: http://0.0.0.0:9000/ops/health  (log in as below)"
    for line in (
        "Admin:     http://0.0.0.0:9000/admin/",
        "API root:  http://0.0.0.0:9000/api/v1/",
        "API docs:  http://0.0.0.0:9000/api/docs/",
        f"Login:     admin / {password}",
        "created admin user admin",
    ):
        assert line in first.splitlines()
    source = Source._default_manager.get(name="demo")
    assert source.dsn == warehouse.demo_dsn(DATABASE)
    assert (source.code_paths, source.exclude_schemas, source.is_active) == (["demo/app"], ["ops"], True)
    admin = get_user_model()._default_manager.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password(password)
    assert RegistryObject._default_manager.filter(source=source, exists_in_db=True).count() >= 30
    # demo_activity gave the platform a past and evaluated it.
    assert Run.objects.filter(pipeline__name="load_customers").count() > 20
    assert Evaluation.objects.exists()
    token_lines = [line.split()[2] for line in first.splitlines() if line.startswith("API token: ")]
    token = (tmp_path / "demo-token.txt").read_text().strip()
    assert ApiToken._default_manager.get(name="demo-read").token_hash == ApiToken.hash(token)
    assert token_lines == [token]

    second = demo(credentials)
    assert f"Login:     admin / {password}" in second.splitlines()
    assert f"demo warehouse {DATABASE} is already built (use --reset to rebuild)" in second
    assert "updated source demo" in second
    assert "updated admin user admin" in second
    assert [line.split()[2] for line in second.splitlines() if line.startswith("API token: ")] == token_lines
    assert Source._default_manager.filter(name="demo").count() == 1
    assert get_user_model()._default_manager.filter(username="admin").count() == 1


def test_demo_password_from_the_environment_is_used_and_not_stored(db, tmp_path, monkeypatch):
    monkeypatch.setenv("OPSHEALTH_DEMO_PASSWORD", "correct-horse-battery")
    credentials = tmp_path / "demo-admin.txt"
    out = demo(credentials)
    assert "Login:     admin / correct-horse-battery" in out.splitlines()
    assert not credentials.exists()
    assert get_user_model()._default_manager.get(username="admin").check_password("correct-horse-battery")
