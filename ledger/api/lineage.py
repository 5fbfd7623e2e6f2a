"""`POST /api/v1/lineage` and `/api/v1/lineage/batch`: OpenLineage's HTTP transport.

Answers: 201 new event, 200 replay (any 2xx is success to the client), 400
unparseable body, 401/403 auth, 413 too large, 422 spec violation with the field list.
Never a 5xx for bad input: the official client retries 5xx five times.
"""

from __future__ import annotations

from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from ledger import openlineage
from ledger.api.ingest import MAX_BULK_EVENTS, IngestView, check_request_assets


def _violation(errors: dict) -> Response:
    return Response(
        {"detail": "Not a valid OpenLineage RunEvent.", "errors": errors},
        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


class LineageView(IngestView):
    @extend_schema(
        request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT, 201: OpenApiTypes.OBJECT}
    )
    def post(self, request):
        try:
            checked = openlineage.validate(request.data)
        except openlineage.SpecViolation as exc:
            return _violation(exc.errors)
        (accepted,) = openlineage.accept([checked])
        body = {"status": accepted.status}
        if accepted.run is not None:
            body.update(run_id=str(accepted.run.run_id), run_status=accepted.run.status)
        code = status.HTTP_201_CREATED if accepted.status == "created" else status.HTTP_200_OK
        return Response(body, status=code)


class LineageBatchView(IngestView):
    """A JSON array of RunEvents, applied in one transaction, one result per item.

    Invalid items are answered with their index, `code` 422 and their field errors, and
    left out; the valid ones are applied (the answer is 200 so a retrying client does not resend them).
    """

    @extend_schema(
        request={"application/json": build_array_type(build_basic_type(OpenApiTypes.OBJECT))},
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        items = request.data
        if not isinstance(items, list):
            raise ValidationError({"non_field_errors": ["Expected a JSON array of OpenLineage RunEvents."]})
        if len(items) > MAX_BULK_EVENTS:
            raise ValidationError({"non_field_errors": [f"At most {MAX_BULK_EVENTS} events per request."]})
        check_request_assets(items, "outputs", "inputs")
        results: list[dict] = [{} for _ in items]
        valid: list[tuple[int, openlineage.Checked]] = []
        for i, item in enumerate(items):
            try:
                valid.append((i, openlineage.validate(item)))
            except openlineage.SpecViolation as exc:
                results[i] = {"index": i, "status": "error", "code": 422, "errors": exc.errors}
        accepted = openlineage.accept([checked for _, checked in valid])
        for (i, _), acc in zip(valid, accepted, strict=True):
            results[i] = {"index": i, "status": acc.status, "errors": None}
            if acc.run is not None:
                results[i]["run_id"] = str(acc.run.run_id)
        return Response({"results": results})
