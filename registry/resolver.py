"""Name resolution: a name found in code, a ledger asset key or an OpenLineage dataset
name → a registry object.

Resolver rules (`ResolverRule` rows) are tried first, in priority order, alias before
pattern before transform within a priority, a source's own rules before global ones.
The first rule whose output names an existing registry object wins. Then plain
matching, as PostgreSQL itself would resolve the name: quoted identifiers are kept
exactly (`"CamelCaseImport"`, `"Daily.Stats"`), unquoted ones are folded to lower
case, `db.schema.table` drops the database part, and an unqualified name is looked up
through the search path.

A `Resolver` reads everything it needs in its constructor (two queries: the rules and
an index of the objects), so resolving any number of names costs no further query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from common.identifiers import InvalidName, split_identifier
from registry.models import RegistryObject, ResolverRule, Source
from registry.patterns import PatternError, compile_pattern

_KIND_ORDER = {"alias": 0, "pattern": 1, "transform": 2}


@dataclass(frozen=True)
class Resolution:
    name: str  # as given
    schema_name: str | None  # resolved
    object_name: str | None
    object_id: int | None  # RegistryObject id, None when unresolved
    rule: str  # "alias #3: ...", "pattern #5", "transform #2", "search_path", "exact", ""
    resolved: bool


def last_path_segment(name: str) -> str:
    """The part after the last `/` that is not inside a quoted identifier.

    Ledger keys and OpenLineage names may carry a namespace (`postgres://h:5432/db.s.t`);
    only the dataset part names an object.
    """
    cut, quoted = -1, False
    for i, ch in enumerate(name):
        if ch == '"':
            quoted = not quoted
        elif ch == "/" and not quoted:
            cut = i
    return name[cut + 1 :]


_PG_SCHEMES = ("postgres://", "postgresql://")


def _foreign_namespace(name: str) -> bool:
    """A name in a non-PostgreSQL namespace (`s3://…`, `opshealth://…`): only a rule may
    map it to an object."""
    head = name[: len(name) - len(last_path_segment(name))]
    return "://" in head and not head.lower().startswith(_PG_SCHEMES)


@dataclass(frozen=True)
class _Rule:
    id: int
    kind: str
    match: str
    target: str
    options: dict
    description: str
    regex: object | None  # an RE2 pattern (registry.patterns)

    @property
    def label(self) -> str:
        if self.kind == "alias":
            return f"alias #{self.id}: {self.match} → {self.target}"
        return f"{self.kind} #{self.id}"

    def apply(self, name: str) -> str | None:
        """The rewritten name when this rule matches `name`, else None."""
        if self.kind == "alias":
            return self.target if name == self.match else None
        if self.kind == "pattern":
            m = self.regex.fullmatch(name) if self.regex else None
            return m.expand(self.target) if m else None
        return self._transform(name)

    def _transform(self, name: str) -> str | None:
        if self.regex and not self.regex.fullmatch(name):
            return None
        # A transform rewrites the dataset part; a namespace before it names no object.
        out, opts = last_path_segment(name), self.options
        prefix = opts.get("strip_prefix")
        if prefix and out.startswith(prefix):
            out = out[len(prefix) :]
        if opts.get("strip_quotes"):
            out = out.replace('"', "")
        if opts.get("lower"):
            out = out.lower()
        schema = opts.get("default_schema")
        if schema:
            try:
                if len(split_identifier(out)) == 1:
                    out = f"{schema}.{out}"
            except InvalidName:
                return None
        return out if out != name else None


def _compile(rule: ResolverRule) -> _Rule | None:
    regex = None
    if rule.kind in ("pattern", "transform") and rule.match:
        try:
            regex = compile_pattern(rule.match)  # RE2: linear time whatever the pattern
        except PatternError:
            return None  # an invalid regex never fires; the admin/API validate on save
    if rule.kind == "pattern" and regex is None:
        return None
    return _Rule(rule.id, rule.kind, rule.match, rule.target, rule.options or {}, rule.description, regex)


class Resolver:
    """Resolves names against one source's registry objects (or all sources' when None)."""

    def __init__(
        self,
        source: Source | None = None,
        *,
        objects: Iterable[tuple[int, str, str]] | None = None,
        fold_case_fallback: bool = False,
    ):
        """`objects` (id, schema, name) replaces the index query (discovery passes the
        objects it has just written). `fold_case_fallback` lets a name that matches no
        object exactly resolve to the single object equal to it ignoring case: for
        ledger keys, which producers often lower-case; never for code, where PostgreSQL
        itself would not find the object.
        """
        self.source = source
        self.fold_case_fallback = fold_case_fallback
        self.search_path = list(source.effective_search_path) if source else ["public"]
        self.rules = self._load_rules(source)
        self._index: dict[tuple[str, str], int] = {}
        self._folded: dict[tuple[str, str], int | None] = {}
        self._names: dict[int, tuple[str, str]] = {}
        for obj_id, schema, name in self._load_objects(source) if objects is None else objects:
            self._add(obj_id, schema, name)

    @staticmethod
    def _load_rules(source: Source | None) -> list[_Rule]:
        qs = ResolverRule.objects.filter(is_active=True)
        qs = qs.filter(source__isnull=True) | qs.filter(source=source) if source else qs
        rows = sorted(
            qs.only("id", "kind", "priority", "match", "target", "options", "description", "source_id"),
            key=lambda r: (r.priority, _KIND_ORDER.get(r.kind, 9), r.source_id is None, r.id),
        )
        return [rule for rule in map(_compile, rows) if rule]

    @staticmethod
    def _load_objects(source: Source | None) -> list[tuple[int, str, str]]:
        qs = RegistryObject.objects.all()
        if source is not None:
            qs = qs.filter(source=source)
        # Existing objects first, then oldest: where two sources hold the same name,
        # the first one added to the index wins.
        return list(qs.order_by("-exists_in_db", "id").values_list("id", "schema_name", "object_name"))

    def _add(self, obj_id: int, schema: str, name: str) -> None:
        self._index.setdefault((schema, name), obj_id)
        self._names[obj_id] = (schema, name)
        folded = (schema.lower(), name.lower())
        if folded in self._folded and self._folded[folded] != obj_id:
            self._folded[folded] = None  # ambiguous ignoring case: never guess
        else:
            self._folded[folded] = obj_id

    def _lookup(self, schema: str, name: str) -> int | None:
        return self._index.get((schema, name))

    def _match_parts(self, parts: list[str], search_path: Sequence[str]) -> tuple[str, str, int] | None:
        if len(parts) > 3:
            return None
        if len(parts) >= 2:
            schema, name = parts[-2], parts[-1]
            obj_id = self._lookup(schema, name)
            return (schema, name, obj_id) if obj_id else None
        for schema in search_path:
            obj_id = self._lookup(schema, parts[0])
            if obj_id:
                return schema, parts[0], obj_id
        return None

    def _plain(self, name: str, search_path: Sequence[str]) -> Resolution:
        if _foreign_namespace(name):
            return Resolution(name, None, None, None, "", False)
        try:
            parts = split_identifier(last_path_segment(name))
        except InvalidName:
            return Resolution(name, None, None, None, "", False)
        hit = self._match_parts(parts, search_path)
        if hit:
            rule = "search_path" if len(parts) == 1 else "exact"
            return Resolution(name, hit[0], hit[1], hit[2], rule, True)
        if self.fold_case_fallback and len(parts) in (2, 3):
            obj_id = self._folded.get((parts[-2].lower(), parts[-1].lower()))
            if obj_id:
                schema, obj = self._names[obj_id]
                return Resolution(name, schema, obj, obj_id, "case_insensitive", True)
        if len(parts) in (2, 3):
            return Resolution(name, parts[-2], parts[-1], None, "", False)
        return Resolution(name, None, parts[0] if len(parts) == 1 else None, None, "", False)

    def resolve(self, name: str, *, search_path: Sequence[str] | None = None) -> Resolution:
        path = [s for s in (search_path or self.search_path) if s and s != "$user"]
        given, name = name, name.strip()
        first_unresolved: Resolution | None = None
        for rule in self.rules:
            rewritten = rule.apply(name)
            if rewritten is None:
                continue
            plain = self._plain(rewritten, path)
            if plain.resolved:
                return Resolution(
                    given, plain.schema_name, plain.object_name, plain.object_id, rule.label, True
                )
            if first_unresolved is None:
                first_unresolved = Resolution(
                    given, plain.schema_name, plain.object_name, None, rule.label, False
                )
        plain = self._plain(name, path)
        if plain.resolved or first_unresolved is None:
            return Resolution(
                given, plain.schema_name, plain.object_name, plain.object_id, plain.rule, plain.resolved
            )
        return first_unresolved

    def resolve_many(
        self, names: Iterable[str], *, search_path: Sequence[str] | None = None
    ) -> list[Resolution]:
        return [self.resolve(name, search_path=search_path) for name in names]
