"""SQL text → referenced objects and statement kinds (registry.codescan.sql)."""

from __future__ import annotations

from registry.codescan.sql import find_references, normalize


def refs(sql: str, **kwargs) -> list[tuple[str, str]]:
    return [(".".join(r.parts), r.kind) for r in find_references(sql, **kwargs)]


def line_of(sql: str, offset: int) -> int:
    return sql.count("\n", 0, offset) + 1


def test_select_from_and_join_are_reads():
    assert refs("select * from raw.orders o join canon.customers c on c.id = o.customer_id") == [
        ("raw.orders", "read"),
        ("canon.customers", "read"),
    ]


def test_comma_separated_from_list_and_subqueries_are_reads():
    sql = "select 1 from raw.a, raw.b where exists (select 1 from raw.c) and x in (select y from raw.d)"
    assert refs(sql) == [("raw.a", "read"), ("raw.b", "read"), ("raw.c", "read"), ("raw.d", "read")]


def test_cte_bodies_are_read_and_cte_names_are_not_tables():
    sql = """
        with recent as (select * from canon.orders), totals as (select * from recent)
        select * from totals join mart.daily_sales using (day)
    """
    assert refs(sql) == [("canon.orders", "read"), ("mart.daily_sales", "read")]


def test_insert_update_delete_merge_targets_are_writes_and_their_sources_reads():
    assert refs("insert into canon.orders select * from raw.orders") == [
        ("canon.orders", "write"),
        ("raw.orders", "read"),
    ]
    assert refs("update canon.orders set a = 1 from raw.orders r where r.id = canon.orders.id") == [
        ("canon.orders", "write"),
        ("raw.orders", "read"),
    ]
    assert refs("delete from raw.web_sessions using raw.customers c where c.id = 1") == [
        ("raw.web_sessions", "write"),
        ("raw.customers", "read"),
    ]
    merge = "merge into canon.products p using raw.products r on p.id = r.id when matched then update set name = r.name"
    assert refs(merge) == [("canon.products", "write"), ("raw.products", "read")]


def test_copy_from_is_a_write_and_copy_to_a_read():
    assert refs("COPY raw.orders (order_id, status) FROM STDIN WITH (FORMAT csv)") == [
        ("raw.orders", "write")
    ]
    assert refs("copy raw.orders to stdout") == [("raw.orders", "read")]


def test_truncate_lists_every_table_as_write():
    assert refs("TRUNCATE TABLE raw.a, raw.b") == [("raw.a", "write"), ("raw.b", "write")]


def test_refresh_materialized_view_with_and_without_concurrently():
    sql = "REFRESH MATERIALIZED VIEW CONCURRENTLY mart.daily_sales; refresh materialized view\n mart.customer_ltv"
    assert refs(sql) == [("mart.daily_sales", "refresh"), ("mart.customer_ltv", "refresh")]


def test_create_alter_drop_are_ddl_and_a_view_body_is_read():
    assert refs("create materialized view mart.m as select * from canon.orders") == [
        ("mart.m", "ddl"),
        ("canon.orders", "read"),
    ]
    assert refs("alter table raw.orders add column note text") == [("raw.orders", "ddl")]
    assert refs("drop view if exists mart.a, mart.b") == [("mart.a", "ddl"), ("mart.b", "ddl")]
    assert refs("create unique index ix_day on mart.daily_sales (sales_day)") == [("mart.daily_sales", "ddl")]


def test_functions_indexes_and_schemas_are_not_tables():
    assert refs("select * from mart.fn_top_customers() f join raw.orders o on true") == [
        ("raw.orders", "read")
    ]
    assert refs("drop index raw.ix_orders; create schema staging; drop function mart.fn_x()") == []
    assert refs("select * from generate_series(1, 3) g, unnest(array[1]) u") == []


def test_insert_into_name_with_no_space_before_column_list():
    assert refs("INSERT INTO raw.order_items(order_id,product_id)VALUES (1,2)") == [
        ("raw.order_items", "write")
    ]


def test_keywords_and_names_on_different_lines_report_the_line_of_the_name():
    sql = "select *\n  from\n\n    raw.orders\n  join\n canon.customers on true"
    found = find_references(sql)
    assert [(r.parts, line_of(sql, r.offset)) for r in found] == [
        (("raw", "orders"), 4),
        (("canon", "customers"), 6),
    ]


def test_comments_are_ignored():
    sql = """
        -- select * from raw.commented_out
        /* insert into raw.also_commented select 1;
           /* nested */ still a comment: from raw.nested */
        select * from raw.orders -- from raw.trailing
    """
    assert refs(sql) == [("raw.orders", "read")]


def test_from_inside_function_calls_and_is_distinct_from_is_not_a_table():
    sql = "select extract(year from ts), substring(name from 2) from raw.orders where a is distinct from b"
    assert refs(sql) == [("raw.orders", "read")]


def test_quoted_identifiers_keep_case_and_dots():
    found = find_references('select * from public."Daily.Stats" join raw."CamelCaseImport" on true')
    assert [r.parts for r in found] == [("public", '"Daily.Stats"'), ("raw", '"CamelCaseImport"')]
    assert [normalize(p) for p in found[0].parts] == ["public", "Daily.Stats"]
    assert normalize("Raw") == "raw"


def test_dollar_quoted_function_bodies_are_scanned():
    sql = """
    CREATE FUNCTION mart.fn_top() RETURNS SETOF bigint LANGUAGE sql AS $$
        select customer_id from canon.customers
    $$;
    CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        INSERT INTO public.audit_trail(actor) VALUES (current_user);
        IF NOT EXISTS (SELECT 1 FROM public.app_users) THEN RAISE NOTICE 'x'; END IF;
        RETURN NEW;
    END;
    $body$;
    DO $$ BEGIN PERFORM 1 FROM raw.orders; END $$;
    """
    found = find_references(sql)
    assert [(".".join(r.parts), r.kind, line_of(sql, r.offset)) for r in found] == [
        ("canon.customers", "read", 3),
        ("public.audit_trail", "write", 7),
        ("public.app_users", "read", 8),
        ("raw.orders", "read", 12),
    ]


def test_semicolons_and_keywords_inside_strings_do_not_split_or_match():
    sql = "insert into raw.notes(body) values ('a; select * from raw.fake'), (E'it\\'s from raw.fake2')"
    assert refs(sql) == [("raw.notes", "write")]


def test_set_search_path_applies_to_following_statements_of_a_file():
    sql = "select * from a; SET search_path TO canon, public; select * from b; set search_path = 'mart'; select * from c"
    found = find_references(sql, track_search_path=True)
    assert [(r.parts, r.search_path) for r in found] == [
        (("a",), None),
        (("b",), ("canon", "public")),
        (("c",), ("mart",)),
    ]


def test_search_path_is_not_tracked_unless_asked():
    found = find_references("set search_path to canon; select * from b")
    assert [(r.parts, r.search_path) for r in found] == [(("b",), None)]


def test_unparseable_statement_falls_back_to_patterns():
    # PL/pgSQL control flow is no SQL statement sqlglot knows; the pattern still sees the names.
    sql = "FOR r IN SELECT id FROM raw.orders LOOP UPDATE canon.orders SET seen = true WHERE id = r.id"
    assert refs(sql) == [("raw.orders", "read"), ("canon.orders", "write")]


def test_select_into_a_variable_is_not_a_table():
    assert refs("select count(*) into v_count from raw.orders") == [("raw.orders", "read")]


def test_data_modifying_ctes_write():
    sql = "with moved as (delete from raw.a where old returning *) insert into raw.b select * from moved"
    assert sorted(refs(sql)) == [("raw.a", "write"), ("raw.b", "write")]


def test_grants_and_maintenance_are_no_use():
    assert refs("grant select on raw.orders to reporting; analyze raw.orders; begin; commit") == []
