"""What one Python module holds for the scan: SQL-looking strings, functions, calls, imports.

One pass of an `ast.NodeVisitor` over the module. Nothing here resolves names across
modules; `callgraph.py` does that once every module of the tree is read.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from registry.codescan.literals import BuiltString, SourceStrings, approximate_text, build, is_stringish
from registry.codescan.routes import RoutePatterns

# A string passed to one of these is SQL whatever it looks like (first argument or `sql=`).
SQL_CALLS = {
    "execute", "executemany", "executescript", "execute_values", "execute_batch", "mogrify",
    "read_sql", "read_sql_query", "read_sql_table", "text", "raw", "fetch", "fetchrow",
    "fetchval", "copy", "copy_expert", "copy_from", "copy_to", "SQL", "query", "run_sql",
}  # fmt: skip
_SQL_KWARGS = {"sql", "query", "statement", "stmt"}

# Any other string is parsed only when its shape is a SQL statement (after leading
# whitespace and comments). Prose such as "Update failed." is not.
_SQL_SHAPE = re.compile(
    r"""^(?:
        select\b.*\bfrom\b | with\s+(?:recursive\s+)?\S+.*?\bas\s*(?:not\s+)?(?:materialized\s*)?\(
      | insert\s+into\b | update\s+\S+\s+set\b | delete\s+from\b | merge\s+into\b
      | truncate\s+\S | refresh\s+materialized\s+view\b | copy\s+\S+.*\b(?:from|to)\b
      | (?:create|alter|drop)\b.*?\b(?:table|view|index)\b | set\s+search_path\b
    )""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*\n?|/\*.*?\*/)*", re.DOTALL)


def looks_like_sql(text: str) -> bool:
    body = _LEADING_NOISE.sub("", text, count=1)
    return bool(_SQL_SHAPE.match(body)) and not body.rstrip().endswith((".", "!", "?"))


def dotted(node: ast.AST) -> tuple[str, ...]:
    """`a.b.c` → ('a', 'b', 'c'); `a.b()` → ('a', 'b'); anything else → ()."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call):
        return ()
    if isinstance(node, ast.Name):
        return (node.id, *reversed(parts))
    return ()


@dataclass
class Literal:
    function: str  # qualname in the module, '' for module level
    string: BuiltString
    forced: bool
    constant: str = ""  # module-level `NAME = "select …"`: the functions using NAME decide the context


@dataclass
class Decorator:
    name: str  # dotted name, e.g. 'router.get'
    owner: str  # the object the decorator is an attribute of ('router'), or ''
    path: str | None
    methods: list[str] | None
    detail: bool | None  # DRF @action(detail=…)


@dataclass
class Function:
    qualname: str
    class_name: str | None
    decorators: list[Decorator] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)
    # var → dotted class name, for `repo = OrderRepository(); repo.fetch()`
    instances: dict[str, tuple[str, ...]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # names read, to find users of SQL constants


@dataclass
class ClassDef:
    name: str
    bases: list[tuple[str, ...]]
    methods: list[str]


@dataclass
class Registration:
    name: str  # the registering call, e.g. 'path', 'app.router.add_get'
    path: str | None
    methods: list[str] | None
    handler: tuple[str, ...]  # dotted reference to a function or a class
    as_view: bool  # `View.as_view()`: the handler is a class
    # Django `include("shop.urls")` / `include(router.urls)`: `handler` is then the included
    # module name split on dots, or the dotted reference; `path` the prefix it gets.
    include: bool = False


@dataclass
class Module:
    name: str  # dotted module name relative to the code path
    file: str  # posix path relative to the code path
    is_package: bool
    is_script: bool = False  # has an `if __name__ == "__main__":` block: runs as a script
    imports: dict[str, str] = field(default_factory=dict)  # alias → 'pkg.mod' or 'pkg.mod:attr'
    functions: dict[str, Function] = field(default_factory=dict)
    classes: dict[str, ClassDef] = field(default_factory=dict)
    literals: list[Literal] = field(default_factory=list)
    registrations: list[Registration] = field(default_factory=list)
    prefixes: dict[str, str] = field(default_factory=dict)  # router var → prefix
    constants: set[str] = field(default_factory=set)  # module-level names holding SQL
    mounts: list[tuple[tuple[str, ...], str]] = field(default_factory=list)  # (router ref, prefix)


_HTTP_VERBS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_PREFIX_KWARGS = ("prefix", "url_prefix")
_HANDLER_KWARGS = ("view_func", "view", "endpoint", "handler", "callback", "viewset")


class ModuleReader(ast.NodeVisitor):
    def __init__(self, module: Module, source: str, patterns: RoutePatterns):
        self.module, self.strings, self.patterns = module, SourceStrings(source), patterns
        self.stack: list[Function] = []
        self.class_stack: list[ClassDef] = []
        self.forced: set[int] = set()
        self.templates: set[int] = set()  # strings whose {} are placeholders without .format()
        self.constant = ""

    # --- scopes ------------------------------------------------------------------------
    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer = self.stack[-1].qualname + "." if self.stack else ""
        cls = self.class_stack[-1] if self.class_stack and not self.stack else None
        qualname = f"{outer}{cls.name}.{node.name}" if cls else f"{outer}{node.name}"
        function = Function(
            qualname, cls.name if cls else (self.stack[-1].class_name if self.stack else None)
        )
        function.decorators = [d for d in map(_decorator, node.decorator_list) if d]
        if cls:
            cls.methods.append(node.name)
        if self.stack:  # a closure is called by the function that defines it, as a rule
            self.stack[-1].calls.append((node.name,))
        self.module.functions[qualname] = function
        self.stack.append(function)
        # A decorator's wrapper runs whenever the function is called, and SQL given to a
        # decorator (`@query("select …")`) is the function's: both belong to it.
        for decorator in node.decorator_list:
            name = dotted(decorator)
            if name:
                function.calls.append(name)
            self.visit(decorator)
        for stmt in node.body:
            self.visit(stmt)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if self.stack:  # classes inside functions: read as part of the function
            self.generic_visit(node)
            return
        cls = ClassDef(node.name, [d for d in map(dotted, node.bases) if d], [])
        self.module.classes.setdefault(node.name, cls)
        self.class_stack.append(cls)
        for stmt in node.body:
            self.visit(stmt)
        self.class_stack.pop()

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (
            not self.stack
            and isinstance(test, ast.Compare)
            and isinstance(test.left, ast.Name)
            and test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
        ):
            self.module.is_script = True
        self.generic_visit(node)

    # --- imports -----------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.module.imports[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.module.imports[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._absolute(node.module or "", node.level)
        for alias in node.names:
            if alias.name != "*":
                self.module.imports[alias.asname or alias.name] = f"{base}:{alias.name}"

    def _absolute(self, name: str, level: int) -> str:
        if not level:
            return name
        package = self.module.name.split(".") if self.module.is_package else self.module.name.split(".")[:-1]
        package = package[: len(package) - (level - 1)] if level > 1 else package
        return ".".join([*package, name] if name else package)

    # --- statements and expressions ----------------------------------------------------
    def visit_Expr(self, node: ast.Expr) -> None:
        # A bare string statement (docstring or commented-out SQL) is documentation.
        if isinstance(node.value, ast.Constant | ast.JoinedStr):
            return
        self.visit(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        if self.stack:
            self.stack[-1].names.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        if not self.stack and not self.class_stack and is_stringish(value) and len(node.targets) == 1:
            self._constant(node.targets[0], value)
            return
        if isinstance(value, ast.Call) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            var, func = node.targets[0].id, dotted(value.func)
            if self.stack and func and func[-1][:1].isupper():
                self.stack[-1].instances[var] = func
            for kw in value.keywords:
                if kw.arg in _PREFIX_KWARGS and isinstance(kw.value, ast.Constant) and not self.stack:
                    self.module.prefixes[var] = str(kw.value.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None and not self.stack and not self.class_stack and is_stringish(node.value):
            self._constant(node.target, node.value)
        else:
            self.generic_visit(node)

    def _constant(self, target: ast.expr, value: ast.expr) -> None:
        self.constant = target.id if isinstance(target, ast.Name) else ""
        self.visit(value)
        self.constant = ""

    def visit_Call(self, node: ast.Call) -> None:
        name = dotted(node.func)
        if name and self.stack:
            self.stack[-1].calls.append(name)
        attr = node.func.attr if isinstance(node.func, ast.Attribute) else name[-1] if name else ""
        if attr in SQL_CALLS and node.args:
            self.forced.add(id(node.args[0]))
            if attr == "SQL":  # psycopg sql.SQL("select * from {}").format(sql.Identifier(t))
                self.templates.add(id(node.args[0]))
        self.forced.update(id(kw.value) for kw in node.keywords if kw.arg in _SQL_KWARGS)
        if name and self.patterns.registration_method(".".join(name)) is not None:
            self._registration(".".join(name), node)
        if name and self.patterns.is_mount(".".join(name)) and node.args:
            prefix = next((kw.value for kw in node.keywords if kw.arg in _PREFIX_KWARGS), None)
            mounted = dotted(node.args[0])
            if isinstance(prefix, ast.Constant) and isinstance(prefix.value, str) and mounted:
                self.module.mounts.append((mounted, prefix.value))
        if is_stringish(node):  # "…".format(…)
            self._literal(node)
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                self.visit(arg)
            return
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self._literal(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._literal(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if is_stringish(node):
            self._literal(node)
            if isinstance(node.op, ast.Mod):
                self.visit(node.right)
        else:
            self.generic_visit(node)

    def _literal(self, node: ast.expr) -> None:
        if self.stack:  # `SQL_CONSTANT + " where …"`: the constant is read here
            self.stack[-1].names.update(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        forced = id(node) in self.forced
        if not forced and not looks_like_sql(approximate_text(node)):
            return  # most strings of a module: decided without tokenizing it
        string = build(node, self.strings, fmt=id(node) in self.templates)
        if string.text.strip() and (forced or looks_like_sql(string.text)):
            function = self.stack[-1].qualname if self.stack else ""
            self.module.literals.append(Literal(function, string, forced, self.constant))
            if self.constant:
                self.module.constants.add(self.constant)

    # --- route registrations -----------------------------------------------------------
    def _registration(self, name: str, node: ast.Call) -> None:
        for arg in node.args:  # Tornado Application([(r"/x", Handler), …]), add_handlers(host, […])
            if isinstance(arg, ast.List | ast.Tuple):
                for item in arg.elts:
                    if isinstance(item, ast.Tuple) and len(item.elts) >= 2:
                        self._add_registration(name, list(item.elts), [])
        self._add_registration(name, list(node.args), node.keywords)

    def _add_registration(self, name: str, args: list[ast.expr], keywords: list[ast.keyword]) -> None:
        strings = [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        methods = _string_list(next((kw.value for kw in keywords if kw.arg == "methods"), None))
        if strings and strings[0].upper() in _HTTP_VERBS:  # aiohttp add_route("GET", "/x", handler)
            methods, strings = [strings[0].upper()], strings[1:]
        path = next((kw.value.value for kw in keywords if kw.arg in ("path", "rule", "prefix")
                     and isinstance(kw.value, ast.Constant)), strings[0] if strings else None)  # fmt: skip
        candidates = [*args, *(kw.value for kw in keywords if kw.arg in _HANDLER_KWARGS)]
        for candidate in candidates:
            if (
                isinstance(candidate, ast.Call)
                and dotted(candidate.func)[-1:] == ("include",)
                and candidate.args
            ):
                target = candidate.args[0]
                included = (
                    tuple(target.value.split("."))
                    if isinstance(target, ast.Constant) and isinstance(target.value, str)
                    else dotted(target)
                )
                if included:
                    self.module.registrations.append(Registration(name, path, None, included, False, True))
                return
            as_view = isinstance(candidate, ast.Call) and dotted(candidate.func)[-1:] == ("as_view",)
            handler = dotted(candidate.func)[:-1] if as_view else dotted(candidate)
            if handler:
                self.module.registrations.append(Registration(name, path, methods, handler, as_view))
                return


def _string_list(node: ast.expr | None) -> list[str] | None:
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        values = [
            e.value.upper() for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
        ]
        return values or None
    return None


def _decorator(node: ast.expr) -> Decorator | None:
    call = node if isinstance(node, ast.Call) else None
    name = dotted(call.func if call else node)
    if not name:
        return None
    path, methods, detail = None, None, None
    if call:
        if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
            path = call.args[0].value
        elif call.args:
            methods = _string_list(call.args[0])  # DRF @api_view(["GET", "POST"])
        for kw in call.keywords:
            if kw.arg in ("path", "rule", "url_path") and isinstance(kw.value, ast.Constant):
                path = str(kw.value.value)
            elif kw.arg in ("methods", "http_method_names"):
                methods = _string_list(kw.value)
            elif kw.arg == "detail" and isinstance(kw.value, ast.Constant):
                detail = bool(kw.value.value)
    return Decorator(".".join(name), name[0] if len(name) > 1 else "", path, methods, detail)


def read_module(name: str, file: str, source: str, patterns: RoutePatterns) -> Module:
    """Parse one module; raises SyntaxError/ValueError for a file Python can't parse."""
    tree = ast.parse(source, filename=file)
    module = Module(name=name, file=file, is_package=file.endswith("__init__.py"))
    ModuleReader(module, source, patterns).visit(tree)
    return module
