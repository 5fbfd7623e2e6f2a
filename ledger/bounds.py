"""What the ledger accepts beyond types, one definition for every ingestion path (REST,
bulk, OpenLineage, RunLogger):

- times inside a sane window (`OPSHEALTH_EARLIEST_TIME` to now +
  `OPSHEALTH_MAX_FUTURE_HOURS`): a time past `datetime.max` once in UTC is stored by
  PostgreSQL but cannot be read back by Python, and a watermark in the year 9999 would
  pin that asset forever (watermarks only move forward);
- text PostgreSQL can store: a lone UTF-16 surrogate (`"\\ud800"`, legal in JSON)
  cannot be encoded as UTF-8;
- JSON of bounded depth (`OPSHEALTH_MAX_JSON_DEPTH`): parsing and rendering recurse
  once per level.

Refusals carry a code (`TIME_WINDOW`, `INVALID_TEXT`) that the API answers with 422.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

TIME_WINDOW = "time_window"
INVALID_TEXT = "invalid_text"
UNPROCESSABLE = frozenset({TIME_WINDOW, INVALID_TEXT})

_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT = json.JSONEncoder(ensure_ascii=False, default=str)
_ESCAPE = re.compile(rb"\\.", re.S)
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class Refused(ValueError):
    """A value the ledger does not accept: `field` names it, `code` says why."""

    def __init__(self, field: str, message: str, code: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.code = field, message, code


def window() -> tuple[datetime, datetime]:
    latest = timezone.now() + timedelta(hours=settings.OPSHEALTH_MAX_FUTURE_HOURS)
    return settings.OPSHEALTH_EARLIEST_TIME, latest


def time_problem(value: datetime) -> str | None:
    """Why the time `value` (UTC when naive) may not enter the ledger, or None."""
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)
    except OverflowError:
        return f"{value.isoformat()} is out of range."
    earliest, latest = window()
    if earliest <= value <= latest:
        return None
    return (
        f"{value.isoformat()} is outside the accepted window, {earliest.isoformat()} to now + "
        f"{settings.OPSHEALTH_MAX_FUTURE_HOURS} h ({latest.isoformat(timespec='seconds')})."
    )


def representable(value: datetime) -> bool:
    """A time PostgreSQL and Python both hold (what a filter or cursor may name)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        return False
    return True


def storable_text(value) -> bool:
    """True when no key or string in `value` holds a lone surrogate: two C-level
    encodings, to JSON then to UTF-8 (which refuses a lone surrogate)."""
    try:
        _TEXT.encode(value).encode()
    except UnicodeEncodeError:
        return False
    return True


def surrogate_path(value, path: str = "") -> str | None:
    """The path (`args.a[2]`) of the first key or string holding a lone surrogate, or
    None. The common case costs `storable_text`."""
    return None if storable_text(value) else _find_surrogate(value, path)


def _find_surrogate(value, path: str) -> str | None:
    if isinstance(value, str):
        return (path or "value") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{printable(str(key))}" if path else printable(str(key))
            if _SURROGATE.search(str(key)):
                return sub
            found = _find_surrogate(item, sub)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _find_surrogate(item, f"{path}[{i}]")
            if found:
                return found
    return None


def printable(text: str) -> str:
    """`text` with lone surrogates written as escapes, safe to put in a JSON answer."""
    return text.encode("utf-8", "backslashreplace").decode()


SURROGATE_MESSAGE = "Not valid Unicode: a lone surrogate (such as \\ud800) cannot be stored."


def json_too_deep(data: bytes, limit: int) -> bool:
    """True when the JSON document `data` nests arrays and objects deeper than `limit`.

    C-speed passes over the bytes, never a Python loop per character: strings are
    blanked (brackets inside them do not count), everything but brackets dropped, then
    each pass removes the innermost empty pairs; `limit` passes empty a document no
    deeper than `limit`.
    """
    # Without its escapes (`\\"` among them), a JSON text alternates outside and inside
    # strings at every quote.
    outside = b"".join(_ESCAPE.sub(b"", data).split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        brackets, removed = _EMPTY_PAIR.subn(b"", brackets)
        if not removed:
            return False  # unbalanced: not JSON, the parser says so
    return bool(brackets)


def value_too_deep(value, limit: int) -> bool:
    """The same test for a Python value (what RunLogger is given), without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


_EVENT_TIMES = ("event_time", "started_at", "ended_at", "nominal_time")
_ASSET_TIMES = ("min_event_time", "max_event_time", "started_at", "ended_at")


def check_event(ev) -> None:
    """Raise `Refused` naming the first field of the `ingest.RunEvent` `ev` the ledger
    does not accept (what the API's validation refuses, for callers in Python)."""
    times = [(f, getattr(ev, f)) for f in _EVENT_TIMES]
    times += [(f"assets[{i}].{f}", getattr(a, f)) for i, a in enumerate(ev.assets) for f in _ASSET_TIMES]
    times += [(f"watermarks[{i}].watermark_ts", w.watermark_ts) for i, w in enumerate(ev.watermarks)]
    times += [(f"checks[{i}].checked_at", c.checked_at) for i, c in enumerate(ev.checks)]
    for field, value in times:
        problem = value and time_problem(value)
        if problem:
            raise Refused(field, problem, TIME_WINDOW)
    documents = [("args", ev.args)]
    documents += [(f"assets[{i}].extra", a.extra) for i, a in enumerate(ev.assets)]
    documents += [(f"checks[{i}].metrics", c.metrics) for i, c in enumerate(ev.checks)]
    depth = settings.OPSHEALTH_MAX_JSON_DEPTH
    for field, value in documents:
        if value_too_deep(value, depth):
            raise Refused(field, f"Nested deeper than {depth} levels.", INVALID_TEXT)
    path = surrogate_path(dataclasses.asdict(ev))
    if path:
        raise Refused(path, SURROGATE_MESSAGE, INVALID_TEXT)
