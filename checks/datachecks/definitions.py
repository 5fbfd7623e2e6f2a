"""Data checks as code: `opshealth.yml` in the team's repository.

    source: demo                 # optional: the source of the objects named below
    checks:
      - name: candles_unique_symbol_date
        object: raw.candles
        kind: unique
        columns: [symbol, day]   # every other key is a parameter of the kind
        severity: error          # optional: error (default) | warn | info
        where: "day >= '2024-01-01'"   # optional
        schedule: "0 * * * *"    # optional cron, default hourly
        enabled: true            # optional
        samples: true            # optional: keep failing rows

`load_file(path)` is idempotent: a check is known by (object, name); it is created,
updated when its definition changed, or left alone. With `prune`, the checks this file
defined before and defines no more are deleted. A file with any invalid entry changes
nothing: every problem is reported at once (file, entry, name, field). Each load, good
or bad, is recorded as the file's `DefinitionFile` row.

`discover` loads the `opshealth.yml` at the root of each of a source's code paths (and
prunes: the file is the truth), through the registry's `source_discovered` signal; what
each load did, or why it failed, is a line of discover's output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver

from checks.datachecks.models import HOURLY, DataCheck, DefinitionFile, default_name, find_object
from registry.signals import source_discovered

logger = logging.getLogger(__name__)
FILE_NAME = "opshealth.yml"
FIELDS = ("name", "object", "kind", "severity", "where", "schedule", "enabled", "samples")
COMPARED = ("kind", "params", "severity", "where", "schedule", "enabled", "samples")


class DefinitionError(Exception):
    """A file that cannot be loaded; the message lists every problem, one per line."""


@dataclass
class LoadResult:
    path: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    # Defined by this file before, absent now, kept (no prune).
    stale: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(getattr(self, k))} {k}" for k in ("created", "updated", "unchanged", "pruned")]
        text = f"{self.path}: " + ", ".join(parts)
        if self.stale:
            text += (
                f"; {len(self.stale)} no longer in the file (--prune deletes them): {', '.join(self.stale)}"
            )
        return text


def stored_path(path: Path) -> str:
    """How a file is recorded on its checks: relative to the project when inside it, so
    `discover` and `data_checks load` name the same file alike."""
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(resolved)


def _entries(path: Path) -> tuple[str | None, list]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise DefinitionError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DefinitionError(f"{path}:{where} not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("checks"), list):
        raise DefinitionError(f"{path}: expected a mapping with a `checks:` list")
    unknown = sorted(set(document) - {"source", "checks"})
    if unknown:
        raise DefinitionError(f"{path}: unknown top-level key(s): {', '.join(unknown)}")
    return document.get("source"), document["checks"]


def _candidate(entry: dict, source: str | None, known: dict, file_path: str) -> DataCheck:
    """The check an entry defines, unsaved, validated; ValidationError with field messages."""
    if not isinstance(entry.get("object"), str):
        raise ValidationError({"object": "schema.name of a registry object is required."})
    obj = find_object(entry["object"], entry.get("source") or source)
    params = {k: v for k, v in entry.items() if k not in (*FIELDS, "source")}
    name = entry.get("name") or default_name(str(entry.get("kind", "")), params)
    check = known.get((obj.pk, name)) or DataCheck(object=obj, name=name)
    if check.pk and not (check.is_from_file and check.file_path == file_path):
        where = f"in {check.file_path}" if check.is_from_file else f"in the API (id {check.pk})"
        raise ValidationError({"name": f"{obj}: a check {name!r} is already defined {where}."})
    check.kind = entry.get("kind")
    check.params = params
    check.severity = entry.get("severity", "error")
    check.where = entry.get("where") or ""
    check.schedule = entry.get("schedule", HOURLY)
    check.enabled = entry.get("enabled", True)
    check.samples = entry.get("samples", True)
    check.origin, check.file_path = DataCheck.ORIGIN_FILE, file_path
    for flag in ("enabled", "samples"):
        if not isinstance(getattr(check, flag), bool):
            raise ValidationError({flag: "true or false."})
    if check.severity not in dict(DataCheck.SEVERITIES):
        raise ValidationError({"severity": "error, warn or info."})
    check.clean()
    return check


def load_file(path: Path | str, *, source: str | None = None, prune: bool = False) -> LoadResult:
    """Load one file's checks (see the module docstring) and record the load. Raises
    DefinitionError."""
    path = Path(path)
    file_path = stored_path(path)
    try:
        result = _load(path, file_path, source, prune)
    except DefinitionError as exc:
        DefinitionFile.record(file_path, source, DefinitionFile.FAILED, str(exc))
        raise
    DefinitionFile.record(file_path, source, DefinitionFile.LOADED, result.summary())
    return result


def _load(path: Path, file_path: str, source: str | None, prune: bool) -> LoadResult:
    file_source, entries = _entries(path)
    source = source or file_source
    known = {(c.object_id, c.name): c for c in DataCheck.objects.select_related("object")}
    # What this file's checks are now, before the entries below change them in place.
    before = {
        c.pk: {f: getattr(c, f) for f in COMPARED}
        for c in known.values()
        if c.is_from_file and c.file_path == file_path
    }
    problems, checks, seen = [], [], set()
    for number, entry in enumerate(entries, start=1):
        label = f"{path}: check {number}" + (
            f" ({entry.get('name')})" if isinstance(entry, dict) and entry.get("name") else ""
        )
        if not isinstance(entry, dict):
            problems.append(f"{label}: expected a mapping")
            continue
        try:
            check = _candidate(entry, source, known, file_path)
        except ValidationError as exc:
            details = exc.message_dict.items() if hasattr(exc, "error_dict") else [("object", exc.messages)]
            problems += [f"{label}: {key}: {'; '.join(messages)}" for key, messages in details]
            continue
        if (check.object_id, check.name) in seen:
            problems.append(f"{label}: {check.object}: the name {check.name!r} is used twice in the file")
            continue
        seen.add((check.object_id, check.name))
        checks.append(check)
    if problems:
        raise DefinitionError("\n".join(problems))
    result = LoadResult(file_path)
    with transaction.atomic():
        for check in checks:
            label = f"{check.object}.{check.name}"
            if check.pk is None:
                check.save()
                result.created.append(label)
            elif any(before[check.pk][f] != getattr(check, f) for f in COMPARED):
                check.save()
                result.updated.append(label)
            else:
                result.unchanged.append(label)
        kept = {c.pk for c in checks}
        gone = [c for c in known.values() if c.pk in before and c.pk not in kept]
        if prune and gone:
            DataCheck.objects.filter(pk__any=[c.pk for c in gone]).delete()
        (result.pruned if prune else result.stale).extend(f"{c.object}.{c.name}" for c in gone)
    return result


def code_path_files(source) -> list[Path]:
    """The `opshealth.yml` at the root of each of the source's code paths that has one."""
    roots = [Path(settings.BASE_DIR) / p for p in source.code_paths]
    return [root / FILE_NAME for root in roots if (root / FILE_NAME).is_file()]


@receiver(source_discovered, dispatch_uid="checks.datachecks.load_code_path_files")
def _on_source_discovered(sender, source, **kwargs) -> list[str]:
    """A discovery committed: load the source's `opshealth.yml` files. A bad file never
    fails the discovery; its problems are lines of the discovery's summary (and stay on
    its DefinitionFile row)."""
    lines = []
    for path in code_path_files(source):
        try:
            result = load_file(path, source=source.name, prune=True)
        except DefinitionError as exc:
            logger.warning("data checks of %s not loaded:\n%s", path, exc)
            problems = str(exc).splitlines()
            lines.append(f"data checks of {stored_path(path)} NOT loaded ({len(problems)} problem(s)):")
            lines += [f"  {problem}" for problem in problems]
            continue
        lines.append(f"data checks {result.summary()}")
    return lines
