"""Data checks: declarative checks on registry objects that OpsHealth itself runs.

A `DataCheck` names a registry object, a kind (`checks.datachecks.kinds.KINDS`) and the
kind's parameters. Its results are ledger `CheckResult`s of the pipeline
`opshealth.data_checks` (asset key `schema.object`, check name `<source>/<name>`: two
sources may both have a `raw.candles` with a check of the same name), so
`data_check_failed`, alert rules and the dashboard read them like any posted result;
`last_result` points at the newest one.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from checks.datachecks.kinds import KINDS
from common.identifiers import split_identifier
from ledger.keys import normalize_asset_key, quote_part
from ledger.models import CheckResult
from registry.models import RegistryObject

PIPELINE = "opshealth.data_checks"
HOURLY = "0 * * * *"
LEDGER_NAME_LENGTH = CheckResult._meta.get_field("check_name").max_length
# A default name fits in the ledger's check name whatever the source's (100 at most).
DEFAULT_NAME_LENGTH = LEDGER_NAME_LENGTH - 101


def default_name(kind: str, params: dict) -> str:
    """`unique_symbol_day`, `not_null_close`…: the kind and the columns it names."""
    columns = params.get("columns") or [params.get("column") or params.get("date_column") or ""]
    if not isinstance(columns, list):
        columns = [columns]
    words = [kind, *(str(c) for c in columns if c)]
    return re.sub(r"[^a-z0-9_]+", "_", "_".join(words).lower()).strip("_")[:DEFAULT_NAME_LENGTH]


def find_object(name: str, source: str | None) -> RegistryObject:
    """The registry object named `schema.name` (of `source`, when given); a message per
    way it can fail, for the API and the YAML loader alike."""
    parts = split_identifier(name, strict=False)
    if len(parts) != 2 or not all(parts):
        raise ValidationError(f"{name!r}: name the object as schema.name.")
    found = RegistryObject.objects.filter(schema_name=parts[0], object_name=parts[1]).select_related("source")
    if source:
        found = found.filter(source__name=source)
    found = list(found[:2])
    of = f" of source {source}" if source else ""
    if not found:
        raise ValidationError(f"{name!r}: no such object in the registry{of} (run discover first?).")
    if len(found) > 1:
        raise ValidationError(f"{name!r} is in several sources: say which with `source`.")
    return found[0]


def trend_start(days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC of the first of the last `days` days."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)


class DataCheckQuerySet(models.QuerySet):
    def due(self, now: datetime) -> DataCheckQuerySet:
        """Enabled checks whose next run time has come (a new check is due at once)."""
        return self.filter(enabled=True).filter(
            models.Q(next_run_at__isnull=True) | models.Q(next_run_at__lte=now)
        )

    def with_latest(self) -> DataCheckQuerySet:
        return self.select_related("object__source", "last_result")


class DataCheck(models.Model):
    ORIGIN_API, ORIGIN_FILE = "api", "file"
    ORIGINS = [(ORIGIN_API, "API or admin"), (ORIGIN_FILE, "file (opshealth.yml)")]
    SEVERITIES = CheckResult.SEVERITIES

    object = models.ForeignKey(RegistryObject, on_delete=models.CASCADE, related_name="data_checks")
    # Unique per object; the ledger's check name of its results is `ledger_name`.
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=[(k, k) for k in KINDS])
    params = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=5, choices=SEVERITIES, default="error")
    where = models.TextField(blank=True, help_text="SQL condition restricting the rows checked")
    schedule = models.CharField(max_length=100, default=HOURLY, help_text="cron expression (UTC)")
    enabled = models.BooleanField(default=True)
    samples = models.BooleanField(
        default=True, help_text="keep up to 5 failing rows (off for sensitive tables)"
    )
    origin = models.CharField(max_length=4, choices=ORIGINS, default=ORIGIN_API)
    file_path = models.CharField(max_length=500, blank=True)
    # A hash of what the check is (object, kind, params, severity, where): every result
    # carries the hash of the definition it ran, so history stays honest after an edit.
    definition_hash = models.CharField(max_length=64, editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_result = models.ForeignKey(
        CheckResult, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DataCheckQuerySet.as_manager()

    class Meta:
        ordering = ["object", "name"]
        constraints = [models.UniqueConstraint(fields=["object", "name"], name="datacheck_object_name_uniq")]
        # run_due: enabled checks by next run time
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="datacheck_due")]

    def __str__(self) -> str:
        return f"{self.name} on {self.object}"

    def save(self, *args, **kwargs) -> None:
        self.definition_hash = self.compute_definition_hash()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "definition_hash"}
        super().save(*args, **kwargs)

    @property
    def asset_key(self) -> str:
        """The ledger key of the results: `schema.object`, quoted where PostgreSQL needs it."""
        return f"{quote_part(self.object.schema_name)}.{quote_part(self.object.object_name)}"

    @property
    def ledger_name(self) -> str:
        """The check name of its results in the ledger, qualified by the source: the
        asset key alone does not tell two sources' `raw.candles` apart."""
        return f"{self.object.source.name}/{self.name}"

    @property
    def kind_class(self):
        return KINDS[self.kind]

    @property
    def status(self) -> str | None:
        return self.last_result.status if self.last_result else None

    @property
    def is_from_file(self) -> bool:
        return self.origin == self.ORIGIN_FILE

    def compute_definition_hash(self) -> str:
        definition = {
            "object": [self.object.source_id, self.object.schema_name, self.object.object_name],
            "kind": self.kind,
            "params": self.params,
            "severity": self.severity,
            "where": self.where.strip(),
        }
        return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()

    def results(self) -> models.QuerySet:
        """This check's results in the ledger (served by ledger_check_latest: key, name,
        time); the id in the metrics tells them apart from the results of a check that
        had this name before a rename."""
        return CheckResult.objects.filter(
            normalized_key=normalize_asset_key(self.asset_key),
            check_name=self.ledger_name,
            metrics__data_check_id=self.pk,
        )

    def trend(self, *, days: int, now: datetime | None = None) -> list[dict]:
        """Pass rate per day (UTC) over the last `days` days, days without results left out."""
        from checks.datachecks.queries import daily_results  # queries imports this module

        return daily_results([self.pk], trend_start(days, now)).get(self.pk, [])

    def next_run_after(self, moment: datetime) -> datetime:
        return croniter(self.schedule, moment).get_next(datetime)

    def clean(self) -> None:
        """Field messages for the admin, the API and the YAML loader alike."""
        errors: dict[str, str] = {}
        if self.kind not in KINDS:
            errors["kind"] = f"Unknown kind {self.kind!r}; one of: {', '.join(sorted(KINDS))}."
        else:
            try:
                self.params = KINDS[self.kind].clean_params(self.params, check=self)
            except ValidationError as exc:
                errors["params"] = "; ".join(exc.messages)
        if self.object_id and len(self.ledger_name) > LEDGER_NAME_LENGTH:
            errors["name"] = (
                f"At most {LEDGER_NAME_LENGTH - len(self.object.source.name) - 1} characters on source"
                f" {self.object.source.name}: its results are named {self.object.source.name}/<name>."
            )
        if not croniter.is_valid(self.schedule or ""):
            errors["schedule"] = f"{self.schedule!r} is not a cron expression such as '0 * * * *'."
        if ";" in self.where:
            errors["where"] = "A where filter is one SQL condition, without ';'."
        if errors:
            raise ValidationError(errors)


class DefinitionFile(models.Model):
    """The last load of one `opshealth.yml`: what it did, or every problem that kept it
    from loading. `discover` loads files without failing on a bad one; this row is where
    its errors stay visible afterwards (the admin, the dashboard's data-checks tab)."""

    LOADED, FAILED = "loaded", "failed"
    STATUSES = [(LOADED, LOADED), (FAILED, FAILED)]

    path = models.CharField(max_length=500, unique=True, help_text="as stored on its checks")
    source_name = models.CharField(max_length=100, blank=True, help_text="the source it was loaded for")
    status = models.CharField(max_length=6, choices=STATUSES)
    # The load's summary, or its problems, one per line.
    detail = models.TextField(blank=True)
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return f"{self.path}: {self.status}"

    @classmethod
    def record(cls, path: str, source_name: str | None, status: str, detail: str) -> None:
        cls.objects.update_or_create(
            path=path,
            defaults={
                "source_name": source_name or "",
                "status": status,
                "detail": detail,
                "loaded_at": timezone.now(),
            },
        )
