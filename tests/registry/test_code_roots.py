"""Code paths lie under OPSHEALTH_CODE_ROOTS (default: the project directory): `..`
escapes and symlinks out of a root are refused when a source is saved (API, admin,
`source add`) and again when its code is scanned."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from registry.codescan import scan_paths
from registry.discovery import scan_code
from registry.models import Source
from tests.registry.sources_helpers import UNREACHABLE_DSN, make_source

OUTSIDE = ["/etc", "/root", "demo/../..", "../secure-elsewhere"]


@pytest.fixture
def link_out(tmp_path) -> str:
    """A directory inside the project (pytest's basetemp is) that is a symlink to /etc."""
    assert tmp_path.resolve().is_relative_to(settings.BASE_DIR)
    (tmp_path / "etc").symlink_to("/etc")
    return str(tmp_path / "etc")


def post(client, code_paths: list[str]):
    payload = {"name": "w", "dsn": UNREACHABLE_DSN, "code_paths": code_paths}
    return client.post("/api/v1/sources", payload, format="json")


@pytest.mark.parametrize("path", OUTSIDE)
def test_api_refuses_a_code_path_outside_the_roots(staff_client, path):
    response = post(staff_client, [path])
    assert response.status_code == 400
    assert "Outside the code roots" in response.json()["code_paths"][0]
    assert not Source._default_manager.exists()


def test_api_refuses_a_symlink_out_of_the_roots(staff_client, link_out):
    assert post(staff_client, [link_out]).status_code == 400
    assert post(staff_client, [f"{link_out}/ssl"]).status_code == 400


def test_api_accepts_paths_under_the_roots_relative_absolute_or_not_there_yet(staff_client):
    response = post(staff_client, ["demo/app", str(settings.BASE_DIR / "demo"), "not/deployed/yet"])
    assert response.status_code == 201, response.json()


def test_the_roots_are_a_setting(staff_client, settings, tmp_path):
    settings.OPSHEALTH_CODE_ROOTS = [str(tmp_path)]
    assert post(staff_client, ["demo/app"]).status_code == 400
    assert post(staff_client, [str(tmp_path / "app")]).status_code == 201


def test_source_add_refuses_a_code_path_outside_the_roots(db):
    with pytest.raises(CommandError, match="code_paths: Outside the code roots"):
        call_command(
            "source", "add", "w", "--dsn", UNREACHABLE_DSN, "--code-path", "/root", stdout=io.StringIO()
        )


def test_admin_refuses_a_code_path_outside_the_roots(db, link_out):
    client = Client()
    client.force_login(get_user_model()._default_manager.create_superuser("root", "r@example.com", "pw"))
    data = {
        "name": "w",
        "engine": "postgresql",
        "dsn": UNREACHABLE_DSN,
        "is_active": "on",
        "code_paths": link_out,
    }
    data |= {"include_schemas": "", "exclude_schemas": "", "search_path": ""}
    page = client.post("/admin/registry/source/add/", data).content.decode()
    assert "Outside the code roots" in page
    assert not Source._default_manager.exists()


def test_scan_skips_a_stored_code_path_that_now_leads_out_of_the_roots(db, tmp_path):
    inside = tmp_path / "app"
    inside.mkdir()
    source = make_source(code_paths=[str(inside)])
    # Re-pointed after it was saved: the directory is now a symlink to /etc.
    inside.rmdir()
    inside.symlink_to("/etc")
    Source._default_manager.filter(pk=source.pk).update(code_paths=[str(inside), "/root"])
    source.refresh_from_db()
    scanned: list[list[Path]] = []

    def recording_scanner(paths, **options):
        scanned.append(paths)
        return scan_paths([])

    references, errors = scan_code(source, recording_scanner)
    assert scanned == [[]] and references == [] and errors == 2


def test_scan_does_not_read_a_file_linked_from_outside_its_code_path(tmp_path):
    code, elsewhere = tmp_path / "code", tmp_path / "elsewhere"
    code.mkdir()
    elsewhere.mkdir()
    (code / "jobs.py").write_text('Q = "SELECT * FROM raw.orders"\n')
    (elsewhere / "secret.py").write_text('Q = "SELECT * FROM raw.payroll"\n')
    (code / "linked.py").symlink_to(elsewhere / "secret.py")
    result = scan_paths([code])
    assert {ref.raw_name for ref in result.references} == {"raw.orders"}
    assert [(e.file, e.message) for e in result.errors] == [
        ("linked.py", "a symlink out of the code path: not read")
    ]
