"""MariaDB/MySQL and DuckDB sources: DSNs, connection tests, discovery of a real catalog
(this machine's MariaDB, a DuckDB file), edge provenance, and the checks that apply."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from checks.models import ERROR, OK, WARN
from checks.refresh import refresh_source
from registry import mysql_catalog
from registry.discovery import discover, scan_code
from registry.engines import ENGINES
from registry.models import Dependency, RegistryObject, mask_dsn
from tests.checks.conftest import run_check
from tests.factories.registry import SourceFactory
from tests.registry.conftest import Ref, scanner_of

pytestmark = pytest.mark.django_db


def shop_mariadb(server, other: str) -> str:
    """A shop database on MariaDB; `other` is a second database beside it."""
    db = server.database("_shop")
    server.execute(
        f"CREATE TABLE `{db}`.customers (customer_id INT PRIMARY KEY, name VARCHAR(100) NOT NULL)"
        " COMMENT 'Customers from the CRM'",
        f"CREATE TABLE `{db}`.orders (order_id BIGINT PRIMARY KEY, customer_id INT, amount DECIMAL(12,2),"
        f" FOREIGN KEY (customer_id) REFERENCES `{db}`.customers (customer_id))",
        f"INSERT INTO `{db}`.customers VALUES (1, 'ada'), (2, 'bob')",
        f"CREATE VIEW `{db}`.v_orders AS SELECT o.order_id, o.amount, c.name FROM `{db}`.orders o"
        f" JOIN `{db}`.customers c ON c.customer_id = o.customer_id",
        f"CREATE VIEW `{db}`.v_revenue AS WITH per AS (SELECT name, amount FROM `{db}`.v_orders)"
        " SELECT name, sum(amount) AS revenue FROM per GROUP BY name",
        f"CREATE TABLE `{other}`.audit (id INT)",
    )
    return db


SHOP_DUCKDB = """
CREATE SCHEMA shop; CREATE SCHEMA ops;
CREATE TABLE shop.customers (customer_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL);
COMMENT ON TABLE shop.customers IS 'Customers from the CRM';
CREATE TABLE shop.orders (order_id BIGINT PRIMARY KEY, customer_id INTEGER REFERENCES shop.customers (customer_id),
                          amount DECIMAL(12,2));
INSERT INTO shop.customers VALUES (1, 'ada'), (2, 'bob');
CREATE VIEW shop.v_orders AS SELECT o.order_id, o.amount, c.name FROM shop.orders o JOIN customers c USING (customer_id);
CREATE VIEW shop.v_revenue AS WITH per AS (SELECT name, amount FROM shop.v_orders)
    SELECT name, sum(amount) AS revenue FROM per GROUP BY name;
CREATE TABLE ops.audit (id INTEGER);
"""


def registry_of(source) -> dict[str, RegistryObject]:
    return {o.object_name: o for o in RegistryObject.objects.filter(source=source)}


def edges_of(source) -> set[tuple[str, str, str]]:
    return {
        (d.upstream.object_name, d.downstream.object_name, d.provenance)
        for d in Dependency.objects.filter(source=source).select_related("upstream", "downstream")
    }


SHOP_EDGES = {
    ("orders", "v_orders", "parsed"),
    ("customers", "v_orders", "parsed"),
    ("v_orders", "v_revenue", "parsed"),
}


def test_engines_declare_their_capabilities():
    assert {name: e.has_materialized_views for name, e in ENGINES.items()} == {
        "postgresql": True,
        "mysql": False,
        "duckdb": False,
    }
    assert ENGINES["postgresql"].exact_dependencies and not ENGINES["duckdb"].exact_dependencies
    assert all(e.row_estimates for e in ENGINES.values())
    assert {e.dialect for e in ENGINES.values()} == {"postgres", "mysql", "duckdb"}


@pytest.mark.parametrize(
    ("engine", "dsn", "error"),
    [
        ("mysql", "mysql://etl:pw@db.example.com:3306/shop", ""),
        ("mysql", "mariadb://etl@db.example.com/shop", ""),
        ("mysql", "postgresql://etl@db.example.com/shop", "Not a valid DSN"),
        ("mysql", "mysql://etl@db.example.com:port/shop", "port must be a number"),
        ("duckdb", "/data/warehouse.duckdb", ""),
        ("duckdb", "mysql://etl@db/shop", "Not a DuckDB file path"),
    ],
)
def test_each_engine_validates_its_own_dsn(engine, dsn, error):
    source = SourceFactory.build(name="s", engine=engine, dsn=dsn)
    if not error:
        source.full_clean()
        return
    with pytest.raises(ValidationError) as exc:
        source.full_clean()
    assert error in str(exc.value.message_dict["dsn"])
    assert "pw" not in str(exc.value)


def test_a_mysql_dsn_is_shown_masked():
    source = SourceFactory.build(engine="mysql", dsn="mysql://etl:s3cr3t@db.example.com:3306/shop")
    assert source.masked_dsn == "mysql://etl:***@db.example.com:3306/shop"
    assert "s3cr3t" not in mask_dsn(source.dsn)


@pytest.mark.services
def test_mariadb_connection_test_reports_the_server_and_failures_without_the_password(mariadb):
    source = SourceFactory(engine="mysql", dsn=mariadb.dsn())
    result = source.test_connection()
    assert result.ok and "MariaDB" in result.server_version
    source.refresh_from_db()
    assert source.server_version == result.server_version
    wrong = SourceFactory(engine="mysql", dsn="mysql://nobody:s3cr3t-pw@127.0.0.1:3306/nowhere")
    result = wrong.test_connection()
    assert not result.ok and result.error_class == "OperationalError"
    assert "s3cr3t-pw" not in result.message


@pytest.mark.services
def test_a_mariadb_source_is_discovered_with_keys_comments_estimates_and_parsed_edges(mariadb):
    other = mariadb.database("_other")
    db = shop_mariadb(mariadb, other)
    source = SourceFactory(name="shop", engine="mysql", dsn=mariadb.dsn(db), include_schemas=[db])
    result = discover(source, code_scan=False)
    assert result.found == 4 and result.edges == 3
    objects = registry_of(source)
    assert {n: o.object_type for n, o in objects.items()} == {
        "customers": "table",
        "orders": "table",
        "v_orders": "view",
        "v_revenue": "view",
    }
    assert {o.schema_name for o in objects.values()} == {db}
    assert objects["customers"].db_comment == "Customers from the CRM"
    assert objects["v_orders"].db_comment == ""  # not MariaDB's placeholder 'VIEW'
    assert objects["customers"].estimated_rows is not None and objects["customers"].size_bytes > 0
    columns = {c.name: c for c in objects["orders"].columns.all()}
    assert list(columns) == ["order_id", "customer_id", "amount"]
    assert columns["order_id"].is_primary_key and not columns["order_id"].is_nullable
    assert columns["customer_id"].fk_target == f"{db}.customers.customer_id"
    assert columns["amount"].data_type == "decimal(12,2)"
    # MariaDB records no view usage: every edge is parsed from the stored definition.
    assert edges_of(source) == SHOP_EDGES
    source.refresh_from_db()
    assert source.discovered_search_path == [db] and "MariaDB" in source.server_version


@pytest.mark.services
def test_mariadb_discovery_repeats_without_changes_and_sees_a_dropped_column(mariadb):
    db = shop_mariadb(mariadb, mariadb.database("_other"))
    source = SourceFactory(name="shop", engine="mysql", dsn=mariadb.dsn(db), include_schemas=[db])
    discover(source, code_scan=False)
    again = discover(source, code_scan=False)
    assert (again.new, again.changed, again.gone, again.edges_added) == (0, 0, 0, 0)
    mariadb.execute(f"DROP VIEW `{db}`.v_revenue", f"ALTER TABLE `{db}`.orders DROP COLUMN amount")
    mariadb.execute(
        f"CREATE OR REPLACE VIEW `{db}`.v_orders AS SELECT o.order_id, c.name FROM `{db}`.orders o"
        f" JOIN `{db}`.customers c ON c.customer_id = o.customer_id"
    )
    third = discover(source, code_scan=False)
    assert third.gone == 1 and third.edges_removed == 1
    assert not registry_of(source)["v_revenue"].exists_in_db
    assert third.schema_changes >= 1


@pytest.mark.services
def test_checks_judge_code_usages_of_a_mariadb_source(mariadb):
    other = mariadb.database("_other")
    db = shop_mariadb(mariadb, other)
    source = SourceFactory(name="shop", engine="mysql", dsn=mariadb.dsn(db), include_schemas=[db])
    refs = [
        Ref(f"{db}.orders", schema=db, name="orders", context="endpoint"),
        Ref(f"{db}.v_churn", schema=db, name="v_churn", context="endpoint"),  # does not exist
        Ref(f"{other}.audit", schema=other, name="audit"),  # exists, not included
    ]
    source.code_paths = ["app"]
    discover(source, scanner=scanner_of(refs))
    missing = run_check("used_object_missing")
    assert [(i.subject, i.level) for i in missing.items] == [(f"{db}.v_churn", ERROR)]
    unregistered = run_check("unregistered_used_object")
    assert [(i.subject, i.level) for i in unregistered.items] == [(f"{other}.audit", WARN)]
    assert run_check("source_unreachable").status == OK
    assert run_check("mv_not_populated").status == OK


def test_a_duckdb_file_is_discovered_read_only_with_parsed_edges(duckdb_file):
    path = duckdb_file(SHOP_DUCKDB)
    before = path.read_bytes()
    source = SourceFactory(name="lake", engine="duckdb", dsn=str(path), exclude_schemas=["ops"])
    assert source.test_connection().server_version.startswith("v")
    result = discover(source, code_scan=False)
    assert result.found == 4
    objects = registry_of(source)
    assert {(o.schema_name, n, o.object_type) for n, o in objects.items()} == {
        ("shop", "customers", "table"),
        ("shop", "orders", "table"),
        ("shop", "v_orders", "view"),
        ("shop", "v_revenue", "view"),
    }
    assert objects["customers"].db_comment == "Customers from the CRM"
    assert objects["customers"].estimated_rows == 2
    columns = {c.name: c for c in objects["orders"].columns.all()}
    assert columns["order_id"].is_primary_key
    assert columns["customer_id"].fk_target == "shop.customers.customer_id"
    assert [c.name for c in objects["v_revenue"].columns.all()] == ["name", "revenue"]
    # `customers` unqualified in shop.v_orders: bound in the view's own schema.
    assert edges_of(source) == SHOP_EDGES
    assert path.read_bytes() == before
    source.refresh_from_db()
    assert source.discovered_search_path == ["main"]


def test_a_missing_duckdb_file_fails_clearly_and_is_not_created(tmp_path):
    path = tmp_path / "nowhere.duckdb"
    source = SourceFactory(name="lake", engine="duckdb", dsn=str(path))
    result = source.test_connection()
    assert not result.ok and result.error_class == "FileNotFoundError"
    assert not path.exists()
    assert run_check("source_unreachable").status == ERROR


def test_checks_judge_code_usages_of_a_duckdb_source_and_skip_matview_refreshes(duckdb_file):
    source = SourceFactory(name="lake", engine="duckdb", dsn=str(duckdb_file(SHOP_DUCKDB)))
    source.include_schemas = ["shop"]
    source.code_paths = ["app"]
    refs = [
        Ref("shop.v_orders", schema="shop", name="v_orders", context="endpoint"),
        Ref("shop.v_churn", schema="shop", name="v_churn"),
        Ref("ops.audit", schema="ops", name="audit", context="endpoint"),
    ]
    discover(source, scanner=scanner_of(refs))
    assert [(i.subject, i.level) for i in run_check("used_object_missing").items] == [("shop.v_churn", WARN)]
    assert [(i.subject, i.level) for i in run_check("unregistered_used_object").items] == [
        ("ops.audit", ERROR)
    ]
    assert refresh_source(source, run=None) == []


def test_the_code_scan_reads_sql_in_the_engine_dialect(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "report.py").write_text(
        "def report(cur):\n"
        '    cur.execute("SELECT `name`, amount FROM `shop`.`v_orders` WHERE amount > %s", (1,))\n'
    )
    source = SourceFactory.build(engine="mysql", dsn="mysql://u@127.0.0.1:1/shop", code_paths=[str(app)])
    references, errors = scan_code(source)
    assert errors == 0
    assert [(r.schema, r.name, r.kind, r.line) for r in references] == [("shop", "v_orders", "read", 2)]


def test_edge_provenance_is_in_the_api_and_the_admin(duckdb_file, admin_client):
    source = SourceFactory(name="lake", engine="duckdb", dsn=str(duckdb_file(SHOP_DUCKDB)))
    discover(source, code_scan=False)
    view = RegistryObject.objects.get(source=source, object_name="v_orders")
    body = admin_client.get(f"/api/v1/ops/source-registry/{view.pk}").json()
    assert {(e["qualified_name"], e["provenance"]) for e in body["upstream"]} == {
        ("shop.orders", "parsed"),
        ("shop.customers", "parsed"),
    }
    assert [(e["qualified_name"], e["provenance"]) for e in body["downstream"]] == [
        ("shop.v_revenue", "parsed")
    ]
    page = admin_client.get(f"/admin/registry/registryobject/{view.pk}/change/").content.decode()
    assert "edge parsed" in page


@pytest.mark.parametrize(
    ("version", "recorded"),
    [
        ("8.0.13", True),
        ("8.4.2-commercial", True),
        ("8.0.12", False),
        ("5.7.44-log", False),
        ("10.11.19-MariaDB", False),
    ],
)
def test_view_edges_are_read_from_view_table_usage_only_where_mysql_fills_it(version, recorded):
    assert mysql_catalog.records_view_usage(version) is recorded
