"""The source registry: sources, discovered objects, their columns, dependencies and
code usages, the inference and resolver rules (data, not code), and the override audit.

The registry is the single source of truth: nothing is monitored, checked or shown
unless it is here or derived from here.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from common.secrets import mask_dsn, safe_message
from registry.engines import ENGINES, ConnectionTest, engine_for

OBJECT_TYPES = [
    ("table", "table"),
    ("partitioned_table", "partitioned table"),
    ("view", "view"),
    ("matview", "materialized view"),
    ("foreign_table", "foreign table"),
]
LAYERS = [("RAW", "RAW"), ("CANON", "CANON"), ("DERIVED", "DERIVED"), ("MV", "MV")]
ROLES = [("PRIMARY", "PRIMARY"), ("SECONDARY", "SECONDARY")]
CRITICALITIES = [("critical", "critical"), ("important", "important"), ("normal", "normal")]
USAGE_CONTEXTS = [("", "unused"), ("endpoint", "endpoint"), ("script", "script"), ("both", "both")]
USAGE_KINDS = [("read", "read"), ("write", "write"), ("refresh", "refresh"), ("ddl", "ddl")]


def is_effectively_critical(is_critical: bool | None, criticality: str) -> bool:
    """The one rule of effective criticality: an `is_critical` override decides, else the
    inferred criticality. Stored as `RegistryObject.effective_critical` (the same rule in
    SQL, below), which the API, the checks, `/metrics` and raw SQL read; this Python form
    serves inference, which decides on rows not saved yet."""
    return criticality == "critical" if is_critical is None else is_critical


EFFECTIVE_CRITICAL = Coalesce(
    models.F("is_critical"),
    models.ExpressionWrapper(models.Q(criticality="critical"), output_field=models.BooleanField()),
)

# Fields a person may override; discovery never writes them.
OVERRIDE_FIELDS = (
    "health_enabled",
    "is_expected",
    "is_critical",
    "notes",
    "description",
    "refresh_schedule",
    "max_staleness",
)

_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Source(models.Model):
    """One monitored database."""

    ENGINE_CHOICES = [(name, engine.label) for name, engine in ENGINES.items()]
    STATUSES = [("never", "never run"), ("ok", "ok"), ("failed", "failed")]

    name = models.SlugField(max_length=100, unique=True)
    engine = models.CharField(max_length=20, choices=ENGINE_CHOICES, default="postgresql")
    # A DSN/URL, or `env:VAR` naming an environment variable that holds it. Never
    # returned by the API, shown in the admin or logged: use `masked_dsn`.
    dsn = models.TextField(
        help_text="postgresql://… or key=value DSN; mysql://user:pass@host:3306/db; a DuckDB file path; "
        "or env:VARIABLE"
    )
    include_schemas = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    exclude_schemas = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    code_paths = ArrayField(models.CharField(max_length=500), default=list, blank=True)
    # Where unqualified names in code land; empty = the connecting role's search_path
    # as read at discovery (stored in discovered_search_path).
    search_path = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    discovered_search_path = ArrayField(
        models.CharField(max_length=200), default=list, blank=True, editable=False
    )
    is_active = models.BooleanField(default=True)
    last_discovery_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_discovery_status = models.CharField(max_length=10, choices=STATUSES, default="never", editable=False)
    last_discovery_error = models.TextField(blank=True, editable=False)
    server_version = models.CharField(max_length=100, blank=True, editable=False)
    # The evidence inference last read for this source: the newest refresh and override
    # edit, by id (registry.inference.evidence_marks); re-inferred when it moves.
    inferred_from = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self.dsn)

    def safe_message(self, error: BaseException | str, *, limit: int = 300) -> str:
        """`error` (a driver's, or a stored message) as it may be shown: this source's DSN
        masked and its password hidden in any spelling (`common.secrets.safe_message`)."""
        try:
            dsn = self.resolved_dsn()
        except ValueError:
            dsn = ""
        return safe_message(error, dsn=dsn, limit=limit)

    def resolved_dsn(self) -> str:
        """The DSN to connect with; reads the environment for `env:VAR`."""
        if self.dsn.startswith("env:"):
            var = self.dsn[4:]
            value = os.environ.get(var)
            if not value:
                raise ValueError(f"environment variable {var} (DSN of source {self.name}) is not set")
            return value
        return self.dsn

    @property
    def effective_search_path(self) -> list[str]:
        return self.search_path or self.discovered_search_path or ["public"]

    def clean(self) -> None:
        """Field messages for the admin form, the API and the `source` command alike."""
        errors: dict[str, str] = {}
        if self.engine not in ENGINES:
            errors["engine"] = f"Unknown engine {self.engine!r}; one of: {', '.join(sorted(ENGINES))}."
        dsn_error = validate_dsn(self.dsn, self.engine)
        if dsn_error:
            errors["dsn"] = dsn_error
        for field in ("include_schemas", "exclude_schemas", "search_path"):
            if any(not (name or "").strip() for name in getattr(self, field)):
                errors[field] = "Schema names must be non-empty."
        overlap = sorted(set(self.include_schemas) & set(self.exclude_schemas))
        if overlap:
            errors["exclude_schemas"] = f"Both included and excluded: {', '.join(overlap)}."
        if any(not (path or "").strip() for path in self.code_paths):
            errors["code_paths"] = "Code paths must be non-empty."
        elif outside := [path for path in self.code_paths if resolve_code_path(path) is None]:
            errors["code_paths"] = (
                f"Outside the code roots (OPSHEALTH_CODE_ROOTS), or not a path: {', '.join(outside)}. "
                "Symlinks and '..' are followed before this check."
            )
        if errors:
            raise ValidationError(errors)

    def missing_code_paths(self) -> list[str]:
        """Code paths that do not exist here (relative ones are taken from BASE_DIR).

        Accepted on save (the code may be deployed later) but reported as a warning.
        """
        return [path for path in self.code_paths if not (settings.BASE_DIR / path).is_dir()]

    def delete(self, *args, **kwargs) -> tuple[int, dict[str, int]]:
        """Delete the source with its registry rows, the objects' dependents first, each
        relation in one statement over a subquery: Django's collector would name every
        object of a large source (50,000 objects) in the parameters of one statement."""
        counts: dict[str, int] = {}
        with transaction.atomic():
            objects = RegistryObject.objects.filter(source=self)
            relations = RegistryObject._meta.related_objects
            for rel in relations:
                related = rel.related_model._base_manager.filter(**{f"{rel.field.name}__in": objects})
                if rel.on_delete is models.SET_NULL:
                    related.update(**{rel.field.name: None})
                elif rel.on_delete is models.CASCADE:
                    for label, n in related.delete()[1].items():
                        counts[label] = counts.get(label, 0) + n
            if all(rel.on_delete in (models.SET_NULL, models.CASCADE) for rel in relations):
                # Nothing refers to the objects any more: no collector needed.
                counts[RegistryObject._meta.label] = objects._raw_delete(objects.db)
            _, per_model = super().delete(*args, **kwargs)
        for label, n in per_model.items():
            counts[label] = counts.get(label, 0) + n
        return sum(counts.values()), counts

    def test_connection(self) -> ConnectionTest:
        """Connect with the short timeout and record the server version. Never raises."""
        try:
            dsn = self.resolved_dsn()
        except ValueError as exc:
            return ConnectionTest(ok=False, latency_ms=0.0, error_class="MissingDsn", message=str(exc))
        result = engine_for(self).test(dsn, timeout=settings.OPSHEALTH_CONNECT_TIMEOUT_S)
        if result.ok and result.server_version != self.server_version:
            self.server_version = result.server_version
            type(self)._default_manager.filter(pk=self.pk).update(server_version=result.server_version)
        return result


def resolve_code_path(path: str) -> Path | None:
    """`path` (a relative one taken from BASE_DIR) with `..` and every symlink resolved,
    or None when that lies under no root of OPSHEALTH_CODE_ROOTS (or is no path at all).

    Checked when a source is saved and again when its code is scanned: a symlink can be
    pointed elsewhere in between.
    """
    try:
        resolved = (settings.BASE_DIR / path).resolve()
        roots = [(settings.BASE_DIR / root).resolve() for root in settings.OPSHEALTH_CODE_ROOTS]
    except (ValueError, OSError):  # a NUL byte, a symlink loop
        return None
    return resolved if any(resolved.is_relative_to(root) for root in roots) else None


def validate_dsn(dsn: str, engine: str = "postgresql") -> str:
    """Why `dsn` is unusable for `engine`, or "". Never echoes the DSN: it may hold a password."""
    if not dsn or not dsn.strip():
        return "A DSN is required."
    if dsn.startswith("env:"):
        if not _ENV_VAR.match(dsn[4:]):
            return "env: must be followed by an environment variable name (letters, digits, _)."
        return ""
    return ENGINES[engine].validate_dsn(dsn) if engine in ENGINES else ""


class InferenceRule(models.Model):
    """A classification rule: when it matches an object, `attribute` gets `value`.

    Rules of one attribute are tried in `priority` order (lowest first); the first that
    matches wins and is recorded as the value's provenance. Criticality rules all apply
    and the highest value wins, then criticality propagates upstream.
    """

    ATTRIBUTES = [("layer", "layer"), ("role", "role"), ("criticality", "criticality")]
    EVIDENCE = [
        ("", "always"),
        ("endpoint_usage", "used by an HTTP endpoint"),
        ("script_usage", "used by a script"),
        ("any_usage", "used by code"),
        ("refreshed_by_opshealth", "refreshed by OpsHealth's refresh job"),
    ]

    attribute = models.CharField(max_length=20, choices=ATTRIBUTES)
    value = models.CharField(max_length=20)
    priority = models.IntegerField(default=100)
    schema_pattern = models.CharField(
        max_length=200, blank=True, help_text="regex on schema name; blank = any"
    )
    name_pattern = models.CharField(max_length=200, blank=True, help_text="regex on object name; blank = any")
    object_types = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    when_layers = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    evidence = models.CharField(max_length=30, choices=EVIDENCE, blank=True)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["attribute", "priority", "id"]

    def __str__(self) -> str:
        return self.description or f"{self.attribute} → {self.value}"


class RegistryObject(models.Model):
    """One row per (source, schema, object): the seed's ops.source_registry."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="registry_objects")
    schema_name = models.CharField(max_length=200)
    object_name = models.CharField(max_length=200)
    object_type = models.CharField(max_length=20, choices=OBJECT_TYPES)
    is_partition = models.BooleanField(default=False)
    partition_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="partitions"
    )

    # Classification, inferred every run; provenance says which rule and evidence.
    layer = models.CharField(max_length=10, choices=LAYERS, default="DERIVED")
    role = models.CharField(max_length=10, choices=ROLES, default="SECONDARY")
    criticality = models.CharField(max_length=10, choices=CRITICALITIES, default="normal")
    should_monitor = models.BooleanField(default=False)
    # {"layer": {"rule": "...", "evidence": "..."}, "criticality": {...}, ...}
    provenance = models.JSONField(default=dict, blank=True)

    # Manual overrides: NULL = no override. Discovery never writes these.
    health_enabled = models.BooleanField(null=True, blank=True)
    is_expected = models.BooleanField(null=True, blank=True)
    is_critical = models.BooleanField(null=True, blank=True)
    # Computed by PostgreSQL on every write: `is_effectively_critical` above.
    effective_critical = models.GeneratedField(
        expression=EFFECTIVE_CRITICAL, output_field=models.BooleanField(), db_persist=True
    )
    notes = models.TextField(blank=True)
    description = models.TextField(blank=True, help_text="Overrides the database comment when set.")
    refresh_schedule = models.DurationField(null=True, blank=True, help_text="Manual refresh interval.")
    max_staleness = models.DurationField(null=True, blank=True, help_text="Manual allowed age.")
    # New evidence contradicting an active override: kept, but flagged for review.
    needs_review = models.BooleanField(default=False)
    review_reason = models.TextField(blank=True)

    # Discovered metadata.
    db_comment = models.TextField(blank=True)
    owner = models.CharField(max_length=200, blank=True)
    usage_context = models.CharField(max_length=10, choices=USAGE_CONTEXTS, blank=True)
    inferred_refresh_schedule = models.DurationField(null=True, blank=True)
    estimated_rows = models.BigIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    is_populated = models.BooleanField(null=True, blank=True)
    has_unique_index = models.BooleanField(default=False)
    last_analyze_at = models.DateTimeField(null=True, blank=True)
    last_vacuum_at = models.DateTimeField(null=True, blank=True)
    # Hash of the columns as last discovered: a repeat discovery compares it and
    # touches columns only for objects whose hash changed.
    columns_hash = models.CharField(max_length=64, blank=True)
    exists_in_db = models.BooleanField(default=True)

    discovered_at = models.DateTimeField(null=True, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["source", "schema_name", "object_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "schema_name", "object_name"], name="registry_object_natural_key"
            )
        ]
        indexes = [
            models.Index(fields=["schema_name", "object_name"], name="registry_obj_name"),
            models.Index(fields=["criticality", "should_monitor"], name="registry_obj_crit"),
        ]

    def __str__(self) -> str:
        return f"{self.schema_name}.{self.object_name}"

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"

    @property
    def effective_description(self) -> str:
        return self.description or self.db_comment

    @property
    def effective_refresh_schedule(self):
        return self.refresh_schedule or self.inferred_refresh_schedule

    def column_usages(self) -> list[ColumnUse]:
        """Which code uses which of this object's columns: one row per column named by
        code (in the object's column order, then the missing ones), with the usages
        naming it and whether the object has it. Two queries."""
        columns = list(self.columns.values_list("name", flat=True))
        usages = list(self.code_usages.exclude(columns=[]).select_related("source").order_by("file", "line"))
        by_column: dict[str, list[CodeUsage]] = {}
        missing: set[str] = set()
        for usage in usages:
            missing.update(usage.missing_columns(columns))
            for column in usage.columns:
                by_column.setdefault(column, []).append(usage)
        order = {name: i for i, name in enumerate(columns)}
        return [
            ColumnUse(column, column not in missing, by_column[column])
            for column in sorted(by_column, key=lambda c: (c in missing, order.get(c, len(order)), c))
        ]


@dataclass(frozen=True)
class ColumnUse:
    """A column named by code: "*" stands for `SELECT *` (every column)."""

    column: str
    exists: bool
    usages: list[CodeUsage]


class Column(models.Model):
    object = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="columns")
    name = models.CharField(max_length=200)
    position = models.IntegerField()
    data_type = models.CharField(max_length=200)
    is_nullable = models.BooleanField(default=True)
    is_primary_key = models.BooleanField(default=False)
    # "schema.table.column" of the referenced column, when a foreign key.
    fk_target = models.CharField(max_length=600, blank=True)

    class Meta:
        ordering = ["object", "position"]
        constraints = [models.UniqueConstraint(fields=["object", "name"], name="registry_column_uniq")]

    def __str__(self) -> str:
        return f"{self.object}.{self.name}"


class SchemaChange(models.Model):
    CHANGES = [("added", "added"), ("removed", "removed"), ("type_changed", "type changed")]

    object = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="schema_changes")
    change = models.CharField(max_length=15, choices=CHANGES)
    column_name = models.CharField(max_length=200)
    old_type = models.CharField(max_length=200, blank=True)
    new_type = models.CharField(max_length=200, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-detected_at", "id"]
        indexes = [models.Index(fields=["-detected_at"], name="registry_schemachange_time")]

    def __str__(self) -> str:
        return f"{self.object}.{self.column_name} {self.change}"


class Dependency(models.Model):
    """An edge upstream → downstream (a view or matview reads upstream): exact when the
    server records it (`catalog`), else parsed from the view's definition (`parsed`)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="dependencies")
    upstream = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="downstream_edges")
    downstream = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="upstream_edges")
    PROVENANCES = [("catalog", "recorded by the server"), ("parsed", "parsed from the view definition")]

    dependency_type = models.CharField(max_length=20, default="normal")
    provenance = models.CharField(max_length=10, choices=PROVENANCES, default="catalog")
    discovered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["upstream", "downstream"], name="registry_dependency_uniq")
        ]
        indexes = [models.Index(fields=["downstream"], name="registry_dep_downstream")]

    def __str__(self) -> str:
        return f"{self.upstream} → {self.downstream}"

    @classmethod
    def lineage(cls, object_id: int, *, hops: int, per_column: int) -> list[LineageNode]:
        """The objects within `hops` edges up and down of `object_id`, in one statement.

        Each node is placed at its nearest distance (negative upstream, 0 the object
        itself, upstream winning the tie a cycle makes). A column keeps its first
        `per_column` nodes by name (each row says how many the column had); a node lists
        its direct downstreams among the nodes kept.
        """
        from registry import queries  # registry.queries reads this module's models

        return [LineageNode(*row) for row in queries.lineage(object_id, hops, per_column)]


@dataclass(frozen=True)
class LineageNode:
    id: int
    depth: int
    schema_name: str
    object_name: str
    object_type: str
    exists_in_db: bool
    in_column: int  # nodes at this depth, kept or not
    downstream_ids: list[int]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.object_name}"


class CodeUsageQuerySet(models.QuerySet):
    def naming_columns(self) -> CodeUsageQuerySet:
        """Usages of an existing registry object that name some of its columns, each
        with the object's columns as discovered (`real_columns`, in position order) and
        its source: one query."""
        return (
            self.filter(object__exists_in_db=True)
            .exclude(columns=[])
            .select_related("object", "source")
            .annotate(
                real_columns=ArrayAgg(
                    "object__columns__name", order_by="object__columns__position", default=[]
                )
            )
        )


class CodeUsage(models.Model):
    """A place in the source's code that names a database object (and which of its
    columns, when the statement says)."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="code_usages")
    object = models.ForeignKey(
        RegistryObject, null=True, blank=True, on_delete=models.SET_NULL, related_name="code_usages"
    )
    # The name as written in the code, and as resolved (schema may come from the
    # search path). `resolvable` is false for templated/dynamic names.
    raw_name = models.CharField(max_length=500)
    schema_name = models.CharField(max_length=200, blank=True)
    object_name = models.CharField(max_length=200, blank=True)
    resolvable = models.BooleanField(default=True)
    resolver_rule = models.CharField(max_length=200, blank=True)
    code_path = models.CharField(max_length=500)
    file = models.CharField(max_length=500, help_text="relative to the code path")
    line = models.IntegerField()
    kind = models.CharField(max_length=10, choices=USAGE_KINDS)
    context = models.CharField(max_length=10, choices=[("endpoint", "endpoint"), ("script", "script")])
    route = models.CharField(max_length=300, blank=True)
    function = models.CharField(max_length=300, blank=True)
    # Columns of the object the statement names, folded like identifiers; "*" for
    # `SELECT *`. Empty when the statement could not be parsed that far.
    columns = ArrayField(models.CharField(max_length=200), default=list, blank=True)
    # How the scan got here when it had to choose: e.g. an import with two candidate
    # modules, resolved to the nearest.
    evidence = models.TextField(blank=True)
    discovered_at = models.DateTimeField(default=timezone.now)

    objects = CodeUsageQuerySet.as_manager()

    class Meta:
        ordering = ["file", "line"]
        indexes = [models.Index(fields=["source", "schema_name", "object_name"], name="registry_usage_name")]

    def __str__(self) -> str:
        return f"{self.raw_name} at {self.file}:{self.line}"

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    def missing_columns(self, real_columns: list[str]) -> list[str]:
        """The columns this usage names that its object does not have (the rule of
        `used_column_missing`). An object whose columns were never read has none missing."""
        if not real_columns:
            return []
        if engine_for(self.source).case_insensitive_columns:
            real = {name.lower() for name in real_columns}
            return [c for c in self.columns if c != "*" and c.lower() not in real]
        real = set(real_columns)
        return [c for c in self.columns if c != "*" and c not in real]


class ResolverRule(models.Model):
    """Maps a name found in code or run events to a registry object.

    Tried in priority order (lowest first), `alias` then `pattern` then `transform`
    within a priority. alias: exact `match` → `target` ("schema.object").
    pattern: regex `match` → `target` template with \\1 / \\g<name> groups.
    transform: `options` like {"lower": true, "strip_quotes": true,
    "strip_prefix": "warehouse.", "default_schema": "public"} applied to the name.
    """

    KINDS = [("alias", "alias"), ("pattern", "pattern"), ("transform", "transform")]

    source = models.ForeignKey(
        Source,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="resolver_rules",
        help_text="blank = applies to every source",
    )
    kind = models.CharField(max_length=10, choices=KINDS)
    priority = models.IntegerField(default=100)
    match = models.CharField(max_length=500, blank=True)
    target = models.CharField(max_length=500, blank=True)
    options = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["priority", "kind", "id"]

    def __str__(self) -> str:
        return self.description or f"{self.kind}: {self.match} → {self.target}"


class AssetLink(models.Model):
    """Ledger asset key (normalized) → registry object, refreshed set-based after
    discovery and after ingestion. An unresolved key has object NULL and stays visible."""

    normalized_key = models.CharField(max_length=500, unique=True)
    object = models.ForeignKey(
        RegistryObject, null=True, blank=True, on_delete=models.SET_NULL, related_name="asset_links"
    )
    resolver_rule = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.normalized_key} → {self.object or 'unresolved'}"


class ListVersion(models.Model):
    """The source-registry list's change marker: one row (id 1) whose `version` a
    statement-level trigger bumps on every write to objects, sources and dependencies,
    whatever wrote it (migration 0004_perf_list_version, which owns the table and its
    triggers: unmanaged here). Read by `queries.registry_state`."""

    id = models.SmallIntegerField(primary_key=True)
    version = models.BigIntegerField()

    class Meta:
        managed = False

    def __str__(self) -> str:
        return f"registry list version {self.version}"


class OverrideAudit(models.Model):
    """Who changed which override of which object, when, from what to what."""

    object = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="audit")
    field = models.CharField(max_length=50)
    old_value = models.TextField(blank=True, null=True)
    new_value = models.TextField(blank=True, null=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_name = models.CharField(max_length=200, blank=True, help_text="user or token name")
    via = models.CharField(max_length=10, choices=[("admin", "admin"), ("api", "api"), ("cli", "cli")])
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.object} {self.field}: {self.old_value} → {self.new_value}"
