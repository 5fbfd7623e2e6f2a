"""Discovery: read a source's catalog and code, then write the registry in one
transaction.

Steps of `discover()`:
1. read the catalog (registry.catalog; one REPEATABLE READ transaction on the source);
2. scan the source's code paths (registry.codescan);
3. in one transaction on OpsHealth's database, diff what is known against what was
   discovered and write only the difference, set-based: objects, columns + schema
   changes, dependencies, code usages; then inference, asset links and the source's
   discovery status.
A failure anywhere leaves the registry exactly as it was; the source records the error.
The number of queries does not depend on the number of objects.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Q, Value, When
from django.utils import timezone

from common.identifiers import quoted
from ledger.logger import RunLogger
from ledger.models import Run
from registry import catalog, inference, links, queries
from registry.catalog import CatalogColumn, CatalogObject, CatalogSnapshot
from registry.codescan.sql import ColumnCatalog
from registry.engines import engine_for
from registry.models import (
    CodeUsage,
    Column,
    Dependency,
    RegistryObject,
    SchemaChange,
    Source,
    resolve_code_path,
)
from registry.resolver import Resolver
from registry.signals import source_discovered

logger = logging.getLogger(__name__)

# Columns discovery owns on RegistryObject. Override fields (OVERRIDE_FIELDS) and the
# inferred ones (written by registry.inference) are never in this list.
DISCOVERED_FIELDS = (
    "object_type",
    "is_partition",
    "db_comment",
    "owner",
    "estimated_rows",
    "size_bytes",
    "is_populated",
    "has_unique_index",
    "last_analyze_at",
    "last_vacuum_at",
    "columns_hash",
    "exists_in_db",
)

# What a new object's row says about when it was found.
_NEW_OBJECT_TIMES = ("discovered_at", "last_verified_at", "last_seen_at", "created_at", "updated_at")

Progress = Callable[[str, dict], None]
DISCOVER_PIPELINE = "opshealth.discover"
REGISTRY_NAMESPACE = "opshealth://registry"


@dataclass
class DiscoveryResult:
    source: str
    found: int = 0
    new: int = 0
    changed: int = 0
    gone: int = 0
    columns: int = 0
    schema_changes: int = 0
    edges: int = 0
    edges_added: int = 0
    edges_removed: int = 0
    usages: int = 0
    unresolved: int = 0
    scan_errors: int = 0
    inferred_changed: int = 0
    dry_run: bool = False
    duration_s: float = 0.0
    csv_files: list[str] = field(default_factory=list)
    # Lines the receivers of `source_discovered` returned (the data checks' file loads).
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The numeric counts, e.g. as run-asset metrics."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int) and not isinstance(v, bool)}

    def summary(self) -> str:
        return (
            f"{self.source}: {self.found} objects found, {self.new} new, {self.changed} changed, "
            f"{self.gone} gone; {self.columns} columns, {self.schema_changes} schema changes; "
            f"{self.edges} edges (+{self.edges_added} -{self.edges_removed}); {self.usages} usages, "
            f"{self.unresolved} unresolved"
            + (f"; {self.scan_errors} code scan errors" if self.scan_errors else "")
            + (" (dry run: nothing written)" if self.dry_run else "")
            + "".join(f"\n  {note}" for note in self.notes)
        )


class DiscoveryError(Exception):
    """A discovery that failed; the message is one line: what, where, why."""


def _noop(phase: str, counts: dict) -> None:
    pass


def discover(
    source: Source,
    *,
    code_scan: bool = True,
    dry_run: bool = False,
    csv_dir: Path | None = None,
    progress: Progress = _noop,
    scanner: Callable | None = None,
) -> DiscoveryResult:
    """Discover one source. Raises DiscoveryError (registry unchanged) on failure."""
    started = time.perf_counter()
    phase = "catalog read"
    step = {"name": ""}  # the registry-write step under way, named in an error

    def write_progress(name: str, counts: dict) -> None:
        step["name"] = name
        progress(name, counts)

    try:
        progress(phase, {})
        snapshot = read_source_catalog(source)
        progress(phase, {"objects": len(snapshot.objects)})
        # None: not scanned (--no-code-scan), so the previous scan's usages stay;
        # [] : scanned and nothing found (or no code paths), so the usages go.
        references, scan_errors = (None if not code_scan else []), 0
        if code_scan and source.code_paths:
            phase = "code scan"
            progress(phase, {})
            references, scan_errors = scan_code(source, scanner, snapshot)
            progress(phase, {"references": len(references)})
        phase = "registry write"
        with transaction.atomic():
            result = _Sync(source, snapshot, references, timezone.now(), write_progress).run()
            result.scan_errors = scan_errors
            csv_rows = _csv_rows(source) if csv_dir else None
            if dry_run:
                transaction.set_rollback(True)
    except Exception as exc:
        where = f"{phase} ({step['name']})" if phase == "registry write" and step["name"] else phase
        message = _one_line_error(source, where, exc)
        if not dry_run:
            Source._default_manager.filter(pk=source.pk).update(
                last_discovery_at=timezone.now(), last_discovery_status="failed", last_discovery_error=message
            )
        raise DiscoveryError(message) from exc
    result.dry_run = dry_run
    if not dry_run:
        result.notes = [
            line for _, lines in source_discovered.send(sender=Source, source=source) for line in lines or []
        ]
    if csv_rows is not None:
        result.csv_files = write_csv(csv_dir, csv_rows)
    result.duration_s = round(time.perf_counter() - started, 3)
    progress("done", result.counts())
    return result


def discover_and_record(source: Source, *, triggered_by: str = "cli", **options) -> DiscoveryResult:
    """`discover()` recorded in the run ledger as pipeline `opshealth.discover`, its counts
    as the metrics of one run asset per source. The RunLogger's writes happen outside the
    discovery transaction, so a failed discovery is still recorded as a failed run.
    A dry run writes nothing, to the ledger either."""
    if options.get("dry_run"):
        return discover(source, **options)
    args = {"source": source.name, **{k: str(v) for k, v in options.items() if k in ("code_scan", "csv_dir")}}
    with RunLogger(DISCOVER_PIPELINE, triggered_by=triggered_by, args=args) as run:
        result = discover(source, **options)
        # In OpsHealth's own namespace: a key no resolver maps to a warehouse object.
        run.log_asset(
            source.name,
            namespace=REGISTRY_NAMESPACE,
            kind="dataset",
            rows_inserted=result.new,
            rows_updated=result.changed,
            rows_deleted=result.gone,
            extra=result.counts(),
        )
    return result


@dataclass
class DiscoveryReport:
    results: list[DiscoveryResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.results)} source(s) discovered, {len(self.failures)} failed"


def discover_sources(
    sources: Iterable[Source] | None = None,
    *,
    trigger: str = "cli",
    csv_dir: Path | None = None,
    csv_subdirs: bool = True,
    **options,
) -> DiscoveryReport:
    """Discover each source (default: every active one), one ledger run each; a source
    that fails is reported and does not stop the others. What `manage.py discover` and
    the scheduled job `opshealth.discover` run. With `csv_subdirs`, the CSV artifacts
    of each source go to a subdirectory of `csv_dir` named after it."""
    if sources is None:
        sources = Source._default_manager.filter(is_active=True).order_by("name")
    report = DiscoveryReport()
    for source in sources:
        target = (csv_dir / source.name if csv_subdirs else csv_dir) if csv_dir else None
        try:
            report.results.append(
                discover_and_record(
                    source, triggered_by=Run.triggered_by_for(trigger), csv_dir=target, **options
                )
            )
        except DiscoveryError as exc:
            report.failures.append(str(exc))
    return report


def _one_line_error(source: Source, phase: str, exc: Exception) -> str:
    text = source.safe_message(exc, limit=500)
    return f"discovery of source {source.name!r} failed during {phase}: {type(exc).__name__}: {text}"


# --- reading ------------------------------------------------------------------------


def own_table_names() -> list[str]:
    """OpsHealth's own tables: every installed model's table (django_q's included) and
    Django's migration table."""
    names = {m._meta.db_table for m in apps.get_models(include_auto_created=True)}
    return sorted(names | {"django_migrations"})


def read_source_catalog(source: Source) -> CatalogSnapshot:
    engine = engine_for(source)
    with engine.connect(source.resolved_dsn(), timeout=settings.OPSHEALTH_CONNECT_TIMEOUT_S) as conn:
        # Only a PostgreSQL source can be OpsHealth's own database.
        options = {"exclude_oids": _own_oids_if_same_database(conn)} if engine.name == "postgresql" else {}
        return engine.read_catalog(
            conn,
            include_schemas=source.include_schemas,
            exclude_schemas=source.exclude_schemas,
            statement_timeout_ms=settings.OPSHEALTH_CATALOG_STATEMENT_TIMEOUT_MS,
            **options,
        )


def _own_oids_if_same_database(conn) -> list[int]:
    """When the source is OpsHealth's own database, the OIDs of OpsHealth's tables,
    resolved by OpsHealth's own connection (its search path decides their schema), and
    of the views built on them (the ops_reporting views of the ledger's migrations)."""
    with conn.cursor() as cur:
        theirs = catalog.database_identity(cur)
    conn.rollback()
    with connection.cursor() as cur:
        if catalog.database_identity(cur) != theirs:
            return []
        return catalog.own_relation_oids(cur, own_table_names())


def scan_code(
    source: Source, scanner: Callable | None = None, snapshot: CatalogSnapshot | None = None
) -> tuple[list, int]:
    """The references in the source's code paths, and how many files or paths failed.

    With the catalog just read, the scan knows each object's columns: an unqualified
    column of a statement reading several tables is given to the one that has it.
    """
    if scanner is None:
        from registry.codescan import scan_paths as scanner
    column_catalog = None
    if snapshot is not None:
        column_catalog = ColumnCatalog(
            {
                (obj.schema, obj.name): frozenset(c.name for c in snapshot.columns.get(obj.oid, []))
                for obj in snapshot.objects
            },
            tuple(source.search_path or snapshot.search_path),
        )
    paths = [Path(p) if Path(p).is_absolute() else Path(settings.BASE_DIR) / p for p in source.code_paths]
    # Saved under the code roots, but a symlink on the way may have been re-pointed since.
    outside = [p for p in paths if resolve_code_path(str(p)) is None]
    for path in outside:
        logger.warning("code path %s of source %s is outside the code roots: not scanned", path, source.name)
    paths = [p for p in paths if p not in outside]
    # A code path that is not there (not deployed here) is an error of the scan, not
    # of the discovery: the catalog part is still worth writing.
    missing = [p for p in paths if not p.is_dir()]
    result = scanner(
        [p for p in paths if p.is_dir()], dialect=engine_for(source).dialect, catalog=column_catalog
    )
    return list(result.references), len(result.errors) + len(missing) + len(outside)


# --- writing ------------------------------------------------------------------------


def columns_hash(columns: Iterable[CatalogColumn]) -> str:
    payload = [
        [c.name, c.position, c.data_type, c.is_nullable, c.is_primary_key, c.fk_target] for c in columns
    ]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def _discovered_values(obj: CatalogObject, cols_hash: str) -> dict:
    return {
        "object_type": obj.object_type,
        "is_partition": obj.is_partition,
        "db_comment": obj.comment,
        "owner": obj.owner,
        "estimated_rows": obj.estimated_rows,
        "size_bytes": obj.size_bytes,
        "is_populated": obj.is_populated,
        "has_unique_index": obj.has_unique_index,
        "last_analyze_at": obj.last_analyze_at,
        "last_vacuum_at": obj.last_vacuum_at,
        "columns_hash": cols_hash,
        "exists_in_db": True,
    }


class _Sync:
    """One discovery's writes; every method is a constant number of queries."""

    def __init__(
        self, source, snapshot: CatalogSnapshot, references: list | None, now: datetime, progress: Progress
    ):
        self.source = source
        self.snapshot = snapshot
        self.references = references
        self.now = now
        self.progress = progress
        self.result = DiscoveryResult(source=source.name, found=len(snapshot.objects))
        self.by_oid = {obj.oid: obj for obj in snapshot.objects}
        self.hashes = {obj.oid: columns_hash(snapshot.columns.get(obj.oid, [])) for obj in snapshot.objects}
        self.ids: dict[tuple[str, str], int] = {}  # (schema, name) → id, every object of the source

    def run(self) -> DiscoveryResult:
        # Serializes concurrent discoveries of one source.
        Source._default_manager.select_for_update().filter(pk=self.source.pk).first()
        # Only what the diff compares: loading whole rows (seven timestamps, JSON) costs
        # more than the comparison itself on a repeat discovery.
        # Named tuples: cheaper to build than model instances, and all the diff reads.
        rows = RegistryObject.objects.filter(source=self.source).values_list(
            "id", "schema_name", "object_name", "partition_of_id", *DISCOVERED_FIELDS, named=True
        )
        existing = {(o.schema_name, o.object_name): o for o in rows}
        self.ids = {key: o.id for key, o in existing.items()}
        self.progress("objects", {"found": self.result.found})
        changed_columns = self.sync_objects(existing)
        self.progress(
            "columns", {"new": self.result.new, "changed": self.result.changed, "gone": self.result.gone}
        )
        self.sync_columns(existing, changed_columns)
        self.progress("dependencies", {"columns": self.result.columns})
        self.sync_dependencies()
        self.progress("code usages", {"edges": self.result.edges})
        self.sync_usages()
        self.progress("inference", {"usages": self.result.usages, "unresolved": self.result.unresolved})
        self.result.inferred_changed = inference.infer(self.source)
        self.progress("asset links", {"inferred changed": self.result.inferred_changed})
        links.refresh_asset_links()
        self.source.discovered_search_path = self.snapshot.search_path
        self.source.server_version = self.snapshot.server_version[:100]
        self.source.last_discovery_at = self.now
        self.source.last_discovery_status = "ok"
        self.source.last_discovery_error = ""
        self.source.save(
            update_fields=[
                "discovered_search_path",
                "server_version",
                "last_discovery_at",
                "last_discovery_status",
                "last_discovery_error",
                "updated_at",
            ]
        )
        return self.result

    def sync_objects(self, existing: dict[tuple[str, str], Any]) -> list[tuple[int, int | None]]:
        """Insert new objects (one COPY), update changed ones, flag vanished ones, stamp
        every one.

        Returns (catalog oid, previous id or None) of the objects whose columns changed.
        """
        new, changed, changed_columns = [], [], []
        for obj in self.snapshot.objects:
            values = _discovered_values(obj, self.hashes[obj.oid])
            known = existing.get((obj.schema, obj.name))
            if known is None:
                new.append((obj.schema, obj.name, *(values[f] for f in DISCOVERED_FIELDS)))
                changed_columns.append((obj.oid, None))
                continue
            if known.columns_hash != values["columns_hash"]:
                changed_columns.append((obj.oid, known.id))
            if any(getattr(known, k) != v for k, v in values.items()):
                # Only DISCOVERED_FIELDS and updated_at: overrides and first-seen times stay.
                changed.append((known.id, *(values[f] for f in DISCOVERED_FIELDS), self.now))
        self.result.new, self.result.changed = len(new), len(changed)
        table = RegistryObject._meta.db_table
        if new:
            stamps = {"source_id": self.source.pk, **dict.fromkeys(_NEW_OBJECT_TIMES, self.now)}
            given = ["schema_name", "object_name", *DISCOVERED_FIELDS]
            fixed = {**queries.model_defaults(RegistryObject, [*given, *stamps]), **stamps}
            queries.copy_rows(table, [*given, *fixed], [(*row, *fixed.values()) for row in new])
            self.ids = dict(
                ((schema, name), pk)
                for schema, name, pk in RegistryObject.objects.filter(source=self.source).values_list(
                    "schema_name", "object_name", "id"
                )
            )
        queries.update_rows(table, [*DISCOVERED_FIELDS, "updated_at"], changed)
        present = {(o.schema, o.name) for o in self.snapshot.objects}
        gone = [o.id for key, o in existing.items() if key not in present and o.exists_in_db]
        self.result.gone = len(gone)
        if gone:
            RegistryObject.objects.filter(id__any=gone).update(exists_in_db=False, updated_at=self.now)
        self._link_partitions(existing)
        # Every run: verified now; seen now when present; discovered_at set once. The
        # rows inserted above carry these already.
        RegistryObject.objects.filter(source=self.source).exclude(last_verified_at=self.now).update(
            last_verified_at=Value(self.now),
            last_seen_at=Case(When(exists_in_db=True, then=Value(self.now)), default=F("last_seen_at")),
            discovered_at=Case(
                When(Q(exists_in_db=True, discovered_at__isnull=True), then=Value(self.now)),
                default=F("discovered_at"),
            ),
        )
        return changed_columns

    def _link_partitions(self, existing: dict[tuple[str, str], Any]) -> None:
        updates = []
        for obj in self.snapshot.objects:
            parent_id = self.ids.get((obj.parent_schema, obj.parent_name)) if obj.is_partition else None
            known = existing.get((obj.schema, obj.name))
            if known is not None and known.partition_of_id == parent_id:
                continue
            if known is None and parent_id is None:
                continue
            updates.append((self.ids[(obj.schema, obj.name)], parent_id))
        queries.update_rows(RegistryObject._meta.db_table, ["partition_of_id"], updates)

    def sync_columns(self, existing, changed: list[tuple[int, int | None]]) -> None:
        """Rewrite the columns of objects whose column hash changed; record schema
        changes for objects that had columns before."""
        self.result.columns = sum(len(cols) for cols in self.snapshot.columns.values())
        if not changed:
            return
        old_ids = [old for _, old in changed if old is not None]
        old_columns: dict[int, dict[str, str]] = {}
        for object_id, name, data_type in Column.objects.filter(object_id__any=old_ids).values_list(
            "object_id", "name", "data_type"
        ):
            old_columns.setdefault(object_id, {})[name] = data_type
        changes, new_columns = [], []
        for oid, old_id in changed:
            obj = self.by_oid[oid]
            object_id = self.ids[(obj.schema, obj.name)]
            cols = self.snapshot.columns.get(oid, [])
            if old_id is not None and old_id in old_columns:
                changes.extend(self._schema_changes(object_id, old_columns[old_id], cols))
            new_columns.extend(
                (object_id, c.name, c.position, c.data_type, c.is_nullable, c.is_primary_key, c.fk_target)
                for c in cols
            )
        if old_ids:
            Column.objects.filter(object_id__any=old_ids).delete()
        queries.copy_rows(
            Column._meta.db_table,
            ["object_id", "name", "position", "data_type", "is_nullable", "is_primary_key", "fk_target"],
            new_columns,
        )
        SchemaChange.objects.bulk_create(changes, batch_size=queries.BATCH_ROWS)
        self.result.schema_changes = len(changes)

    def _schema_changes(self, object_id: int, old: dict[str, str], cols: list[CatalogColumn]) -> list:
        new = {c.name: c.data_type for c in cols}
        rows = [
            SchemaChange(object_id=object_id, change="added", column_name=n, new_type=t, detected_at=self.now)
            for n, t in new.items()
            if n not in old
        ]
        rows += [
            SchemaChange(
                object_id=object_id, change="removed", column_name=n, old_type=t, detected_at=self.now
            )
            for n, t in old.items()
            if n not in new
        ]
        rows += [
            SchemaChange(
                object_id=object_id,
                change="type_changed",
                column_name=n,
                old_type=old[n],
                new_type=t,
                detected_at=self.now,
            )
            for n, t in new.items()
            if n in old and old[n] != t
        ]
        return rows

    def sync_dependencies(self) -> None:
        wanted: dict[tuple[int, int], str] = {}
        for dep in self.snapshot.dependencies:
            up, down = self.by_oid[dep.upstream_oid], self.by_oid[dep.downstream_oid]
            wanted[(self.ids[(up.schema, up.name)], self.ids[(down.schema, down.name)])] = dep.provenance
        known = {
            (up, down): (pk, provenance)
            for pk, up, down, provenance in Dependency.objects.filter(source=self.source).values_list(
                "id", "upstream_id", "downstream_id", "provenance"
            )
        }
        removed = [pk for pair, (pk, _) in known.items() if pair not in wanted]
        added = sorted(wanted.keys() - known.keys())
        # An edge parsed before may be recorded by the server now (an upgrade), or back.
        reprovenanced = [
            (pk, wanted[pair]) for pair, (pk, old) in known.items() if pair in wanted and wanted[pair] != old
        ]
        if removed:
            Dependency.objects.filter(id__any=removed).delete()
        queries.copy_rows(
            Dependency._meta.db_table,
            ["source_id", "upstream_id", "downstream_id", "dependency_type", "provenance", "discovered_at"],
            [(self.source.pk, u, d, "normal", wanted[(u, d)], self.now) for u, d in added],
        )
        queries.update_rows(Dependency._meta.db_table, ["provenance"], reprovenanced)
        self.result.edges, self.result.edges_added, self.result.edges_removed = (
            len(wanted),
            len(added),
            len(removed),
        )

    def sync_usages(self) -> None:
        """Diff the source's code usages against the scan: insert new, delete gone.
        Without a scan (`code_scan=False`) the previous scan's usages stay, evidence
        for inference as they were."""
        self.source.discovered_search_path = self.snapshot.search_path
        if self.references is None:
            counts = CodeUsage.objects.filter(source=self.source).aggregate(
                n=Count("id"), unresolved=Count("id", filter=Q(object__isnull=True))
            )
            self.result.usages, self.result.unresolved = counts["n"], counts["unresolved"]
            return
        index = [(pk, schema, name) for (schema, name), pk in self.ids.items()]
        resolver = Resolver(self.source, objects=index)
        wanted: dict[tuple, CodeUsage] = {}
        for ref in self.references:
            usage = self._usage(resolver, ref)
            wanted.setdefault(_usage_key(usage), usage)
        known = {
            _hashable(row[1:]): row[0]
            for row in CodeUsage.objects.filter(source=self.source).values_list("id", *_USAGE_KEY_FIELDS)
        }
        removed = [pk for key, pk in known.items() if key not in wanted]
        added = [usage for key, usage in wanted.items() if key not in known]
        if removed:
            CodeUsage.objects.filter(id__any=removed).delete()
        CodeUsage.objects.bulk_create(added, batch_size=queries.BATCH_ROWS)
        self.result.usages = len(wanted)
        self.result.unresolved = sum(1 for u in wanted.values() if u.object_id is None)

    def _usage(self, resolver: Resolver, ref) -> CodeUsage:
        res = None
        if ref.resolvable:
            res = resolver.resolve(ref.raw_name, search_path=ref.search_path)
            if not res.resolved and ref.name:
                qualified = quoted(ref.schema, ref.name) if ref.schema else quoted(ref.name)
                retry = resolver.resolve(qualified, search_path=ref.search_path)
                res = retry if retry.resolved else res
        # Cut to the column sizes: one odd name in someone's code must not fail discovery.
        return CodeUsage(
            source=self.source,
            object_id=res.object_id if res else None,
            raw_name=ref.raw_name[:500],
            schema_name=((res.schema_name if res and res.schema_name else ref.schema) or "")[:200],
            object_name=((res.object_name if res and res.object_name else ref.name) or "")[:200],
            resolvable=ref.resolvable,
            resolver_rule=(res.rule if res else "")[:200],
            code_path=str(ref.code_path)[:500],
            file=ref.file[:500],
            line=ref.line,
            kind=ref.kind,
            context=ref.context,
            route=(ref.route or "")[:300],
            function=(ref.function or "")[:300],
            columns=sorted({c[:200] for c in ref.columns}),
            evidence=ref.evidence[:2000],
            discovered_at=self.now,
        )


_USAGE_KEY_FIELDS = (
    "object_id",
    "raw_name",
    "schema_name",
    "object_name",
    "resolvable",
    "resolver_rule",
    "code_path",
    "file",
    "line",
    "kind",
    "context",
    "route",
    "function",
    "columns",
    "evidence",
)


def _usage_key(usage: CodeUsage) -> tuple:
    return _hashable(tuple(getattr(usage, f) for f in _USAGE_KEY_FIELDS))


def _hashable(key: tuple) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in key)


# --- CSV artifacts -------------------------------------------------------------------
# Headers exactly as issue 2 section 4 states (extra columns follow); rows in a stable
# order so the files diff well in git.

CSV_HEADERS = {
    "discovery_objects.csv": [
        "source", "schema_name", "object_name", "object_type", "is_partition", "partition_of",
        "estimated_rows", "size_mb", "last_analyze", "is_populated",
        "layer", "role", "criticality", "should_monitor",
    ],
    "discovery_dependencies.csv": [
        "source", "upstream_schema", "upstream_name", "upstream_type",
        "downstream_schema", "downstream_name", "downstream_type", "dependency_type", "provenance",
    ],
    "discovery_usage_backend.csv": [
        "source", "schema_name", "object_name", "object_type", "usage_context", "usage_locations",
        "discovered_at",
    ],
    "discovery_unresolved.csv": [
        "source", "raw_name", "schema_name", "object_name", "resolvable", "usage_context", "usage_locations",
    ],
}  # fmt: skip


def _csv_bool(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


def _csv_time(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _context_of(locations: list[dict]) -> str:
    contexts = {loc["context"] for loc in locations}
    return "both" if len(contexts) > 1 else next(iter(contexts), "")


def _location(usage: CodeUsage) -> dict:
    return {
        "file": usage.file,
        "line": usage.line,
        "kind": usage.kind,
        "context": usage.context,
        "route": usage.route or None,
    }


def _locations_json(locations: list[dict]) -> str:
    ordered = sorted(
        locations, key=lambda d: (d["file"], d["line"], d["kind"], d["context"], d["route"] or "")
    )
    return json.dumps(ordered, separators=(",", ":"))


def _csv_rows(source: Source) -> dict[str, list[list]]:
    """The artifacts' rows, read back from the registry (three queries)."""
    name = source.name
    objects = (
        RegistryObject.objects.filter(source=source, exists_in_db=True)
        .select_related("partition_of")
        .order_by("schema_name", "object_name")
    )
    object_rows = [
        [
            name, o.schema_name, o.object_name, o.object_type, _csv_bool(o.is_partition),
            o.partition_of.qualified_name if o.partition_of else "",
            "" if o.estimated_rows is None else o.estimated_rows,
            "" if o.size_bytes is None else round(o.size_bytes / 1048576, 3),
            _csv_time(o.last_analyze_at), _csv_bool(o.is_populated),
            o.layer, o.role, o.criticality, _csv_bool(o.should_monitor),
        ]
        for o in objects
    ]  # fmt: skip
    deps = Dependency.objects.filter(source=source).select_related("upstream", "downstream")
    dep_rows = sorted(
        [name, d.upstream.schema_name, d.upstream.object_name, d.upstream.object_type,
         d.downstream.schema_name, d.downstream.object_name, d.downstream.object_type, d.dependency_type,
         d.provenance]
        for d in deps
    )  # fmt: skip
    used: dict[int, tuple[RegistryObject, list]] = {}
    unresolved: dict[tuple, list] = {}
    for u in CodeUsage.objects.filter(source=source).select_related("object"):
        if u.object is not None:
            used.setdefault(u.object_id, (u.object, []))[1].append(_location(u))
        else:
            key = (u.raw_name, u.schema_name, u.object_name, u.resolvable)
            unresolved.setdefault(key, []).append(_location(u))
    usage_rows = sorted(
        [name, o.schema_name, o.object_name, o.object_type, _context_of(locs), _locations_json(locs),
         _csv_time(o.discovered_at)]
        for o, locs in used.values()
    )  # fmt: skip
    unresolved_rows = sorted(
        [name, raw, schema, obj, _csv_bool(resolvable), _context_of(locs), _locations_json(locs)]
        for (raw, schema, obj, resolvable), locs in unresolved.items()
    )  # fmt: skip
    return {
        "discovery_objects.csv": object_rows,
        "discovery_dependencies.csv": dep_rows,
        "discovery_usage_backend.csv": usage_rows,
        "discovery_unresolved.csv": unresolved_rows,
    }


def write_csv(csv_dir: Path, rows: dict[str, list[list]]) -> list[str]:
    csv_dir = Path(csv_dir)
    csv_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, header in CSV_HEADERS.items():
        path = csv_dir / filename
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows[filename])
        written.append(str(path))
    return written
