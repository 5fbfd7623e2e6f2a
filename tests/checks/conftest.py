"""Fixtures of the checks tests: a real warehouse database built per test.

The warehouse is a separate database on the test PostgreSQL server, reached over its
own connection (autocommit): what the checks read from a source's live catalog must be
committed, which Django's test transaction would hide.
"""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from psycopg.conninfo import make_conninfo

from checks.health import CHECKS, Context
from registry.models import AssetLink
from tests.factories.registry import SourceFactory

WAREHOUSE_DB = "test_checks_warehouse"
SCHEMAS = ("raw", "canon", "mart", "ops")


def _conninfo(dbname: str) -> str:
    db = settings.DATABASES["default"]
    return make_conninfo(
        dbname=dbname, user=db["USER"], password=db["PASSWORD"] or None, host=db["HOST"], port=db["PORT"]
    )


@pytest.fixture(scope="session")
def warehouse_dsn(django_db_setup) -> str:
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {WAREHOUSE_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {WAREHOUSE_DB}")
    yield _conninfo(WAREHOUSE_DB)
    with psycopg.connect(_conninfo("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {WAREHOUSE_DB} WITH (FORCE)")


@pytest.fixture
def warehouse(warehouse_dsn):
    """An autocommit connection to an emptied warehouse (schemas raw, canon, mart, ops)."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        yield conn


@pytest.fixture
def source(db, warehouse, warehouse_dsn):
    return SourceFactory(name="wh", dsn=warehouse_dsn, exclude_schemas=["ops"])


def link(obj, key: str | None = None) -> AssetLink:
    """Map a ledger asset key to a registry object, as refresh_asset_links would."""
    return AssetLink.objects.create(normalized_key=(key or obj.qualified_name).lower(), object=obj)


def run_check(key: str, now=None):
    from django.utils import timezone

    return CHECKS[key]().evaluate(Context(now or timezone.now()))
