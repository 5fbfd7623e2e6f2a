"""The code scan on small code trees: what counts as SQL, names, lines, files, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from registry.codescan import CodeReference, ScanResult, scan_paths


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def scan(root: Path, files: dict[str, str]) -> ScanResult:
    return scan_paths([write_tree(root, files)])


def names(result: ScanResult) -> list[tuple[str, int, str, str]]:
    return [(r.file, r.line, r.raw_name, r.kind) for r in result.references]


def only(result: ScanResult) -> CodeReference:
    assert len(result.references) == 1, result.references
    return result.references[0]


def test_reference_carries_the_documented_fields(tmp_path):
    result = scan(tmp_path, {"jobs/load.py": 'def load(cur):\n    cur.execute("select * from Raw.Orders")\n'})
    assert result.references == [
        CodeReference(
            code_path=str(tmp_path),
            file="jobs/load.py",
            line=2,
            raw_name="Raw.Orders",
            schema="raw",
            name="orders",
            resolvable=True,
            kind="read",
            context="script",
            route=None,
            function="jobs.load:load",
            search_path=None,
            columns=("*",),
            evidence="",
        )
    ]
    assert result.errors == []
    assert result.files_scanned == 1


def test_implicit_concatenation_reports_the_line_of_each_name(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": """
            def q(cur):
                cur.execute(
                    "select o.id "
                    "from raw.orders o "
                    "join canon.customers c on c.id = o.customer_id"
                )
            """
        },
    )
    assert names(result) == [("q.py", 4, "raw.orders", "read"), ("q.py", 5, "canon.customers", "read")]


def test_triple_quoted_string_reports_the_line_of_the_name(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": '''
            REPORT = """
                SELECT day,
                       revenue
                  FROM
                       mart.daily_sales
            """
            '''
        },
    )
    assert names(result) == [("q.py", 5, "mart.daily_sales", "read")]


def test_fstring_hole_in_identifier_position_is_unresolvable(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": 'def q(cur, table, day):\n    cur.execute(f"select * from analytics.{table} where day = {day}")\n'
        },
    )
    ref = only(result)
    assert (ref.raw_name, ref.schema, ref.name, ref.resolvable, ref.line) == (
        "analytics.{table}",
        "analytics",
        None,
        False,
        2,
    )


def test_fstring_hole_in_value_position_leaves_the_name_resolvable(tmp_path):
    result = scan(
        tmp_path,
        {"q.py": "def q(cur, d):\n    cur.execute(f\"select * from raw.orders where id = {d['id']!r}\")\n"},
    )
    assert (only(result).name, only(result).resolvable) == ("orders", True)


def test_multiline_fstring_reports_the_line_of_the_name(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": '''
            def q(cur, schema, limit):
                cur.execute(f"""
                    select *
                      from {schema}.orders o
                      join raw.customers c using (customer_id)
                     limit {limit}
                """)
            '''
        },
    )
    assert [(r.line, r.raw_name, r.resolvable) for r in result.references] == [
        (4, "{schema}.orders", False),
        (5, "raw.customers", True),
    ]


def test_format_and_percent_and_concatenation_holes(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": """
            def q(cur, table, schema):
                cur.execute("select * from raw.{} where id = {id}".format(table, id=1))
                cur.execute("delete from %s where day < now()" % table)
                cur.execute("select * from " + schema + ".orders")
                cur.execute("select * from raw.orders where id = %(id)s and s = %s", {"id": 1})
                cur.execute(sql.SQL("insert into {}.events select 1").format(sql.Identifier(schema)))
            """
        },
    )
    assert [(r.line, r.raw_name, r.resolvable, r.kind) for r in result.references] == [
        (2, "raw.{}", False, "read"),
        (3, "{table}", False, "write"),
        (4, "{schema}.orders", False, "read"),
        (5, "raw.orders", True, "read"),
        (6, "{}.events", False, "write"),
    ]


def test_docstrings_comments_and_bare_strings_are_not_sql(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": '''
            """Module docs: SELECT * FROM raw.module_doc"""

            # cur.execute("select * from raw.commented")


            def q(cur):
                """select * from raw.function_doc"""
                """
                insert into raw.bare_string_statement values (1)
                """
                cur.execute("select * from raw.orders")  # from raw.trailing_comment


            class Repo:
                """DELETE FROM raw.class_doc"""
            '''
        },
    )
    assert names(result) == [("q.py", 11, "raw.orders", "read")]


def test_prose_and_short_words_are_not_sql(tmp_path):
    result = scan(
        tmp_path,
        {
            "ui.py": """
            LABELS = {
                "delete": "Delete",
                "pick": "Select a customer from the list.",
                "help": "Update your profile settings!",
                "drop": "drop",
            }
            """
        },
    )
    assert result.references == []


def test_string_passed_to_execute_is_sql_whatever_its_shape(tmp_path):
    # Ends with a period, which the shape rule reads as prose; execute() says it is SQL.
    result = scan(
        tmp_path,
        {"q.py": "def q(c):\n    c.execute(\"select * from raw.orders where note = 'ok'--done.\")\n"},
    )
    assert only(result).name == "orders"


def test_non_ascii_text_before_the_sql_keeps_lines_and_names(tmp_path):
    result = scan(
        tmp_path,
        {
            "q.py": 'def q(c):\n    label = "Übersicht — Umsätze"; c.execute("select * from mart.daily_sales")\n'
        },
    )
    assert (only(result).line, only(result).name) == (2, "daily_sales")


def test_sql_files_are_scanned_with_search_path(tmp_path):
    result = scan(
        tmp_path,
        {
            "sql/build.sql": """
            -- select * from raw.commented
            set search_path to canon, public;
            insert into customers
            select * from raw.customers;
            """
        },
    )
    assert [
        (r.file, r.line, r.raw_name, r.schema, r.kind, r.search_path, r.context) for r in result.references
    ] == [
        ("sql/build.sql", 3, "customers", None, "write", ("canon", "public"), "script"),
        ("sql/build.sql", 4, "raw.customers", "raw", "read", ("canon", "public"), "script"),
    ]


def test_walk_skips_virtualenvs_vcs_and_caches(tmp_path):
    sql = 'def q(c):\n    c.execute("select * from raw.orders")\n'
    result = scan(
        tmp_path,
        {
            "app.py": sql,
            ".git/hooks/x.py": sql,
            "node_modules/pkg/x.py": sql,
            "__pycache__/x.py": sql,
            "lib/python3.11/site-packages/dep/x.py": sql,
            "env311/pyvenv.cfg": "home = /usr/bin\n",
            "env311/lib/x.py": sql,
            "notes.txt": "select * from raw.text_file",
        },
    )
    assert [r.file for r in result.references] == ["app.py"]
    assert result.files_scanned == 1


def test_unparseable_files_are_errors_not_exceptions(tmp_path):
    write_tree(tmp_path, {"broken.py": "def f(:\n    pass\n", "ok.py": 'X = "select * from raw.orders"\n'})
    (tmp_path / "latin1.sql").write_bytes(b"select * from raw.caf\xe9")
    result = scan_paths([tmp_path])
    assert [(e.file, e.line) for e in result.errors] == [("broken.py", 1), ("latin1.sql", 0)]
    assert "cannot parse Python" in result.errors[0].message
    assert [r.file for r in result.references] == ["ok.py"]
    assert result.files_scanned == 3


def test_several_code_paths_are_reported_under_their_own_root(tmp_path):
    first = write_tree(tmp_path / "one", {"a.py": 'A = "select * from raw.a"\n'})
    second = write_tree(tmp_path / "two", {"b.sql": "select * from raw.b;"})
    result = scan_paths([first, second])
    assert [(r.code_path, r.file, r.name) for r in result.references] == [
        (str(first), "a.py", "a"),
        (str(second), "b.sql", "b"),
    ]


@pytest.mark.parametrize(
    ("statement", "kind"),
    [
        ("REFRESH MATERIALIZED VIEW CONCURRENTLY mart.daily_sales", "refresh"),
        ("TRUNCATE raw.orders", "write"),
        ("CREATE TABLE IF NOT EXISTS raw.orders (id int)", "ddl"),
        ("COPY raw.orders FROM STDIN", "write"),
    ],
)
def test_statement_kinds_from_python(tmp_path, statement, kind):
    result = scan(tmp_path, {"q.py": f'def q(c):\n    c.execute("{statement}")\n'})
    assert (only(result).name, only(result).kind) == (
        "orders" if "orders" in statement else "daily_sales",
        kind,
    )


def test_pathological_file_is_an_error_and_the_rest_is_scanned(tmp_path):
    chain = " + ".join(['"x"'] * 3000)  # deeper than Python's recursion limit
    result = scan(tmp_path, {"generated.py": f"X = {chain}\n", "ok.sql": "select * from raw.orders;"})
    assert [e.file for e in result.errors] == ["generated.py"]
    assert [r.name for r in result.references] == ["orders"]


def test_missing_code_path_is_an_error(tmp_path):
    result = scan_paths([tmp_path / "no-such-dir"])
    assert [(e.file, e.message) for e in result.errors] == [
        (str(tmp_path / "no-such-dir"), "code path is not a directory")
    ]
    assert result.files_scanned == 0


def test_sqlalchemy_text_and_pandas_read_sql_are_sql(tmp_path):
    result = scan(
        tmp_path,
        {
            "report.py": """
            import pandas as pd
            from sqlalchemy import text

            def frame(engine):
                with engine.connect() as conn:
                    conn.execute(text("select * from mart.daily_sales where day = :day"), {"day": 1})
                return pd.read_sql("select * from mart.top_products", engine)
            """
        },
    )
    assert names(result) == [
        ("report.py", 6, "mart.daily_sales", "read"),
        ("report.py", 7, "mart.top_products", "read"),
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "select * from raw.orders where id in %s",
        "select * from raw.orders where id = any(%s) limit %s offset %s",
        "select * from raw.orders where day > %s::date - interval %s",
        "insert into raw.orders (a, b) values %s",
        "select * from raw.orders where name like %s || '%%'",
        "update raw.orders set v = %(v)s where k = %(k)s",
        "select * from raw.orders where id = $1 and d = :day",
    ],
)
def test_driver_placeholders_leave_names_resolvable(tmp_path, statement):
    result = scan(tmp_path, {"q.py": f'def q(c, p):\n    c.execute("{statement}", p)\n'})
    assert (only(result).raw_name, only(result).resolvable) == ("raw.orders", True)


def test_declared_encodings_and_byte_order_marks_are_honoured(tmp_path):
    (tmp_path / "latin.py").write_bytes(
        b"# -*- coding: latin-1 -*-\nLABEL = 'caf\xe9'\nSQL = 'select * from raw.orders'\n"
    )
    (tmp_path / "bom.sql").write_bytes(b"\xef\xbb\xbfselect * from raw.customers;")
    result = scan_paths([tmp_path])
    assert result.errors == []
    assert [(r.file, r.line, r.name) for r in result.references] == [
        ("bom.sql", 1, "customers"),
        ("latin.py", 3, "orders"),
    ]
