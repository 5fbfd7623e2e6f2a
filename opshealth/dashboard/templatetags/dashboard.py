"""Template filters of the dashboard: durations and status classes, in words."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from checks.alerts.messages import evidence_lines

register = template.Library()


@register.filter
def duration(value: timedelta | float | None) -> str:
    """A timedelta (or hours as a number) as "3d 4h", "5h 12m", "42m", "" for None."""
    if value is None or value == "":
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else float(value) * 3600)
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    return f"{sign}{minutes}m"


@register.filter
def ms(value: int | None) -> str:
    """Milliseconds in words: "850 ms", "12.3 s", "4m 10s"."""
    if value is None:
        return ""
    if value < 1000:
        return f"{value} ms"
    if value < 60000:
        return f"{value / 1000:.1f} s"
    return f"{value // 60000}m {(value % 60000) // 1000}s"


@register.filter
def status_class(value: str | None) -> str:
    """The CSS class of a status word (OK/WARN/ERROR, success/failed, late…)."""
    return {
        "OK": "ok",
        "INFO": "info",
        "WARN": "warn",
        "ERROR": "error",
        "success": "ok",
        "pass": "ok",
        "failed": "error",
        "fail": "error",
        "aborted": "warn",
        "skip": "info",
        "skipped": "info",
        "running": "info",
        "started": "info",
        "ok": "ok",
        "late": "warn",
        "missing": "error",
        "running_too_long": "error",
        "unknown": "info",
        "healthy": "ok",
        "degraded": "warn",
        "critical": "error",
        "broken": "error",
        "flaky": "warn",
        "insufficient_data": "info",
    }.get(value or "", "info")


@register.filter
def code_spans(value: str | None) -> SafeString:
    """Text whose `backticked` parts name code (an inferred value's evidence: "used by
    endpoint `GET /orders` in `app/views.py:12`"), escaped, those parts as <code>."""
    parts = str(value or "").split("`")
    return mark_safe(
        "".join(f"<code>{escape(p)}</code>" if i % 2 else escape(p) for i, p in enumerate(parts))
    )


@register.filter
def evidence(detail: dict | None) -> list[str]:
    """A check item's detail in lines, as the alert messages say it: lists (the code
    locations a column change breaks, the columns an object has) one item a line."""
    return evidence_lines(detail or {})


@register.filter
def clauses(value: str | None) -> list[str]:
    """A code usage's evidence, one choice of the scan per item (joined by "; ")."""
    return [part for part in (value or "").split("; ") if part]


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current page's query string with `changes` applied (None or "" removes a key):
    pagination and filter links keep the other parameters."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"
