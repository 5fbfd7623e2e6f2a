"""The ledger's write endpoints: runs (one or bulk), watermarks, check results.

Every endpoint needs `CanIngest` (an ingest token, or a staff session) and parses its
body with the size-limited JSON parser (413 above `OPSHEALTH_MAX_PAYLOAD_BYTES`,
gzip accepted). Malformed input is 400; input that is well formed but cannot enter the
ledger (a time outside the window, text PostgreSQL cannot store: `ledger.bounds`) is
422, naming the field.
"""

from __future__ import annotations

import threading

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ErrorDetail, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import StrictViewMixin
from common.auth import CanIngest
from ledger import bounds, ingest
from ledger.api.ingest_serializers import (
    RunEventSerializer,
    StandaloneCheckSerializer,
    StandaloneWatermarkSerializer,
)
from ledger.api.parsers import LimitedJSONParser
from ledger.models import Run

MAX_BULK_EVENTS = 1000
_local = threading.local()


def event_serializer() -> RunEventSerializer:
    """One validating serializer per thread, reused across items and requests.

    Building a serializer deep-copies its ~30 declared fields (about 1.5 ms, more than
    the ingestion itself); `run_validation` keeps no state between calls but the field
    filter of `SparseSerializer`, hence one per thread.
    """
    if not hasattr(_local, "serializer"):
        _local.serializer = RunEventSerializer()
    return _local.serializer


class Unprocessable(ValidationError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY


def _codes(codes) -> set[str]:
    if isinstance(codes, dict):
        return set().union(*map(_codes, codes.values()))
    if isinstance(codes, list):
        return set().union(*map(_codes, codes))
    return {codes}


def refused(exc: ValidationError) -> ValidationError:
    """`exc` as the 422 it is when a value is out of bounds (see the module doc)."""
    if _codes(exc.get_codes()) & bounds.UNPROCESSABLE:
        return Unprocessable(exc.detail)
    return exc


def check_text(data) -> None:
    """422 naming the first string of `data` that PostgreSQL cannot store."""
    path = bounds.surrogate_path(data)
    if path:
        raise Unprocessable({path: [ErrorDetail(bounds.SURROGATE_MESSAGE, code=bounds.INVALID_TEXT)]})


def validate_event(item, text_checked: bool = False) -> ingest.RunEvent:
    """One run event, validated (400, or 422: see `refused`) and mapped. `text_checked`:
    its text is known to be storable (`bounds.storable_text`)."""
    try:
        if not text_checked:
            check_text(item)
        return RunEventSerializer.event_from(event_serializer().run_validation(item))
    except ValidationError as exc:
        raise refused(exc) from None


def check_request_assets(items: list, field: str, *fields: str) -> None:
    """400 when the items of one request carry more than OPSHEALTH_MAX_ASSETS_PER_REQUEST
    assets in all (`field`s: lists of assets), counted before any is validated: a
    request's memory grows with its assets (bench/ingest_memory.py)."""
    limit = settings.OPSHEALTH_MAX_ASSETS_PER_REQUEST
    total = sum(
        len(value)
        for item in items
        if isinstance(item, dict)
        for value in (item.get(f) for f in (field, *fields))
        if isinstance(value, list)
    )
    if total > limit:
        raise ValidationError(
            {field: [f"At most {limit} assets per request, got {total}: send them in several requests."]}
        )


class IngestView(StrictViewMixin, APIView):
    permission_classes = [CanIngest]
    parser_classes = [LimitedJSONParser]
    error_statuses = (status.HTTP_422_UNPROCESSABLE_ENTITY,)  # in the schema (common/schema.py)


def _outcome_body(outcome: ingest.Outcome) -> dict:
    body = {"status": outcome.status, "run_id": str(outcome.run.run_id), "run_status": outcome.run.status}
    if outcome.anomaly:
        body["anomaly"] = outcome.anomaly
    return body


class RunIngestView(IngestView):
    """Create or advance one run: 201 when the run is new, 200 otherwise."""

    @extend_schema(request=RunEventSerializer, responses={200: dict, 201: dict})
    def post(self, request):
        (outcome,) = ingest.ingest_events([validate_event(request.data)])
        code = status.HTTP_201_CREATED if outcome.status == ingest.CREATED else status.HTTP_200_OK
        return Response(_outcome_body(outcome), status=code)


class RunBulkIngestView(IngestView):
    """Up to 1,000 run events in one transaction, one result per item.

    Validation is per item: an invalid item is answered `{status: "error", code, errors}`
    (`code` the status the item would get alone: 400 or 422) and left out, the valid ones are applied (together, in one transaction). A client
    can therefore resend only the items that failed; resending valid ones is harmless,
    ingestion being idempotent. A database error fails the whole batch (500).
    """

    @extend_schema(request=RunEventSerializer(many=True), responses={200: dict})
    def post(self, request):
        items = request.data.get("events") if isinstance(request.data, dict) else request.data
        if not isinstance(items, list):
            raise ValidationError({"events": ["Expected a JSON array of run events (or {'events': [...]})."]})
        if len(items) > MAX_BULK_EVENTS:
            raise ValidationError(
                {"events": [f"At most {MAX_BULK_EVENTS} events per request, got {len(items)}."]}
            )
        check_request_assets(items, "assets")
        # One check of the whole request; each item's only when some text is not storable.
        text_checked = bounds.storable_text(items)
        results: list[dict] = [{} for _ in items]
        valid: list[tuple[int, ingest.RunEvent]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, validate_event(item, text_checked)))
            except ValidationError as exc:
                errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
                results[index] = {
                    "index": index,
                    "status": "error",
                    "code": exc.status_code,
                    "run_id": None,
                    "errors": errors,
                }
        outcomes = ingest.ingest_events([e for _, e in valid])
        for (index, _), outcome in zip(valid, outcomes, strict=True):
            results[index] = {"index": index, **_outcome_body(outcome), "errors": None}
        counts = {s: 0 for s in (ingest.CREATED, ingest.UPDATED, ingest.DUPLICATE, "error")}
        for r in results:
            counts[r["status"]] += 1
        return Response({"counts": counts, "results": results})


def _items(data, name: str, limit: int) -> list:
    """A single object, a JSON array, or {name: [...]}."""
    if isinstance(data, dict) and name in data:
        data = data[name]
    items = data if isinstance(data, list) else [data]
    if len(items) > limit:
        raise ValidationError({name: [f"At most {limit} items per request, got {len(items)}."]})
    return items


def _run_pks(validated: list[dict]) -> None:
    """Replace each item's `run_id` (uuid) by the run's primary key: one query."""
    uuids = {v["run_id"] for v in validated if v.get("run_id")}
    found = dict(Run.objects.filter(run_id__in=uuids).values_list("run_id", "pk"))
    missing = uuids - set(found)
    if missing:
        raise ValidationError({"run_id": [f"Unknown run: {u}" for u in sorted(map(str, missing))]})
    for v in validated:
        run_id = v.pop("run_id", None)
        v["run_pk"] = found.get(run_id)


def _validated_items(request, serializer_class, name: str) -> list[dict]:
    """The request's items (see `_items`), validated, with run ids resolved (400 or 422
    when bad: see `refused`)."""
    items = _items(request.data, name, MAX_BULK_EVENTS)
    check_text(items)
    ser = serializer_class(data=items, many=True)
    if not ser.is_valid():
        raise refused(ValidationError(ser.errors))
    validated = [dict(v) for v in ser.validated_data]
    _run_pks(validated)
    return validated


class WatermarkIngestView(IngestView):
    """Advance watermarks (monotonic: an older timestamp never moves one back)."""

    @extend_schema(request=StandaloneWatermarkSerializer(many=True), responses={200: dict})
    def post(self, request):
        validated = _validated_items(request, StandaloneWatermarkSerializer, "watermarks")
        ingest.advance_watermarks([ingest.WatermarkIn(**v) for v in validated])
        return Response({"count": len(validated)})


class CheckResultIngestView(IngestView):
    """Persist check results (every result is kept; an exact replay is skipped)."""

    @extend_schema(request=StandaloneCheckSerializer(many=True), responses={201: dict})
    def post(self, request):
        validated = _validated_items(request, StandaloneCheckSerializer, "check_results")
        ingest.insert_checks([ingest.CheckIn(**v) for v in validated])
        return Response({"count": len(validated)}, status=status.HTTP_201_CREATED)
