"""One duration syntax for every duration OpsHealth accepts (API fields, commands, YAML).

Accepted: a number with a unit, alone or in a sequence (`90m`, `2h`, `1d`, `4w`, `1h30m`,
`2 hours`, `45 seconds`); ISO 8601 (`PT2H`, `P1D`, `P1DT12H`); and what the API itself
writes (`02:00:00`, `1 02:00:00`), so a value read can be sent back. A bare number is
refused: seconds or minutes would be a guess.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils.dateparse import parse_duration as django_parse_duration

UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "second": "seconds",
    "m": "minutes",
    "min": "minutes",
    "minute": "minutes",
    "h": "hours",
    "hr": "hours",
    "hour": "hours",
    "d": "days",
    "day": "days",
    "w": "weeks",
    "week": "weeks",
}
_PART = re.compile(r"(\d+)\s*([a-z]+?)s?(?=\d|\s|$)")
_UNIT_SEQUENCE = re.compile(r"(?:\d+\s*[a-z]+\s*)+")
# Longer would make `now ± duration` leave the range of dates (a poisoned later read).
MAX_DURATION = timedelta(days=36525)
EXAMPLES = "90m, 2h, 1d, '2 hours' or ISO 8601 such as PT2H"


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """`text` as a positive timedelta (zero too with `allow_zero`); ValueError otherwise,
    with a message that can be shown to the user as is."""
    if not isinstance(text, str):
        raise ValueError(f"A duration is a string such as {EXAMPLES}.")
    value = text.strip().lower()
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", value):
        raise ValueError(f"'{text}' has no unit: write a duration such as {EXAMPLES}.")
    if value in ("", "p", "pt"):
        raise ValueError(f"'{text}' is not a duration such as {EXAMPLES}.")
    duration = _parse_units(value) if _UNIT_SEQUENCE.fullmatch(value) else _parse_standard(value)
    if duration is None:
        raise ValueError(f"'{text}' is not a duration such as {EXAMPLES}.")
    if duration < timedelta(0):
        raise ValueError(f"'{text}' is negative: a duration must be positive.")
    if duration > MAX_DURATION:
        raise ValueError(f"'{text}' is longer than {MAX_DURATION.days} days.")
    if duration == timedelta(0) and not allow_zero:
        raise ValueError(f"'{text}' is zero: a duration must be positive.")
    return duration


def _parse_units(value: str) -> timedelta | None:
    amounts: dict[str, int] = {}
    position = 0
    for match in _PART.finditer(value):
        if value[position : match.start()].strip():
            return None
        unit = UNITS.get(match.group(2))
        if unit is None or unit in amounts:
            return None
        amounts[unit] = int(match.group(1))
        position = match.end()
    if value[position:].strip() or not amounts:
        return None
    try:
        return timedelta(**amounts)
    except OverflowError:
        return None


def _parse_standard(value: str) -> timedelta | None:
    # Django's parser reads ISO 8601 and its own `[D ]HH:MM:SS` (DRF's output format).
    try:
        return django_parse_duration(value.upper() if value.startswith(("p", "-p", "+p")) else value)
    except (OverflowError, ValueError):
        return None
