"""One duration syntax: units, words, ISO 8601 and the API's own output; junk refused."""

from datetime import timedelta

import pytest

from common.durations import parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("4w", timedelta(weeks=4)),
        ("2 hours", timedelta(hours=2)),
        ("1 hour 30 minutes", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("45 seconds", timedelta(seconds=45)),
        ("PT2H", timedelta(hours=2)),
        ("P1D", timedelta(days=1)),
        ("p1dt12h", timedelta(hours=36)),
        ("02:00:00", timedelta(hours=2)),
        ("1 02:00:00", timedelta(hours=26)),
    ],
)
def test_accepted_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1 days", "negative"),
        ("-PT1H", "negative"),
        ("0m", "zero"),
        ("PT0S", "zero"),
        ("3600", "no unit"),
        ("", "not a duration"),
        ("soon", "not a duration"),
        ("2 fortnights", "not a duration"),
        ("1h 1h", "not a duration"),
        ("99999999999d", "not a duration"),
        ("500000d", "longer than"),
    ],
)
def test_refused_durations_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


def test_zero_when_allowed():
    assert parse_duration("0m", allow_zero=True) == timedelta(0)


def test_a_non_string_is_refused():
    with pytest.raises(ValueError, match="string"):
        parse_duration(3600)
