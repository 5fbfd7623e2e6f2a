"""`manage.py source add|list|test|remove`, with secrets never printed."""

from __future__ import annotations

import io
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from registry.models import RegistryObject, Source
from tests.factories.registry import (
    CodeUsageFactory,
    ColumnFactory,
    DependencyFactory,
    RegistryObjectFactory,
    SourceFactory,
)
from tests.registry.sources_helpers import PASSWORD, UNREACHABLE_DSN, make_source, server_dsn


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("source", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_add_creates_then_updates_to_exactly_the_given_settings(db, tmp_path):
    out, _ = run(
        "add", "warehouse", "--dsn", UNREACHABLE_DSN,
        "--include-schema", "raw", "--include-schema", "mart",
        "--exclude-schema", "ops", "--code-path", str(tmp_path), "--search-path", "mart",
    )  # fmt: skip
    assert out == "created source warehouse (postgresql://warehouse:***@127.0.0.1:1/warehouse)\n"
    source = Source._default_manager.get(name="warehouse")
    assert (source.include_schemas, source.exclude_schemas) == (["raw", "mart"], ["ops"])
    assert (source.code_paths, source.search_path) == ([str(tmp_path)], ["mart"])

    out, _ = run("add", "warehouse", "--dsn", "env:WAREHOUSE_DSN", "--exclude-schema", "tmp")
    assert out == "updated source warehouse (env:WAREHOUSE_DSN)\n"
    source.refresh_from_db()
    assert source.dsn == "env:WAREHOUSE_DSN"
    assert (source.include_schemas, source.exclude_schemas, source.code_paths) == ([], ["tmp"], [])
    assert Source._default_manager.count() == 1


def test_add_warns_about_a_missing_code_path(db):
    out, err = run("add", "warehouse", "--dsn", UNREACHABLE_DSN, "--code-path", "no/such/dir")
    assert out.startswith("created source warehouse")
    assert err == "warning: code path 'no/such/dir' does not exist\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dsn", f"garbage {PASSWORD}"], "dsn: Not a valid DSN"),
        (["--dsn", UNREACHABLE_DSN, "--include-schema", "ops", "--exclude-schema", "ops"], "Both included"),
        (["--dsn", "env:1BAD"], "dsn: env: must be followed"),
    ],
)
def test_add_rejects_bad_input_without_printing_the_dsn(db, args, message):
    with pytest.raises(CommandError) as exc:
        run("add", "warehouse", *args)
    assert message in str(exc.value)
    assert PASSWORD not in str(exc.value)
    assert not Source._default_manager.exists()


def test_add_rejects_a_name_that_is_not_a_slug(db):
    with pytest.raises(CommandError, match="name:"):
        run("add", "not a slug", "--dsn", UNREACHABLE_DSN)


def test_list_masks_every_dsn(db):
    make_source()
    make_source(name="kv", dsn=f"host=db user=etl password={PASSWORD} dbname=w", is_active=False)
    out, _ = run("list")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ENGINE", "ACTIVE", "LAST", "DISCOVERY", "DSN"]
    assert lines[1].split()[:3] == ["kv", "postgresql", "no"]
    assert lines[1].endswith("user=etl password=*** dbname=w host=db")
    assert lines[2].endswith("postgresql://warehouse:***@127.0.0.1:1/warehouse")
    assert PASSWORD not in out


def test_test_prints_ok_and_the_server_version(db):
    make_source(dsn=server_dsn())
    out, _ = run("test", "warehouse")
    assert out.startswith("warehouse: ok, server ")


def test_test_fails_with_exit_status_1_and_no_secret(db, caplog):
    make_source()
    with caplog.at_level(logging.DEBUG), pytest.raises(CommandError) as exc:
        run("test", "warehouse")
    assert PASSWORD not in caplog.text
    assert exc.value.returncode == 1
    assert str(exc.value).startswith("warehouse: OperationalError: ")
    assert PASSWORD not in str(exc.value)


def test_remove_deletes_the_source_and_its_registry_rows(db):
    source = make_source()
    RegistryObjectFactory.create_batch(2, source=source)
    out, _ = run("remove", "warehouse")
    assert out.startswith("removed source warehouse (2 registry objects")
    assert not Source._default_manager.exists()


def test_remove_names_no_object_in_a_statement_and_keeps_other_sources(db):
    source, other = make_source(), SourceFactory(name="other")
    objects = RegistryObjectFactory.create_batch(150, source=source)
    kept = RegistryObjectFactory(source=other, partition_of=objects[0])
    ColumnFactory(object=objects[1])
    DependencyFactory(source=source, upstream=objects[0], downstream=objects[2])
    CodeUsageFactory(object=objects[3])
    params: list[int] = []

    def count_params(execute, sql, values, many, context):
        params.append(len(values or ()))
        return execute(sql, values, many, context)

    with connection.execute_wrapper(count_params):
        out, _ = run("remove", "warehouse")
    assert out.startswith("removed source warehouse (150 registry objects")
    # A collector would list the 150 objects' ids in a statement: none has more than a few.
    assert params and max(params) <= 3
    assert not RegistryObject.objects.filter(source=source).exists()
    kept.refresh_from_db()
    assert kept.partition_of_id is None


def test_unknown_source_is_an_error(db):
    with pytest.raises(CommandError, match="no source named 'nope'"):
        run("test", "nope")
    with pytest.raises(CommandError, match="no source named 'nope'"):
        run("remove", "nope")
