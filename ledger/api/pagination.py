"""Keyset pagination on (timestamp, id), newest first, for append-only tables.

DRF's CursorPagination positions on the first ordering field only and skips ties with
an OFFSET, which grows with the number of rows sharing a timestamp (runs started by one
scheduler tick). Here the cursor holds the exact (time, id) of the edge row, so every
page is one index range scan on (-time, -id), however deep.
"""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import parse_qs, urlencode

from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from ledger.bounds import representable

NEXT, PREVIOUS = "n", "p"


class KeysetPagination(BasePagination):
    time_field = "started_at"
    page_size = 50
    max_page_size = 500
    cursor_query_param = "cursor"
    page_size_query_param = "limit"

    def paginate_queryset(self, queryset: QuerySet, request, view=None) -> list:
        self.request = request
        limit = self._limit(request)
        direction, position = self._decode(request.query_params.get(self.cursor_query_param))
        t, pk = self.time_field, "id"
        if direction == PREVIOUS:
            # Walk backwards (oldest first) from the position, then restore the order.
            queryset = queryset.filter(Q(**{f"{t}__gte": position[0]}))
            queryset = queryset.filter(Q(**{f"{t}__gt": position[0]}) | Q(**{f"{pk}__gt": position[1]}))
            queryset = queryset.order_by(t, pk)
        else:
            if position:
                # `time <= T AND (time < T OR id < I)`: the first term is the index range.
                queryset = queryset.filter(Q(**{f"{t}__lte": position[0]}))
                queryset = queryset.filter(Q(**{f"{t}__lt": position[0]}) | Q(**{f"{pk}__lt": position[1]}))
            queryset = queryset.order_by(f"-{t}", f"-{pk}")
        rows = list(queryset[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        if direction == PREVIOUS:
            rows.reverse()
            has_next, has_previous = True, more
        else:
            has_next, has_previous = more, position is not None
        self.next_cursor = self._encode(NEXT, rows[-1]) if rows and has_next else None
        self.previous_cursor = self._encode(PREVIOUS, rows[0]) if rows and has_previous else None
        return rows

    def get_paginated_response(self, data) -> Response:
        return Response(
            {
                "next": self._link(self.next_cursor),
                "previous": self._link(self.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
        ]

    def _limit(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if limit < 1:
            raise ValidationError({self.page_size_query_param: ["A positive integer is required."]})
        return min(limit, self.max_page_size)

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def _encode(self, direction: str, row) -> str:
        value = urlencode({"d": direction, "t": getattr(row, self.time_field).isoformat(), "i": row.pk})
        return base64.urlsafe_b64encode(value.encode()).decode()

    def _decode(self, cursor: str | None) -> tuple[str, tuple[datetime, int] | None]:
        if not cursor:
            return NEXT, None
        try:
            fields = parse_qs(base64.urlsafe_b64decode(cursor.encode()).decode(), strict_parsing=True)
            direction = fields["d"][0]
            position = (datetime.fromisoformat(fields["t"][0]), int(fields["i"][0]))
            if (
                direction not in (NEXT, PREVIOUS)
                or position[0].tzinfo is None
                or not representable(position[0])
            ):
                raise ValueError(direction)
        except (ValueError, KeyError, UnicodeDecodeError, TypeError) as exc:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from exc
        return direction, position


class RunKeysetPagination(KeysetPagination):
    # Served by the index ledger_run_started (-started_at, -id).
    time_field = "started_at"


class CheckResultKeysetPagination(KeysetPagination):
    # Served by the index ledger_check_time (-checked_at); ties broken by id.
    time_field = "checked_at"
