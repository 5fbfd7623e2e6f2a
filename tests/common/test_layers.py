"""`common` is domain-free: every app may import it, it imports no app of ours."""

import ast
from pathlib import Path

import common

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
