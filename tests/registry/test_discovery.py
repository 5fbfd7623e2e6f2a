"""Discovery end to end: a real warehouse in, the registry out."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.forms.models import model_to_dict

from registry.discovery import DiscoveryError, discover
from registry.models import CodeUsage, Column, Dependency, RegistryObject, SchemaChange, Source
from tests.factories.registry import SourceFactory
from tests.registry.conftest import Ref, dsn_for, scanner_of

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def _objects(source) -> dict[str, RegistryObject]:
    return {o.qualified_name: o for o in RegistryObject.objects.filter(source=source)}


def _dump(source) -> dict:
    """Every registry row of the source, as plain dicts keyed by a stable key."""
    return {
        "objects": {o.qualified_name: model_to_dict(o) for o in RegistryObject.objects.filter(source=source)},
        "objects_times": {
            o.qualified_name: (o.created_at, o.updated_at, o.discovered_at)
            for o in RegistryObject.objects.filter(source=source)
        },
        "columns": sorted(
            Column.objects.filter(object__source=source).values_list(
                "id",
                "object_id",
                "name",
                "position",
                "data_type",
                "is_nullable",
                "is_primary_key",
                "fk_target",
            )
        ),
        "edges": sorted(
            Dependency.objects.filter(source=source).values_list("id", "upstream_id", "downstream_id")
        ),
        "usages": sorted(CodeUsage.objects.filter(source=source).values_list()),
        "changes": sorted(SchemaChange.objects.filter(object__source=source).values_list()),
    }


def test_first_discovery_registers_every_object(ro_source):
    result = discover(ro_source)
    objs = _objects(ro_source)
    assert (result.found, result.new, result.changed, result.gone) == (17, 17, 0, 0)
    assert "ops.job_log" not in objs  # excluded schema
    assert objs["raw.events_2026_10"].partition_of == objs["raw.events"]
    assert objs["raw.events_2026_10"].is_partition and objs["raw.events"].object_type == "partitioned_table"
    assert objs["raw.remote_rates"].object_type == "foreign_table"
    assert (objs["mart.daily_sales"].is_populated, objs["mart.daily_sales"].has_unique_index) == (True, True)
    assert objs["mart.customer_ltv"].is_populated is False
    assert objs["raw.customers"].db_comment == "Customers as loaded from the CRM"
    assert objs["raw.CamelCaseImport"].object_type == "table" and "public.Daily.Stats" in objs
    assert all(o.discovered_at and o.last_verified_at and o.exists_in_db for o in objs.values())
    order_cols = list(
        objs["raw.orders"].columns.values_list("name", "data_type", "is_primary_key", "fk_target")
    )
    assert order_cols == [
        ("order_id", "bigint", True, ""),
        ("customer_id", "integer", False, "raw.customers.customer_id"),
        ("amount", "numeric(12,2)", False, ""),
        ("created_at", "timestamp with time zone", False, ""),
    ]
    assert result.columns == Column.objects.filter(object__source=ro_source).count()
    edges = {(d.upstream.qualified_name, d.downstream.qualified_name) for d in Dependency.objects.all()}
    assert ("mart.v_revenue", "mart.v_top") in edges and ("raw.events", "mart.v_events") in edges
    assert result.edges == len(edges) == 7
    ro_source.refresh_from_db()
    assert (ro_source.last_discovery_status, ro_source.last_discovery_error) == ("ok", "")
    assert ro_source.discovered_search_path == ["public"]
    assert ro_source.server_version


def test_include_list_limits_discovery(shared_warehouse, default_rules):
    source = SourceFactory(name="only-mart", dsn=shared_warehouse.dsn, include_schemas=["mart"])
    discover(source)
    assert {o.schema_name for o in RegistryObject.objects.filter(source=source)} == {"mart"}


def test_repeat_discovery_changes_nothing_but_verification_time(ro_source, tmp_path):
    refs = [Ref("raw.orders", context="endpoint", route="GET /orders"), Ref("mart.nothing", line=7)]
    with time_machine.travel(T0, tick=False):
        discover(ro_source, scanner=scanner_of(refs))
    ro_source.code_paths = [str(tmp_path)]
    ro_source.save()
    with time_machine.travel(T0, tick=False):
        discover(ro_source, scanner=scanner_of(refs))
    before = _dump(ro_source)
    later = T0 + dt.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        result = discover(ro_source, scanner=scanner_of(refs))
    after = _dump(ro_source)
    assert (result.new, result.changed, result.gone, result.schema_changes) == (0, 0, 0, 0)
    assert (result.edges_added, result.edges_removed, result.inferred_changed) == (0, 0, 0)
    for name, row in after["objects"].items():
        assert row.pop("last_verified_at") == later
        assert row.pop("last_seen_at") == later
        before["objects"][name].pop("last_verified_at")
        before["objects"][name].pop("last_seen_at")
    assert after == before


def test_override_fields_are_never_overwritten(ro_source):
    discover(ro_source)
    overrides = {
        "health_enabled": False,
        "is_expected": True,
        "is_critical": True,
        "notes": "owned by finance",
        "description": "Orders, the real ones",
        "refresh_schedule": dt.timedelta(hours=6),
        "max_staleness": dt.timedelta(hours=12),
    }
    RegistryObject.objects.filter(source=ro_source, object_name="orders", schema_name="raw").update(
        **overrides
    )
    ro_source.refresh_from_db()
    discover(ro_source)
    orders = RegistryObject.objects.get(source=ro_source, schema_name="raw", object_name="orders")
    assert {k: getattr(orders, k) for k in overrides} == overrides
    assert orders.db_comment == ""  # the discovered comment lives in its own column


def test_vanished_object_is_kept_and_flagged_then_revived(wh_source, warehouse):
    with time_machine.travel(T0, tick=False):
        discover(wh_source)
    warehouse.execute("DROP VIEW mart.v_top")
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        result = discover(wh_source)
    gone = RegistryObject.objects.get(source=wh_source, schema_name="mart", object_name="v_top")
    assert result.gone == 1 and result.edges_removed == 1
    assert gone.exists_in_db is False
    assert gone.last_seen_at == T0 and gone.last_verified_at == T0 + dt.timedelta(days=1)
    assert gone.discovered_at == T0
    warehouse.execute("CREATE VIEW mart.v_top AS SELECT * FROM mart.v_revenue")
    result = discover(wh_source)
    gone.refresh_from_db()
    assert gone.exists_in_db is True and gone.discovered_at == T0 and result.changed == 1


def test_schema_changes_are_recorded(wh_source, warehouse):
    discover(wh_source)
    warehouse.execute(
        "ALTER TABLE raw.orders ADD COLUMN channel text, DROP COLUMN created_at, ALTER COLUMN amount TYPE numeric"
    )
    with time_machine.travel(T0, tick=False):
        result = discover(wh_source)
    changes = sorted(
        SchemaChange.objects.filter(object__object_name="orders", object__schema_name="raw").values_list(
            "change", "column_name", "old_type", "new_type", "detected_at"
        )
    )
    assert changes == [
        ("added", "channel", "", "text", T0),
        ("removed", "created_at", "timestamp with time zone", "", T0),
        ("type_changed", "amount", "numeric(12,2)", "numeric", T0),
    ]
    assert result.schema_changes == 3
    orders = RegistryObject.objects.get(source=wh_source, schema_name="raw", object_name="orders")
    assert list(orders.columns.values_list("name", flat=True)) == [
        "order_id",
        "customer_id",
        "amount",
        "channel",
    ]


def test_new_dependency_is_added_and_dropped_one_removed(wh_source, warehouse):
    discover(wh_source)
    warehouse.execute(
        "CREATE VIEW mart.v_lines AS SELECT * FROM canon.order_lines;"
        "CREATE OR REPLACE VIEW mart.v_events AS SELECT 1::bigint AS n"
    )
    result = discover(wh_source)
    edges = {(d.upstream.qualified_name, d.downstream.qualified_name) for d in Dependency.objects.all()}
    assert ("canon.order_lines", "mart.v_lines") in edges
    assert ("raw.events", "mart.v_events") not in edges
    assert (result.new, result.edges_added, result.edges_removed) == (1, 1, 1)


def test_failure_part_way_leaves_the_registry_unchanged(wh_source, warehouse, tmp_path):
    discover(wh_source)
    warehouse.execute("DROP VIEW mart.v_top; ALTER TABLE raw.orders ADD COLUMN extra int")
    before = _dump(wh_source)
    wh_source.code_paths = [str(tmp_path)]

    def broken_scan(paths, **options):
        raise RuntimeError("scanner exploded on api/orders.py")

    with pytest.raises(DiscoveryError) as exc:
        discover(wh_source, scanner=broken_scan)
    message = str(exc.value)
    assert "\n" not in message
    assert message == (
        "discovery of source 'wh' failed during code scan: RuntimeError: scanner exploded on api/orders.py"
    )
    assert _dump(wh_source) == before
    wh_source.refresh_from_db()
    assert (wh_source.last_discovery_status, wh_source.last_discovery_error) == ("failed", message)


def test_failure_inside_the_write_transaction_rolls_everything_back(wh_source, warehouse, tmp_path):
    discover(wh_source)
    before = _dump(wh_source)
    warehouse.execute("DROP VIEW mart.v_top; ALTER TABLE raw.orders ADD COLUMN extra int")
    # A usage kind too long for its column breaks a late step of the write.
    wh_source.code_paths = [str(tmp_path)]
    refs = [Ref("raw.orders", kind="x" * 50)]  # too long for CodeUsage.kind
    with pytest.raises(DiscoveryError, match=r"during registry write \(code usages\): DataError"):
        discover(wh_source, scanner=scanner_of(refs))
    assert _dump(wh_source) == before


def test_unreachable_source_fails_clearly_without_leaking_the_password(db):
    source = SourceFactory(name="down", dsn="postgresql://wh:s3cr3t-pw@127.0.0.1:1/warehouse")
    with pytest.raises(DiscoveryError) as exc:
        discover(source)
    assert "s3cr3t-pw" not in str(exc.value)
    assert str(exc.value).startswith(
        "discovery of source 'down' failed during catalog read: OperationalError"
    )
    source.refresh_from_db()
    assert source.last_discovery_status == "failed" and "s3cr3t-pw" not in source.last_discovery_error


def test_dry_run_reports_counts_and_writes_nothing(ro_source):
    result = discover(ro_source, dry_run=True)
    assert result.dry_run and (result.found, result.new) == (17, 17)
    assert not RegistryObject.objects.exists()
    ro_source.refresh_from_db()
    assert ro_source.last_discovery_status == "never"


def test_code_usages_are_resolved_stored_and_diffed(ro_source, tmp_path):
    ro_source.code_paths = [str(tmp_path)]
    refs = [
        Ref(
            "raw.orders", file="api/orders.py", line=42, context="endpoint", route="GET /orders", kind="read"
        ),
        Ref("v_top", line=3, search_path=("mart",)),
        Ref('raw."CamelCaseImport"', line=5, kind="write"),
        Ref("mart.v_churn_forecast", line=9),
        Ref("{table}", line=11, resolvable=False, name=None),
    ]
    result = discover(ro_source, scanner=scanner_of(refs))
    usages = {u.line: u for u in CodeUsage.objects.filter(source=ro_source)}
    assert usages[42].object.qualified_name == "raw.orders" and usages[42].route == "GET /orders"
    assert (usages[3].object.qualified_name, usages[3].resolver_rule) == ("mart.v_top", "search_path")
    assert usages[5].object.object_name == "CamelCaseImport"
    assert usages[9].object is None and (usages[9].schema_name, usages[9].object_name) == (
        "mart",
        "v_churn_forecast",
    )
    assert usages[11].object is None and usages[11].resolvable is False
    assert (result.usages, result.unresolved) == (5, 2)
    kept = usages[42].id
    result = discover(ro_source, scanner=scanner_of(refs[:1]))
    assert list(CodeUsage.objects.filter(source=ro_source).values_list("id", flat=True)) == [kept]


def test_query_count_does_not_depend_on_the_number_of_objects(
    make_warehouse, default_rules, django_assert_num_queries
):
    def warehouse_of(n: int) -> str:
        tables = "".join(f"CREATE TABLE s.t{i} (id int PRIMARY KEY, v text);" for i in range(n // 2))
        views = "".join(f"CREATE VIEW s.v{i} AS SELECT * FROM s.t{i};" for i in range(n // 2))
        return "CREATE SCHEMA s;" + tables + views

    for n in (10, 300):
        source = SourceFactory(name=f"n{n}", dsn=make_warehouse(warehouse_of(n)).dsn)
        # On OpsHealth's database (the catalog is read on the source's own connection):
        # 1 database identity (own tables?); 2 savepoint; 3 source row lock; 4 known
        # objects; (COPY of the new objects); 5 their ids; 6 stamp last_verified_at of
        # the others; (COPY of the columns); 7 known edges; (COPY of the edges);
        # 8 resolver rules; 9 known usages; 10-11 inference's evidence marks (newest
        # refresh, newest override edit); 12 inference rules; 13 objects; 14 usages;
        # 15 resolver rules; 16 refresh history; 17 edges; 18-22 inferred fields update
        # (savepoint, temporary table, (COPY), UPDATE … FROM, drop, release); 23 the
        # source's evidence mark; 24 distinct ledger keys; 25 source update; 26 release
        # savepoint. (Empty writes issue no query; COPY bypasses Django's cursor
        # wrapper, so it is not counted.)
        with django_assert_num_queries(26):
            first = discover(source)
        assert first.found == n and first.edges == n // 2
        # Repeat, nothing changed: no upsert, column, edge, inference or mark write.
        with django_assert_num_queries(19):
            discover(source)


def test_own_tables_are_excluded_when_the_source_is_opshealths_database(db, default_rules):
    own = dsn_for(connection.settings_dict["NAME"])
    from tests.registry.conftest import run_sql

    run_sql(
        own,
        "DROP SCHEMA IF EXISTS own_wh CASCADE; CREATE SCHEMA own_wh; CREATE TABLE own_wh.facts (id int);"
        # OpsHealth's own reporting views (over its tables) are OpsHealth's too.
        "CREATE VIEW own_wh.v_runs AS SELECT id FROM ledger_run;"
        "CREATE VIEW own_wh.v_runs_2 AS SELECT id FROM own_wh.v_runs;"
        "CREATE VIEW own_wh.v_facts AS SELECT id FROM own_wh.facts",
    )
    try:
        source = SourceFactory(name="self", dsn=own)
        discover(source)
        names = set(RegistryObject.objects.filter(source=source).values_list("schema_name", "object_name"))
    finally:
        run_sql(own, "DROP SCHEMA own_wh CASCADE")
    assert ("own_wh", "facts") in names and ("own_wh", "v_facts") in names
    assert ("own_wh", "v_runs") not in names and ("own_wh", "v_runs_2") not in names
    own_tables = {"registry_registryobject", "ledger_run", "django_migrations", "auth_user", "django_q_task"}
    assert not {n for _, n in names} & own_tables


def test_discover_command_prints_counts(ro_source, capsys):
    call_command("discover", "--source", "wh")
    out = capsys.readouterr().out
    assert "wh: 17 objects found, 17 new, 0 changed, 0 gone" in out


def test_discover_command_exits_non_zero_with_one_line(db):
    SourceFactory(name="down", dsn="postgresql://wh:pw@127.0.0.1:1/x")
    with pytest.raises(CommandError) as exc:
        call_command("discover", "--source", "down")
    assert str(exc.value).startswith("discovery of source 'down' failed during catalog read")
    with pytest.raises(CommandError, match="no source named 'nope'"):
        call_command("discover", "--source", "nope")


def test_discover_command_covers_every_active_source(shared_warehouse, default_rules, capsys):
    SourceFactory(name="a", dsn=shared_warehouse.dsn, include_schemas=["mart"])
    SourceFactory(name="b", dsn=shared_warehouse.dsn, include_schemas=["canon"], is_active=False)
    call_command("discover", "--no-code-scan")
    out = capsys.readouterr().out
    assert "a: 6 objects found" in out and "b:" not in out
    assert Source._default_manager.get(name="b").last_discovery_status == "never"


class _Terminal:
    """A stderr that says it is a terminal and keeps what was written."""

    def __init__(self):
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_progress_is_shown_on_a_terminal_only(ro_source, monkeypatch, capsys):
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    call_command("discover", "--source", "wh", "--no-code-scan")
    assert "catalog read: objects 17" in terminal.text
    assert "columns: new 17, changed 0, gone 0" in terminal.text
    assert terminal.text.endswith("\n")
    monkeypatch.undo()
    call_command("discover", "--source", "wh", "--no-code-scan")
    assert "catalog read" not in capsys.readouterr().err


def test_missing_code_path_counts_as_a_scan_error(ro_source, tmp_path):
    ro_source.code_paths = [str(tmp_path / "not-deployed-here")]
    result = discover(ro_source)
    assert result.scan_errors == 1 and result.found == 17
    assert result.summary().endswith("; 1 code scan errors")


def test_detached_partition_loses_its_parent(wh_source, warehouse):
    discover(wh_source)
    warehouse.execute("ALTER TABLE raw.events DETACH PARTITION raw.events_2026_10")
    result = discover(wh_source)
    part = RegistryObject.objects.get(source=wh_source, object_name="events_2026_10")
    assert (part.is_partition, part.partition_of) == (False, None)
    assert result.changed == 1


def test_no_code_scan_keeps_the_previous_scans_usages_and_classification(ro_source, tmp_path):
    ro_source.code_paths = [str(tmp_path)]
    ro_source.save()
    refs = [Ref("raw.orders", context="endpoint", route="GET /orders"), Ref("mart.nothing", line=7)]
    discover(ro_source, scanner=scanner_of(refs))
    result = discover(ro_source, code_scan=False, scanner=scanner_of([]))
    assert (result.usages, result.unresolved) == (2, 1)
    assert CodeUsage.objects.filter(source=ro_source).count() == 2
    orders = RegistryObject.objects.get(source=ro_source, schema_name="raw", object_name="orders")
    assert (orders.criticality, orders.usage_context) == ("important", "endpoint")
    # A scan that finds nothing does remove them.
    discover(ro_source, scanner=scanner_of([]))
    assert not CodeUsage.objects.filter(source=ro_source).exists()
