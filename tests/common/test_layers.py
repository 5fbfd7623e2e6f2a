"""Layering rules, checked on the source: what may import what, and where raw SQL lives."""

import ast
import re
from pathlib import Path

from django.apps import apps

import common

ROOT = Path(common.__file__).resolve().parent.parent
OUR_APPS = {"ledger", "registry", "checks", "opshealth"}


def test_common_imports_no_app_of_ours():
    imported = set()
    for path in Path(common.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {(path.name, alias.name.split(".")[0]) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add((path.name, node.module.split(".")[0]))
    assert {(name, module) for name, module in imported if module in OUR_APPS} == set()


def _modules():
    """Our non-migration modules, by path relative to the repository."""
    for app in [*OUR_APPS, "common"]:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path.relative_to(ROOT).as_posix(), path


def _table_names_spelled(path: Path, tables: re.Pattern) -> set[str]:
    """The table names that string literals of the module spell (f-string parts too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= set(tables.findall(node.value))
    return found


def test_no_module_spells_a_table_name():
    """Raw SQL names tables by `Model._meta.db_table`, queries modules included: a renamed
    table or a moved model cannot leave a statement behind."""
    names = sorted(m._meta.db_table for m in apps.get_models(include_auto_created=True))
    tables = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    spelled = {name: found for name, path in _modules() if (found := _table_names_spelled(path, tables))}
    assert spelled == {}


def test_the_scan_sees_a_spelled_table_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        'sql = f"SELECT 1 FROM ledger_run r WHERE r.id = {pk}"\nindex = "ledger_run_pipe_started"\n'
    )
    assert _table_names_spelled(module, re.compile(r"\b(ledger_run)\b")) == {"ledger_run"}


# Raw SQL on OpsHealth's own database outside a queries module, in `checks` and `registry`.
RAW_SQL_ELSEWHERE = {
    # Introspects OpsHealth's own database through registry.catalog (functions of a cursor).
    "registry/discovery.py",
    "checks/alerts/cycle.py",  # the alerting cycle's transaction-level advisory lock
}


def _runs_raw_sql(path: Path) -> bool:
    """Whether the module opens a cursor on Django's connection or builds a RawSQL."""
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "cursor"
            and getattr(node.value, "id", "") == "connection"
        ):
            return True
        if isinstance(node, ast.Name) and node.id == "RawSQL":
            return True
    return False


def test_checks_and_registry_run_raw_sql_in_their_queries_modules():
    raw = {
        name
        for name, path in _modules()
        if name.startswith(("checks/", "registry/")) and path.name != "queries.py" and _runs_raw_sql(path)
    }
    assert raw == RAW_SQL_ELSEWHERE
