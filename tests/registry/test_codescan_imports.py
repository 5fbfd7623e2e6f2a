"""Imports resolved as CPython does for the way a file runs, so that handlers' calls are
followed into the right module: a script's own directory first (sys.path[0]), then the
scan root and `src/`; packages, namespace packages, relative imports, `import a as b`,
calls through module attributes, `self` and wrapping decorators."""

from __future__ import annotations

from pathlib import Path

from registry.codescan import ScanResult, scan_paths

CHERRYPY_REPO = Path(__file__).parent / "code_fixtures" / "cherrypy_repo"

# (file, line, name, context): the CherryPy app's handlers call webapp/model.py, imported
# from the script's directory although a top-level folder model/ has the same name.
CHERRYPY_EXPECTED = [
    ("model/features.py", 2, "mart.payment_features", "script"),
    ("model/features.py", 6, "mart.payment_features", "script"),
    ("model/train.py", 7, "canon.orders", "script"),
    ("model/train.py", 11, "mart.v_orders_enriched", "script"),
    ("src/shopcore/pricing.py", 6, "canon.products", "endpoint"),  # a src/ layout
    ("webapp/lib/pagination.py", 7, "canon.orders", "endpoint"),  # a package in sys.path[0]
    ("webapp/lib/sqlutil.py", 6, "canon.orders", "endpoint"),  # its relative import
    ("webapp/model.py", 9, "canon.customers", "endpoint"),  # a module constant, @transaction
    ("webapp/model.py", 9, "canon.orders", "endpoint"),
    ("webapp/model.py", 45, "canon.order_lines", "endpoint"),  # a helper of a helper
    ("webapp/model.py", 49, "canon.orders", "endpoint"),  # SQL given to a decorator; `import … as`
    ("webapp/model.py", 57, "canon.payments", "endpoint"),
    ("webapp/model.py", 60, "canon.orders", "endpoint"),
    ("webapp/model.py", 65, "canon.products", "endpoint"),  # obj = model.Class(); obj.m()
    ("webapp/model.py", 75, "raw.web_sessions", "script"),  # only the cron script calls it
    ("webapp/reports/daily.py", 6, "mart.daily_sales", "endpoint"),  # a namespace package
]


def scan(root: Path, files: dict[str, str]) -> ScanResult:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return scan_paths([root])


def contexts(result: ScanResult) -> dict[str, tuple[str, str]]:
    return {f"{r.file}:{r.line}": (r.context, r.function) for r in result.references}


def test_every_reference_of_the_cherrypy_repository_gets_its_context():
    found = [(r.file, r.line, r.raw_name, r.context) for r in scan_paths([CHERRYPY_REPO]).references]
    right = sum(1 for ref in found if ref in CHERRYPY_EXPECTED)
    assert right / len(CHERRYPY_EXPECTED) >= 0.9
    assert found == CHERRYPY_EXPECTED


def test_the_nearest_candidate_wins_and_the_usage_says_which_it_passed_over():
    refs = scan_paths([CHERRYPY_REPO]).references
    model = next(r for r in refs if r.file == "webapp/model.py")
    assert (
        model.evidence
        == "import model in webapp/server.py: webapp/model.py (nearest on sys.path), not model/"
    )
    assert next(r for r in refs if r.file == "model/train.py").evidence == ""


HANDLER = """
from flask import Flask

app = Flask(__name__)
{imports}


@app.route("/x")
def x():
    return {call}
"""


def test_a_script_inside_a_package_imports_from_its_own_directory(tmp_path):
    # `python pkg/run.py` puts pkg/ first: `import queries` is pkg/queries.py, although
    # pkg is a regular package and the root has a queries.py too.
    result = scan(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/run.py": HANDLER.format(imports="import queries", call="queries.get()")
            + 'if __name__ == "__main__":\n    app.run()\n',
            "pkg/queries.py": 'def get(cur):\n    cur.execute("select * from mart.mine")\n',
            "queries.py": 'def get(cur):\n    cur.execute("select * from mart.theirs")\n',
        },
    )
    assert contexts(result) == {
        "pkg/queries.py:2": ("endpoint", "pkg.queries:get"),
        "queries.py:2": ("script", "queries:get"),
    }


def test_a_package_module_imports_from_above_its_top_package(tmp_path):
    # pkg/views.py is imported as pkg.views (no __main__): `import queries` is the root's.
    result = scan(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/views.py": HANDLER.format(imports="import queries", call="queries.get()"),
            "pkg/queries.py": 'def get(cur):\n    cur.execute("select * from mart.mine")\n',
            "queries.py": 'def get(cur):\n    cur.execute("select * from mart.theirs")\n',
        },
    )
    assert contexts(result)["queries.py:2"] == ("endpoint", "queries:get")
    assert contexts(result)["pkg/queries.py:2"][0] == "script"


def test_namespace_packages_are_walked_through_plain_and_aliased_imports(tmp_path):
    result = scan(
        tmp_path,
        {
            "app.py": HANDLER.format(
                imports="import shared.sql.helpers\nimport shared.sql.more as more",
                call="shared.sql.helpers.count() + more.total()",
            ),
            "shared/sql/helpers.py": 'def count(cur):\n    cur.execute("select count(*) from raw.events")\n',
            "shared/sql/more.py": 'def total(cur):\n    cur.execute("select sum(n) from raw.events")\n',
        },
    )
    assert contexts(result) == {
        "shared/sql/helpers.py:2": ("endpoint", "shared.sql.helpers:count"),
        "shared/sql/more.py:2": ("endpoint", "shared.sql.more:total"),
    }


def test_relative_imports_and_aliases_of_imported_names(tmp_path):
    result = scan(
        tmp_path,
        {
            "shop/__init__.py": "",
            "shop/api.py": HANDLER.format(imports="from .repo import fetch as load", call="load()"),
            "shop/repo.py": "from .sqltext import Q\n\n\ndef fetch(cur):\n    cur.execute(Q)\n",
            "shop/sqltext.py": 'Q = "select id from canon.orders"\n',
        },
    )
    assert contexts(result) == {"shop/sqltext.py:1": ("endpoint", "shop.repo:fetch")}
