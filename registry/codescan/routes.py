"""How route handlers are recognised: configurable patterns (settings.OPSHEALTH_ROUTE_PATTERNS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class RoutePatterns:
    """How route handlers are recognised; defaults in settings.OPSHEALTH_ROUTE_PATTERNS.

    decorators: dotted decorator name pattern (fnmatch) → HTTP method, "*" = read the
      `methods` argument (GET when absent).
    registrations: dotted call name pattern → HTTP method or "*"; the call's first string
      argument is the path, its first function/class reference (or `View.as_view()`) the
      handler; lists of `(path, Handler)` tuples in its arguments count too (Tornado).
    view_bases: base-class name patterns of class-based views; their methods named in
      view_methods (method name → HTTP method) are handlers.
    mounts: dotted call name patterns that mount a router/blueprint under a prefix
      (`app.include_router(orders.router, prefix="/api")`, `register_blueprint(bp, url_prefix=…)`).
    """

    decorators: dict[str, str]
    registrations: dict[str, str]
    view_bases: tuple[str, ...]
    view_methods: dict[str, str]
    mounts: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> RoutePatterns:
        return cls(
            decorators=dict(data.get("decorators", {})),
            registrations=dict(data.get("registrations", {})),
            view_bases=tuple(data.get("view_bases", ())),
            view_methods=dict(data.get("view_methods", {})),
            mounts=tuple(data.get("mounts", ())),
        )

    # Every call and base class of the tree is matched: remember the answers.
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def _first(self, kind: str, patterns: dict[str, str], name: str) -> str | None:
        key = (kind, name)
        if key not in self._cache:
            self._cache[key] = next((m for p, m in patterns.items() if fnmatchcase(name, p)), None)
        return self._cache[key]

    def decorator_method(self, name: str) -> str | None:
        return self._first("decorator", self.decorators, name)

    def registration_method(self, name: str) -> str | None:
        return self._first("registration", self.registrations, name)

    def is_view_base(self, name: str) -> bool:
        return self._first("base", dict.fromkeys(self.view_bases, "view"), name) is not None

    def is_mount(self, name: str) -> bool:
        return self._first("mount", dict.fromkeys(self.mounts, "mount"), name) is not None
