"""The code-usage scan: which database objects a code tree names, where, and how.

    scan_paths([Path("demo/app")]) -> ScanResult(references, errors, files_scanned)

Steps, per code path:
1. Walk `*.py` and `*.sql` (skipping virtualenvs, `.git`, `node_modules`, caches).
2. `.sql` files: every statement (`sql.find_references`), with `SET search_path`.
3. `.py` files: `ast` only. A string expression is SQL when it is passed to an
   execute-like call (`execute`, `read_sql`, `text`, … — `pymodule.SQL_CALLS`) or when
   its text, after leading whitespace and comments, has the shape of a SQL statement
   (`pymodule.looks_like_sql`). Docstrings and other bare string statements never are.
   Template holes become markers before parsing; a name containing one is unresolvable.
4. A static call graph (`callgraph.py`) finds route handlers with `RoutePatterns` and
   every function they reach: SQL there is `endpoint`, elsewhere `script`.

Pure Python and sqlglot: no models, no ORM. Django settings are read only for the
default route patterns.
"""

from __future__ import annotations

import io
import os
import posixpath
import tokenize
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from registry.codescan.callgraph import CallGraph
from registry.codescan.pymodule import Module, read_module
from registry.codescan.routes import RoutePatterns
from registry.codescan.sql import HOLE_RE, ColumnCatalog, SqlReference, find_references, normalize

__all__ = ["CodeReference", "ColumnCatalog", "RoutePatterns", "ScanError", "ScanResult", "scan_paths"]

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", "site-packages", ".venv", "venv",
             ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"}  # fmt: skip


@dataclass(frozen=True)
class CodeReference:
    code_path: str
    file: str
    line: int
    raw_name: str
    schema: str | None
    name: str | None
    resolvable: bool
    kind: str
    context: str
    route: str | None
    function: str
    search_path: tuple[str, ...] | None
    columns: tuple[str, ...] = ()  # of this object, named by the statement ("*" for all)
    evidence: str = ""  # choices the scan made to get here (an ambiguous import)


@dataclass(frozen=True)
class ScanError:
    file: str
    line: int
    message: str


@dataclass
class ScanResult:
    references: list[CodeReference]
    errors: list[ScanError]
    files_scanned: int


@dataclass(frozen=True)
class _SqlOptions:
    """How one scan parses SQL (hashable: part of the parse cache's key)."""

    dialect: str
    catalog: ColumnCatalog | None


def default_route_patterns() -> RoutePatterns:
    from django.conf import settings

    return RoutePatterns.from_dict(settings.OPSHEALTH_ROUTE_PATTERNS)


def scan_paths(
    code_paths: list[Path],
    *,
    route_patterns: RoutePatterns | None = None,
    dialect: str = "postgres",
    catalog: ColumnCatalog | None = None,
) -> ScanResult:
    """Scan every code path; unreadable files become ScanErrors, never exceptions.

    `dialect` is the sqlglot dialect SQL is parsed in (the source engine's); `catalog`
    (the source's columns) tells which table an unqualified column belongs to.
    """
    sql = _SqlOptions(dialect, catalog)
    patterns = route_patterns or default_route_patterns()
    result = ScanResult([], [], 0)
    for code_path in code_paths:
        if not Path(code_path).is_dir():  # a typo in a Source's code paths must show, not scan nothing
            result.errors.append(ScanError(str(code_path), 0, "code path is not a directory"))
            continue
        _scan_root(Path(code_path), str(code_path), patterns, result, sql)
    return result


def source_files(root: Path) -> list[Path]:
    found = []
    for directory, dirs, files in os.walk(root):
        # A virtualenv is recognised by its marker file, whatever its name.
        dirs[:] = sorted(
            d for d in dirs if d not in SKIP_DIRS and not (Path(directory, d, "pyvenv.cfg")).exists()
        )
        found += [Path(directory, f) for f in sorted(files) if f.endswith((".py", ".sql"))]
    return found


def _scan_root(
    root: Path, code_path: str, patterns: RoutePatterns, result: ScanResult, sql: _SqlOptions
) -> None:
    directories: set[str] = set()
    modules = _read_files(root, code_path, patterns, result, sql, directories)
    graph = CallGraph(modules, patterns, directories)
    graph.find_handlers()
    reached = graph.reach()
    users = _constant_users(graph, modules)
    for module in modules:
        evidence = "; ".join(sorted(graph.ambiguities.get(module.name, ())))
        for literal in module.literals:
            key = f"{module.name}:{literal.function}" if literal.function else ""
            if literal.constant:  # SQL in a module constant is used where the constant is read
                using = users.get((module.name, literal.constant), [])
                key = min(using, key=lambda k: (k not in reached, reached.get(k) is None, reached.get(k) or "", k),
                          default="")  # fmt: skip
            context = "endpoint" if key in reached else "script"
            string = literal.string
            for ref in _references(string.text, track_search_path=False, sql=sql):
                line = string.lines[ref.offset]
                result.references.append(
                    _reference(
                        ref,
                        code_path,
                        module.file,
                        line,
                        string.holes,
                        context,
                        reached.get(key),
                        key,
                        evidence,
                    )
                )
    result.references.sort(key=lambda r: (r.code_path, r.file, r.line, r.raw_name))


def _read_files(
    root: Path, code_path: str, patterns: RoutePatterns, result: ScanResult, sql: _SqlOptions,
    directories: set[str],
) -> list[Module]:  # fmt: skip
    """Scan the .sql files into `result` and return the parsed Python modules; every
    directory holding a scanned file is added to `directories`."""
    modules: list[Module] = []
    real_root = root.resolve()
    for path in source_files(root):
        rel = path.relative_to(root).as_posix()
        if not path.resolve().is_relative_to(real_root):
            # os.walk does not enter linked directories, but lists linked files.
            result.errors.append(ScanError(rel, 0, "a symlink out of the code path: not read"))
            continue
        result.files_scanned += 1
        parent = posixpath.dirname(rel)
        while parent and parent not in directories:
            directories.add(parent)
            parent = posixpath.dirname(parent)
        try:
            source = _read_source(path)
            if rel.endswith(".sql"):
                result.references += _sql_file(code_path, rel, source, sql)
            else:
                modules.append(read_module(_module_name(rel), rel, source, patterns))
        except SyntaxError as error:
            result.errors.append(ScanError(rel, error.lineno or 0, f"cannot parse Python: {error.msg}"))
        except (UnicodeDecodeError, OSError) as error:
            result.errors.append(ScanError(rel, 0, f"cannot read file: {error}"))
        except Exception as error:
            # One odd file (a parser bug, a 10,000-deep expression) must not abort the
            # whole discovery: it becomes a ScanError like any unreadable file.
            result.errors.append(ScanError(rel, 0, f"cannot scan file: {type(error).__name__}: {error}"))
    return modules


def _constant_users(graph: CallGraph, modules: list[Module]) -> dict[tuple[str, str], list[str]]:
    """(module, CONSTANT) → keys of the functions that read that constant, across imports."""
    constants = {(m.name, lit.constant) for m in modules for lit in m.literals if lit.constant}
    users: dict[tuple[str, str], list[str]] = {}
    for module in modules:
        for function in module.functions.values():
            for name in function.names:
                found = graph.symbol(module, name) if name in module.imports else (module, name)
                if found and (found[0].name, found[1]) in constants:
                    users.setdefault((found[0].name, found[1]), []).append(
                        f"{module.name}:{function.qualname}"
                    )
    return users


def _read_source(path: Path) -> str:
    """The text of a file: a Python file in its declared encoding (PEP 263), BOMs dropped."""
    data = path.read_bytes()
    encoding = "utf-8-sig"
    if path.suffix == ".py":
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def _module_name(rel: str) -> str:
    parts = rel[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _sql_file(code_path: str, rel: str, source: str, sql: _SqlOptions) -> list[CodeReference]:
    refs = _references(source, track_search_path=True, sql=sql)
    line_starts = _line_starts(source)
    return [
        _reference(ref, code_path, rel, _line_of(line_starts, ref.offset), [], "script", None, "")
        for ref in refs
    ]


@lru_cache(maxsize=4096)
def _references(text: str, *, track_search_path: bool, sql: _SqlOptions) -> tuple[SqlReference, ...]:
    # The same SQL often appears many times (copy-pasted queries): parse it once.
    return tuple(
        find_references(text, track_search_path=track_search_path, dialect=sql.dialect, catalog=sql.catalog)
    )


def _line_starts(source: str) -> list[int]:
    starts = [0]
    starts += [i + 1 for i, char in enumerate(source) if char == "\n"]
    return starts


def _line_of(line_starts: list[int], offset: int) -> int:
    return bisect_right(line_starts, offset)


def _reference(
    ref: SqlReference, code_path: str, file: str, line: int, holes: list[str], context: str,
    route: str | None, key: str, evidence: str = "",
) -> CodeReference:  # fmt: skip
    parts = ref.parts[-2:]  # a catalog-qualified name: the database part is not ours
    resolvable = not any(HOLE_RE.search(part) for part in parts)

    def restore(text: str) -> str:
        return HOLE_RE.sub(
            lambda m: holes[int(m.group(1))] if int(m.group(1)) < len(holes) else m.group(0), text
        )

    schema = parts[0] if len(parts) == 2 else None
    return CodeReference(
        code_path=code_path,
        file=file,
        line=line,
        raw_name=restore(".".join(ref.parts)),
        schema=normalize(schema) if schema and not HOLE_RE.search(schema) else None,
        name=normalize(parts[-1]) if resolvable else None,
        resolvable=resolvable,
        kind=ref.kind,
        context=context,
        route=route if context == "endpoint" else None,
        function=key,
        search_path=ref.search_path,
        columns=ref.columns,
        evidence=evidence,
    )
