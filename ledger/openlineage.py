"""OpenLineage `RunEvent`s → the ledger (spec section 5, "OpenLineage").

Mapping: job (namespace, name) → pipeline; run.runId → run (`external_run_id`, a
non-UUID id is accepted and flagged); eventType → status (START started, RUNNING
running, COMPLETE success, FAIL failed, ABORT aborted, OTHER or absent: no state
change); outputs → run assets (`outputStatistics` rowCount → rows_inserted, size →
bytes_written; status from the event: COMPLETE success, FAIL failed, ABORT skipped,
unknown before; a terminal event's outputs end at its eventTime); inputs → run assets with direction=input (status skipped: read, not
written); `dataQualityAssertions` and `dataQualityMetrics` under a dataset's
`inputFacets` *and* `facets` (deduplicated) → check results on that dataset; the run
`test` facet → check results on the event's only output (else on the job); `parent`
→ parent run (a placeholder run is created when unknown); `errorMessage` → error
fields; `nominalTime` → nominal_time. Dataset keys are normalized with
`ledger.keys.normalize_asset_key(name, namespace)`.

Every raw event is stored once in `LineageEvent` (sha256 of its canonical JSON): a
replay is a no-op. Only new events are applied, through the common state machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection, transaction

from ledger import bounds, ingest
from ledger.keys import normalize_asset_key
from ledger.models import CheckResult, LineageEvent, Run

STATUS = {
    "START": Run.STARTED,
    "RUNNING": Run.RUNNING,
    "COMPLETE": Run.SUCCESS,
    "FAIL": Run.FAILED,
    "ABORT": Run.ABORTED,
    "OTHER": Run.OTHER,
}
OUTPUT_STATUS = {Run.SUCCESS: "success", Run.FAILED: "failed", Run.ABORTED: "skipped"}
MAX_KEY = 500  # RunAsset/CheckResult.normalized_key
SEVERITIES = {"error": "error", "warn": "warn", "warning": "warn", "info": "info"}
TEST_STATUSES = {"pass", "fail", "skip"}
# Digits (line numbers, addresses) are dropped before hashing a stack trace.
_DIGITS = re.compile(r"\d+")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b)", re.M)


class SpecViolation(Exception):
    """The event is JSON but not a valid OpenLineage RunEvent: `errors` maps fields."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class Accepted:
    status: str  # created | duplicate
    run: Run | None


@dataclass(frozen=True)
class Checked:
    """A payload that `validate` passed, with what it computed on the way: the event
    time, and the payload's canonical JSON (sorted keys) with its sha256, the event's
    identity. The canonical text is also the stored copy: jsonb keeps no key order."""

    payload: dict
    event_time: datetime
    canonical: str
    content_hash: str


def parse_time(value, field: str, errors: dict) -> datetime | None:
    if not isinstance(value, str) or not value:
        errors.setdefault(field, []).append("A timestamp string (ISO-8601) is required.")
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.setdefault(field, []).append(f"Not an ISO-8601 timestamp: {value[:60]!r}.")
        return None
    # A timestamp without an offset is read as UTC rather than refused.
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    problem = bounds.time_problem(parsed)
    if problem:
        errors.setdefault(field, []).append(problem)
        return None
    return parsed


def _str(obj: dict, key: str, field: str, errors: dict, max_length: int = 300) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value.strip():
        errors.setdefault(field, []).append("This field is required (a non-empty string).")
        return ""
    if len(value) > max_length:
        errors.setdefault(field, []).append(f"At most {max_length} characters.")
    return value


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def validate(payload) -> Checked:
    """Check the fields OpsHealth relies on; raise SpecViolation listing every problem."""
    errors: dict[str, list[str]] = {}
    if not isinstance(payload, dict):
        raise SpecViolation({"non_field_errors": ["An OpenLineage RunEvent must be a JSON object."]})
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        digest = hashlib.sha256(canonical.encode()).hexdigest()
    except UnicodeEncodeError:  # a lone surrogate (see `ledger.bounds`): where is it?
        digest = ""
        errors[bounds.surrogate_path(payload) or "non_field_errors"] = [bounds.SURROGATE_MESSAGE]
    event_time = parse_time(payload.get("eventTime"), "eventTime", errors)
    run, job = payload.get("run"), payload.get("job")
    _str(run, "runId", "run.runId", errors, max_length=200)
    _str(job, "namespace", "job.namespace", errors)
    _str(job, "name", "job.name", errors)
    event_type = payload.get("eventType")
    if event_type is not None and event_type not in STATUS:
        errors["eventType"] = [f"Must be one of {', '.join(STATUS)}; got {str(event_type)[:40]!r}."]
    limit = settings.OPSHEALTH_MAX_ASSETS_PER_EVENT
    if sum(len(_list(payload.get(side))) for side in ("inputs", "outputs")) > limit:
        errors["outputs"] = [
            f"At most {limit} inputs and outputs per event: report them over several events."
        ]
        raise SpecViolation(errors)
    for side in ("inputs", "outputs"):
        datasets = payload.get(side, [])
        if not isinstance(datasets, list):
            errors[side] = ["Must be a list of datasets."]
            continue
        for i, ds in enumerate(datasets):
            ns = _str(ds, "namespace", f"{side}[{i}].namespace", errors)
            name = _str(ds, "name", f"{side}[{i}].name", errors, max_length=500)
            if ns and name and len(normalize_asset_key(name, ns)) > MAX_KEY:
                errors.setdefault(f"{side}[{i}].name", []).append(
                    f"Namespace and name exceed {MAX_KEY} characters."
                )
    if run is not None and not isinstance(_dict(run).get("facets", {}), dict):
        errors["run.facets"] = ["Must be an object."]
    parent = _dict(_dict(_dict(run).get("facets")).get("parent"))
    if parent:
        _str(_dict(parent.get("run")), "runId", "run.facets.parent.run.runId", errors, max_length=200)
        _str(_dict(parent.get("job")), "namespace", "run.facets.parent.job.namespace", errors)
        _str(_dict(parent.get("job")), "name", "run.facets.parent.job.name", errors)
    nominal = _dict(_dict(_dict(run).get("facets")).get("nominalTime"))
    if "nominalStartTime" in nominal:
        parse_time(nominal["nominalStartTime"], "run.facets.nominalTime.nominalStartTime", errors)
    if errors:
        raise SpecViolation(errors)
    return Checked(payload, event_time, canonical, digest)


def to_run_event(checked: Checked) -> ingest.RunEvent:
    """Map a validated payload to the common `RunEvent`."""
    payload, event_time = checked.payload, checked.event_time
    run, job = payload["run"], payload["job"]
    facets = _dict(run.get("facets"))
    status = STATUS[payload.get("eventType") or "OTHER"]
    outputs = [d for d in payload.get("outputs", []) if isinstance(d, dict)]
    inputs = [d for d in payload.get("inputs", []) if isinstance(d, dict)]
    error = _dict(facets.get("errorMessage"))
    nominal = _dict(facets.get("nominalTime")).get("nominalStartTime")
    ev = ingest.RunEvent(
        pipeline=job["name"],
        namespace=job["namespace"],
        external_run_id=run["runId"],
        status=status,
        event_time=event_time,
        triggered_by="openlineage",
        nominal_time=parse_time(nominal, "nominal", {}) if nominal else None,
        parent=_parent(facets),
        assets=[_asset(d, status, "output", event_time) for d in outputs]
        + [_asset(d, status, "input", event_time) for d in inputs],
        checks=_dataset_checks(outputs + inputs) + _test_checks(facets, outputs, job),
    )
    if error:
        stack = str(error.get("stackTrace") or "")
        ev.error_message = str(error.get("message") or "")
        found = _EXC_LINE.findall(stack)
        ev.error_type = (found[-1] if found else str(error.get("programmingLanguage") or ""))[:200]
        if stack:
            ev.error_stack_hash = hashlib.sha256(_DIGITS.sub("", stack).encode()).hexdigest()[:32]
    return ev


def _parent(facets: dict) -> ingest.ParentRef | None:
    parent = _dict(facets.get("parent"))
    run_id = _dict(parent.get("run")).get("runId")
    job = _dict(parent.get("job"))
    if not (isinstance(run_id, str) and run_id and isinstance(job.get("name"), str) and job.get("name")):
        return None
    return ingest.ParentRef(job["name"], run_id, str(job.get("namespace") or ""))


def _asset(ds: dict, status: str, direction: str, event_time: datetime) -> ingest.AssetIn:
    stats = _dict(_dict(ds.get("outputFacets")).get("outputStatistics"))
    # An output of a terminal event was written by then: the event's time is the
    # write's end, which freshness counts (a run asset without an end is no signal).
    ended = event_time if direction == "output" and status in Run.TERMINAL else None
    return ingest.AssetIn(
        asset_key=ds["name"],
        namespace=ds["namespace"],
        kind="dataset",
        direction=direction,
        status=OUTPUT_STATUS.get(status) if direction == "output" else None,
        rows_inserted=_int(stats.get("rowCount")),
        bytes_written=_int(stats.get("size")),
        ended_at=ended,
    )


def _int(value) -> int | None:
    """A count PostgreSQL's bigint can hold, else unknown (statistics are best effort)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    return value if ok else None


def _dataset_checks(datasets: list[dict]) -> list[ingest.CheckIn]:
    """Assertions and metrics from `inputFacets` and `facets`, each kept once."""
    checks: dict[tuple, ingest.CheckIn] = {}
    for ds in datasets:
        for location in ("inputFacets", "facets"):
            facets = _dict(ds.get(location))
            for a in _list(_dict(facets.get("dataQualityAssertions")).get("assertions")):
                if not isinstance(a, dict) or not isinstance(a.get("assertion"), str):
                    continue
                name = a.get("name") or (
                    f"{a['assertion']}({a['column']})" if a.get("column") else a["assertion"]
                )
                key = (ds["namespace"], ds["name"], name)
                metrics = {
                    k: a[k] for k in ("column", "expected", "actual", "content") if a.get(k) is not None
                }
                checks.setdefault(
                    key,
                    ingest.CheckIn(
                        asset_key=ds["name"],
                        namespace=ds["namespace"],
                        check_name=str(name)[:200],
                        status="pass" if a.get("success") is True else "fail",
                        severity=SEVERITIES.get(str(a.get("severity") or "error").lower(), "error"),
                        metrics=metrics,
                        message=str(a.get("description") or ""),
                    ),
                )
            metrics = _dict(facets.get("dataQualityMetrics"))
            if metrics:
                body = {k: v for k, v in metrics.items() if not k.startswith("_")}
                checks.setdefault(
                    (ds["namespace"], ds["name"], "dataQualityMetrics"),
                    ingest.CheckIn(
                        asset_key=ds["name"],
                        namespace=ds["namespace"],
                        check_name="dataQualityMetrics",
                        status="pass",
                        severity="info",
                        metrics=body,
                    ),
                )
    return list(checks.values())


def _test_checks(facets: dict, outputs: list[dict], job: dict) -> list[ingest.CheckIn]:
    """The run `test` facet names no dataset: results go on the only output, else on the job."""
    tests = _list(_dict(facets.get("test")).get("tests"))
    if len(outputs) == 1:
        key, ns = outputs[0]["name"], outputs[0]["namespace"]
    else:
        key, ns = f"job:{job['name']}", job["namespace"]
    checks = {}
    for t in tests:
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            continue
        metrics = {k: t[k] for k in ("type", "expected", "actual", "content", "params") if t.get(k)}
        checks.setdefault(
            t["name"],
            ingest.CheckIn(
                asset_key=key,
                namespace=ns,
                check_name=t["name"][:200],
                status=t.get("status") if t.get("status") in TEST_STATUSES else "fail",
                severity=SEVERITIES.get(str(t.get("severity") or "error").lower(), "error"),
                metrics=metrics,
                message=str(t.get("description") or ""),
            ),
        )
    return list(checks.values())


@ingest.retry_on_deadlock
def accept(checked: list[Checked]) -> list[Accepted]:
    """Store and apply validated payloads in one transaction.

    The content-hash insert and the state change commit together: a concurrent replay
    of the same event waits on the unique index, then finds it and does nothing.
    """
    hashes = [c.content_hash for c in checked]
    events = [to_run_event(c) for c in checked]
    with transaction.atomic():
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        order = sorted(first)
        with connection.cursor() as cur:
            cur.execute(
                f"""
                INSERT INTO {LineageEvent._meta.db_table} (content_hash, received_at, event_time, event_type,
                    job_namespace, job_name, run_external_id, payload)
                SELECT v.h, now(), v.t, v.et, v.ns, v.n, v.r, v.p::jsonb
                FROM unnest(%s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],
                            %s::text[], %s::text[]) AS v(h, t, et, ns, n, r, p)
                ORDER BY v.h
                ON CONFLICT (content_hash) DO NOTHING
                RETURNING content_hash
                """,
                [
                    order,
                    [events[first[h]].event_time for h in order],
                    [str(checked[first[h]].payload.get("eventType") or "")[:10] for h in order],
                    [events[first[h]].namespace for h in order],
                    [events[first[h]].pipeline for h in order],
                    [events[first[h]].external_run_id for h in order],
                    [checked[first[h]].canonical for h in order],
                ],
            )
            new = {row[0] for row in cur.fetchall()}
        new_idx = [first[h] for h in order if h in new]
        outcomes = ingest.ingest_events([events[i] for i in new_idx])
        _link_events([hashes[i] for i in new_idx], [o.run.pk for o in outcomes])
    runs = dict(zip(new_idx, (o.run for o in outcomes), strict=True))
    return [
        Accepted("created", runs[i]) if i in runs else Accepted("duplicate", None)
        for i in range(len(checked))
    ]


def _link_events(hashes: list[str], run_pks: list[int]) -> None:
    if hashes:
        with connection.cursor() as cur:
            cur.execute(
                f"UPDATE {LineageEvent._meta.db_table} e SET run_id = v.run FROM unnest(%s::text[], %s::bigint[]) "
                "AS v(h, run) WHERE e.content_hash = v.h",
                [hashes, run_pks],
            )


def rebuild(batch_size: int = 1000) -> int:
    """Re-derive every run of OpenLineage origin from the raw event log.

    Deterministic: events replay in (eventTime, content hash) order, whatever order
    they arrived in. Returns the number of events replayed.
    """
    with transaction.atomic():
        origin = Run.objects.filter(triggered_by="openlineage")
        CheckResult.objects.filter(run__in=origin).delete()
        origin.delete()
        replayed = 0
        queryset = LineageEvent.objects.order_by("event_time", "content_hash").values_list(
            "content_hash", "payload"
        )
        batch: list[tuple[str, dict]] = []
        for row in queryset.iterator(chunk_size=batch_size):
            batch.append(row)
            if len(batch) >= batch_size:
                replayed += _replay(batch)
                batch = []
        replayed += _replay(batch)
    return replayed


def _replay(batch: list[tuple[str, dict]]) -> int:
    if not batch:
        return 0
    outcomes = ingest.ingest_events([to_run_event(validate(p)) for _, p in batch])
    _link_events([h for h, _ in batch], [o.run.pk for o in outcomes])
    return len(batch)
