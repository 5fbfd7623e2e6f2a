"""Which functions of a code tree are HTTP route handlers, and which functions they reach.

Names are resolved statically and conservatively: a call counts when its target is a
function or method defined in the scanned tree and reachable by plain names (`f()`,
`mod.f()`, `from x import f`, relative imports, `self.m()`, `Class.m()`,
`obj = Class(); obj.m()`). A decorated function also calls its decorators (their
wrapper runs first). Calls through variables, getattr or dependency injection
containers are not followed: such a helper is reported as `script`.

Imports are resolved as CPython does for the way a file runs (`imported`): on a
`sys.path` of the script's own directory (`sys.path[0]`; for a module of a regular
package, the directory above its top package), then the scan root, then `src/`; in
each entry a package before a module of the same name; a directory without
`__init__.py` is a namespace package only when nothing else matches. When several
candidates exist, the nearest wins and the choice is kept (`ambiguities`) for the
evidence of the usages it decides.
"""

from __future__ import annotations

import posixpath
from collections import deque

from registry.codescan.pymodule import Function, Module
from registry.codescan.routes import RoutePatterns

# DRF routers give viewset actions two URLs: the list and the detail one.
_DETAIL_ACTIONS = {"retrieve", "update", "partial_update", "destroy"}
_LIST_ACTIONS = {"list", "create"}


class CallGraph:
    def __init__(self, modules: list[Module], patterns: RoutePatterns, directories: set[str] = frozenset()):
        self.modules = {m.name: m for m in modules}
        self.by_file = {m.file: m for m in modules}
        # Every directory of the tree (posix, relative): namespace package candidates.
        self.directories = set(directories) | {posixpath.dirname(m.file) for m in modules}
        self._imports: dict[tuple[tuple[str, ...], str], Module | None] = {}
        # module name → how an ambiguous import was decided in its favour
        self.ambiguities: dict[str, set[str]] = {}
        self.patterns = patterns
        self.handlers: dict[str, list[str | None]] = {}  # handler key → [method, path]
        self._view_classes: dict[str, bool] = {}
        self._module_cache: dict[str, Module | None] = {}
        # (module, '') → URL prefix of a urls module; (module, var) → prefix of a router
        self.url_prefixes: dict[tuple[str, str], str] = {}
        self.mount_prefixes: dict[tuple[str, str], str] = {}  # (module, router var) → prefix

    # --- name resolution ---------------------------------------------------------------
    def search_path(self, importer: Module) -> tuple[str, ...]:
        """`sys.path` as `importer` sees it: its script directory, the root, `src/`."""
        directory = posixpath.dirname(importer.file)
        if not importer.is_script:  # imported as part of its package: from above the top package
            while directory and posixpath.join(directory, "__init__.py") in self.by_file:
                directory = posixpath.dirname(directory)
        return tuple(dict.fromkeys([directory, "", "src"]))

    def imported(self, importer: Module, name: str) -> Module | None:
        """The module `import name` gives `importer`; None for a namespace package or a
        module outside the tree."""
        key = (self.search_path(importer), name)
        if key not in self._imports:
            self._imports[key] = self._find(importer, name, key[0])
        return self._imports[key]

    def _find(self, importer: Module, name: str, path: tuple[str, ...]) -> Module | None:
        rel = name.replace(".", "/")
        found: list[Module] = []
        folders: list[str] = []
        for entry in path:
            where = posixpath.join(entry, rel) if entry else rel
            module = self.by_file.get(f"{where}/__init__.py") or self.by_file.get(f"{where}.py")
            if module is not None:
                found.append(module)
            elif where in self.directories:
                folders.append(f"{where}/")
        if not found:
            # A namespace package has no functions; a name the path does not give may
            # still be a module of the tree when the code path is inside the package.
            return None if folders else self.module(name)
        if len(found) > 1 or folders:
            others = ", ".join([m.file for m in found[1:]] + folders)
            self.ambiguities.setdefault(found[0].name, set()).add(
                f"import {name} in {importer.file}: {found[0].file} (nearest on sys.path), not {others}"
            )
        return found[0]

    def module(self, name: str) -> Module | None:
        """A module by dotted name; also when the code path is inside the package
        (`app.services.x` imported, the tree holds `services/x.py`)."""
        if name not in self._module_cache:
            parts = name.split(".")
            candidates = (self.modules.get(".".join(parts[i:])) for i in range(len(parts)))
            self._module_cache[name] = next((m for m in candidates if m), None)
        return self._module_cache[name]

    def symbol(self, module: Module, name: str, depth: int = 0) -> tuple[Module, str] | None:
        """(module, top-level name) that `name` means in `module`, following imports."""
        if name in module.functions or name in module.classes or name in module.constants:
            return module, name
        target = module.imports.get(name)
        if target is None or depth > 5:
            return None
        if ":" in target:
            mod_name, attr = target.split(":")
            other = self.imported(module, mod_name) if mod_name else None
            if other is not None and other is not module:
                found = self.symbol(other, attr, depth + 1)
                if found:
                    return found
            submodule = self.imported(module, f"{mod_name}.{attr}" if mod_name else attr)
            return (submodule, "") if submodule else None
        submodule = self.imported(module, target)
        return (submodule, "") if submodule else None

    def method(
        self, module: Module, class_name: str, method: str, seen: frozenset = frozenset()
    ) -> str | None:
        cls = module.classes.get(class_name)
        if cls is None or (module.name, class_name) in seen:
            return None
        if method in cls.methods:
            return f"{module.name}:{class_name}.{method}"
        for base in cls.bases:
            found = self.resolve_class(module, base)
            if found:
                key = self.method(found[0], found[1], method, seen | {(module.name, class_name)})
                if key:
                    return key
        return None

    def resolve_class(self, module: Module, name: tuple[str, ...]) -> tuple[Module, str] | None:
        found = self.resolve(module, name)
        if found and found[1] and found[1] in found[0].classes:
            return found
        return None

    def resolve(self, module: Module, name: tuple[str, ...]) -> tuple[Module, str] | None:
        """(module, 'func' or 'Class' or 'Class.method') for a dotted reference."""
        found = self.symbol(module, name[0])
        rest = list(name[1:])
        target = module.imports.get(name[0], ":")
        if found is None and ":" not in target:
            # `import a.b` binds `a`, maybe a namespace package: the longest module prefix.
            for k in range(len(rest), 0, -1):
                submodule = self.imported(module, ".".join([target, *rest[:k]]))
                if submodule is not None:
                    found, rest = (submodule, ""), rest[k:]
                    break
        while found and not found[1] and rest:  # a module: walk into it
            mod, head = found[0], rest.pop(0)
            submodule = self.module(f"{mod.name}.{head}")
            found = self.symbol(mod, head) or ((submodule, "") if submodule else None)
        if not found or not found[1]:
            return None
        mod, top = found
        if not rest:
            return found
        if len(rest) == 1 and top in mod.classes:
            key = self.method(mod, top, rest[0])
            return (self.modules[key.split(":")[0]], key.split(":")[1]) if key else None
        return None

    def targets(self, module: Module, function: Function, call: tuple[str, ...]) -> str | None:
        """The function key a call in `function` lands on, if it is in the tree."""
        head = call[0]
        if len(call) == 1:
            nested = f"{function.qualname}.{head}"
            if nested in module.functions:
                return f"{module.name}:{nested}"
        if head in ("self", "cls") and function.class_name and len(call) == 2:
            return self.method(module, function.class_name, call[1])
        if head in function.instances and len(call) == 2:
            cls = self.resolve_class(module, function.instances[head])
            return self.method(cls[0], cls[1], call[1]) if cls else None
        found = self.resolve(module, call)
        if not found:
            return None
        mod, name = found
        if name in mod.classes:  # instantiation runs __init__
            return self.method(mod, name, "__init__")
        return f"{mod.name}:{name}" if name in mod.functions else None

    # --- handlers ----------------------------------------------------------------------
    def is_view_class(self, module: Module, class_name: str) -> bool:
        """A class whose bases match `view_bases`, directly or through classes of the tree."""
        key = f"{module.name}:{class_name}"
        if key not in self._view_classes:
            self._view_classes[key] = False  # provisional: an inheritance cycle ends here
            self._view_classes[key] = any(
                self.patterns.is_view_base(".".join(base))
                or ((found := self.resolve_class(module, base)) is not None and self.is_view_class(*found))
                for base in module.classes[class_name].bases
            )
        return self._view_classes[key]

    def find_handlers(self) -> None:
        self._mounts()
        for module in self.modules.values():
            for function in module.functions.values():
                self._decorated(module, function)
            for name, cls in module.classes.items():
                if self.is_view_class(module, name):
                    for method in cls.methods:
                        http = self.patterns.view_methods.get(method)
                        if http:
                            self._add(f"{module.name}:{name}.{method}", http, None)
        self._include_prefixes()
        for module in self.modules.values():
            for reg in module.registrations:
                self._registered(module, reg)

    def _decorated(self, module: Module, function: Function) -> None:
        for deco in function.decorators:
            method = self.patterns.decorator_method(deco.name)
            if method is None:
                continue
            if method == "*":
                method = (deco.methods or ["GET"])[0]
            path = deco.path
            if path is not None and deco.owner:
                # APIRouter(prefix=…) / Blueprint(url_prefix=…), then include_router(…, prefix=…)
                for prefix in (
                    module.prefixes.get(deco.owner),
                    self.mount_prefixes.get((module.name, deco.owner)),
                ):
                    if prefix:
                        path = prefix.rstrip("/") + "/" + path.lstrip("/")
            if deco.detail is not None:  # DRF @action: path relative to the viewset, filled later
                path = None
            self._add(f"{module.name}:{function.qualname}", method, path)

    def _mounts(self) -> None:
        """Prefixes given where a router or blueprint is mounted: (module, var) → prefix."""
        for module in self.modules.values():
            for ref, prefix in module.mounts:
                if len(ref) == 1 and ref[0] not in module.imports:
                    self.mount_prefixes[(module.name, ref[0])] = prefix  # a router of this module
                    continue
                owner = self.resolve_module_attr(module, ref)
                if owner:
                    self.mount_prefixes[owner] = prefix

    def resolve_module_attr(self, module: Module, ref: tuple[str, ...]) -> tuple[str, str] | None:
        """(module, var) for `orders.router` (module alias + attribute) or an imported `router`."""
        if len(ref) == 1:
            imported = module.imports.get(ref[0], "")
            if ":" in imported:
                mod_name, var = imported.split(":")
                owner = self.module(mod_name)
                return (owner.name, var) if owner else None
            return None
        target = self.symbol(module, ref[0]) if len(ref) == 2 else None
        return (target[0].name, ref[1]) if target and not target[1] else None

    def _include_prefixes(self) -> None:
        """URL prefixes from Django `include()`: of a urls module, or of a DRF router.

        Included modules may include others: repeat until nothing changes (the depth
        of URL configurations is small).
        """
        for _ in range(5):
            changed = False
            for module in self.modules.values():
                for reg in module.registrations:
                    if not reg.include or reg.path is None:
                        continue
                    prefix = self.url_prefixes.get((module.name, ""), "") + _clean(reg.path)
                    key = self._include_target(module, reg.handler)
                    if key and self.url_prefixes.get(key) != prefix:
                        self.url_prefixes[key], changed = prefix, True
            if not changed:
                return

    def _include_target(self, module: Module, ref: tuple[str, ...]) -> tuple[str, str] | None:
        """(module, '') for an included urls module, (module, router var) for `router.urls`."""
        target = self.module(".".join(ref))
        if target is not None:  # include("shop.urls"), include(shop.urls)
            return target.name, ""
        found = self.symbol(module, ref[0])
        if len(ref) == 1 and found and not found[1]:  # from shop import urls; include(urls)
            return found[0].name, ""
        if len(ref) != 2 or ref[1] != "urls":
            return None
        imported = module.imports.get(ref[0], "")
        if ":" in imported:  # from shop.api import router; include(router.urls)
            mod_name, var = imported.split(":")
            owner = self.module(mod_name)
            return (owner.name, var) if owner else None
        return module.name, ref[0]  # a router defined in this module

    def _registered(self, module: Module, reg) -> None:
        method = self.patterns.registration_method(reg.name)
        if method is None or reg.path is None or reg.include:
            return
        found = self.resolve(module, reg.handler)
        if not found:
            return
        mod, name = found
        owner = reg.name.split(".")[0] if "." in reg.name else ""
        prefix = self.url_prefixes.get((module.name, owner)) or self.url_prefixes.get((module.name, ""), "")
        path = "/" + prefix + _clean(reg.path)
        if name in mod.classes:
            self._register_class(mod, name, path)
        elif name in mod.functions:
            http = (reg.methods or [None])[0] if method == "*" else method
            self._add(f"{mod.name}:{name}", http, path, override_path=True)

    def _register_class(self, module: Module, class_name: str, path: str) -> None:
        base = path.rstrip("/")
        for method in module.classes[class_name].methods:
            key = f"{module.name}:{class_name}.{method}"
            function = module.functions.get(f"{class_name}.{method}")
            action = (
                next((d for d in function.decorators if d.detail is not None), None) if function else None
            )
            if action:
                sub = (action.path or method).strip("/")
                route = f"{base}/{{pk}}/{sub}/" if action.detail else f"{base}/{sub}/"
                self._add(key, (action.methods or ["GET"])[0], route, override_path=True)
            elif method in self.patterns.view_methods and self.is_view_class(module, class_name):
                # Viewset actions get the router's list and detail URLs; HTTP verbs the path itself.
                route = (
                    f"{base}/{{pk}}/"
                    if method in _DETAIL_ACTIONS
                    else f"{base}/"
                    if method in _LIST_ACTIONS
                    else path
                )
                self._add(key, self.patterns.view_methods[method], route, override_path=True)

    def _add(self, key: str, method: str | None, path: str | None, override_path: bool = False) -> None:
        """Record a handler; each source of evidence fills what the others lack.

        A decorator knows the method (and maybe the path), a urls.py/router
        registration knows the path; the registration's path wins.
        """
        entry = self.handlers.setdefault(key, [None, None])
        entry[0] = entry[0] or method
        if path and (override_path or not entry[1]):
            entry[1] = path

    @property
    def routes(self) -> dict[str, str | None]:
        return {k: (f"{m or 'GET'} {p}" if p else None) for k, (m, p) in self.handlers.items()}

    # --- reachability ------------------------------------------------------------------
    def reach(self) -> dict[str, str | None]:
        """Function key → route of the first (sorted) handler that reaches it.

        A handler keeps its own route. Handlers are walked in sorted order of their
        routes; a function already claimed is not walked again — everything below it
        was claimed with it — so the whole walk is O(functions + calls).
        """
        edges = self._edges()
        routes = self.routes
        claimed: dict[str, str | None] = dict(routes)
        for handler, route in sorted(
            routes.items(), key=lambda item: (item[1] is None, item[1] or "", item[0])
        ):
            queue = deque([handler])
            while queue:
                for callee in edges.get(queue.popleft(), ()):
                    if callee not in claimed:
                        claimed[callee] = route
                        queue.append(callee)
        return claimed

    def _edges(self) -> dict[str, set[str]]:
        edges: dict[str, set[str]] = {}
        for module in self.modules.values():
            for function in module.functions.values():
                key = f"{module.name}:{function.qualname}"
                for call in function.calls:
                    target = self.targets(module, function, call)
                    if target and target != key:
                        edges.setdefault(key, set()).add(target)
        return edges


def _clean(path: str) -> str:
    """A Django/regex URL pattern without its anchors and leading slash."""
    return path.lstrip("^/").rstrip("$")
