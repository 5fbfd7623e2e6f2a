"""Expected schedules: ok / late / missing / running_too_long / unknown, as cron monitors do."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from ledger import schedule as sch
from ledger.schedule import Schedule, evaluate

PARIS = ZoneInfo("Europe/Paris")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


HOURLY = Schedule(cron="0 * * * *", grace=timedelta(minutes=10))


def test_no_schedule_is_unknown():
    state = evaluate(Schedule(), now=utc(2026, 1, 1), last_started_at=None)
    assert state.state == sch.UNKNOWN


def test_cron_run_for_latest_slot_is_ok():
    state = evaluate(HOURLY, now=utc(2026, 1, 1, 12, 30), last_started_at=utc(2026, 1, 1, 12, 0, 5))
    assert state.state == sch.OK
    assert state.expected_at == utc(2026, 1, 1, 12)
    assert state.next_due_at == utc(2026, 1, 1, 13, 10)


def test_cron_within_grace_is_still_ok():
    # 13:00 has passed but its 10-minute grace has not: the 12:00 slot is judged.
    state = evaluate(HOURLY, now=utc(2026, 1, 1, 13, 5), last_started_at=utc(2026, 1, 1, 12, 0))
    assert state.state == sch.OK


def test_cron_after_grace_is_late():
    state = evaluate(HOURLY, now=utc(2026, 1, 1, 13, 11), last_started_at=utc(2026, 1, 1, 12, 0))
    assert state.state == sch.LATE
    assert state.expected_at == utc(2026, 1, 1, 13)
    assert "expected a run" in state.reason


def test_cron_run_slightly_early_covers_the_slot():
    # Clock skew: started 2 minutes before 13:00, inside the grace window.
    state = evaluate(HOURLY, now=utc(2026, 1, 1, 13, 30), last_started_at=utc(2026, 1, 1, 12, 58))
    assert state.state == sch.OK


def test_cron_whole_period_without_run_is_missing():
    state = evaluate(HOURLY, now=utc(2026, 1, 1, 14, 11), last_started_at=utc(2026, 1, 1, 12, 0))
    assert state.state == sch.MISSING


def test_cron_never_ran_is_missing_once_a_slot_passed_since_creation():
    created = utc(2026, 1, 1, 9, 30)
    assert (
        evaluate(HOURLY, now=utc(2026, 1, 1, 10, 5), last_started_at=None, created_at=created).state == sch.OK
    )
    assert (
        evaluate(HOURLY, now=utc(2026, 1, 1, 10, 20), last_started_at=None, created_at=created).state
        == sch.LATE
    )
    assert (
        evaluate(HOURLY, now=utc(2026, 1, 1, 11, 20), last_started_at=None, created_at=created).state
        == sch.MISSING
    )


def test_running_too_long_wins_over_everything():
    s = Schedule(cron="0 * * * *", max_duration=timedelta(minutes=30))
    state = evaluate(
        s,
        now=utc(2026, 1, 1, 12, 45),
        last_started_at=utc(2026, 1, 1, 12, 0),
        running_since=utc(2026, 1, 1, 12, 0),
    )
    assert state.state == sch.RUNNING_TOO_LONG
    assert state.running_since == utc(2026, 1, 1, 12, 0)


def test_running_within_max_duration_is_ok():
    s = Schedule(cron="0 * * * *", max_duration=timedelta(minutes=30))
    state = evaluate(
        s, now=utc(2026, 1, 1, 12, 20), last_started_at=utc(2026, 1, 1, 12), running_since=utc(2026, 1, 1, 12)
    )
    assert state.state == sch.OK


def test_max_duration_applies_without_schedule():
    s = Schedule(max_duration=timedelta(hours=1))
    state = evaluate(
        s, now=utc(2026, 1, 1, 3), last_started_at=utc(2026, 1, 1), running_since=utc(2026, 1, 1)
    )
    assert state.state == sch.RUNNING_TOO_LONG


def test_interval_states():
    s = Schedule(interval=timedelta(hours=6), grace=timedelta(minutes=30))
    last = utc(2026, 1, 1, 0)
    assert evaluate(s, now=utc(2026, 1, 1, 6, 20), last_started_at=last).state == sch.OK
    late = evaluate(s, now=utc(2026, 1, 1, 6, 31), last_started_at=last)
    assert late.state == sch.LATE
    assert late.expected_at == utc(2026, 1, 1, 6)
    assert evaluate(s, now=utc(2026, 1, 1, 12, 31), last_started_at=last).state == sch.MISSING


def test_interval_never_ran():
    s = Schedule(interval=timedelta(hours=1))
    created = utc(2026, 1, 1)
    assert evaluate(s, now=utc(2026, 1, 1, 0, 30), last_started_at=None, created_at=created).state == sch.OK
    assert (
        evaluate(s, now=utc(2026, 1, 1, 1, 30), last_started_at=None, created_at=created).state == sch.MISSING
    )


def test_cron_follows_timezone_across_spring_dst():
    # 02:00 local every day. On 2026-03-29 Paris skips 02:00-03:00 (UTC+1 → UTC+2).
    s = Schedule(cron="0 2 * * *", timezone="Europe/Paris", grace=timedelta(minutes=15))
    before = evaluate(s, now=paris(2026, 3, 28, 9), last_started_at=paris(2026, 3, 28, 2, 0))
    assert before.state == sch.OK
    assert before.expected_at == utc(2026, 3, 28, 1)
    # croniter fires the skipped 02:00 at 03:00 CEST (01:00 UTC) that night.
    after = evaluate(s, now=paris(2026, 3, 29, 9), last_started_at=paris(2026, 3, 28, 2, 0))
    assert after.state == sch.LATE
    assert after.expected_at == utc(2026, 3, 29, 1)
    ok = evaluate(s, now=paris(2026, 3, 29, 9), last_started_at=paris(2026, 3, 29, 3, 0))
    assert ok.state == sch.OK
    # The day after, 02:00 CEST is 00:00 UTC.
    next_day = evaluate(s, now=paris(2026, 3, 30, 9), last_started_at=paris(2026, 3, 30, 2, 0))
    assert next_day.expected_at == utc(2026, 3, 30, 0)
    assert next_day.state == sch.OK


def test_cron_runs_once_on_the_repeated_autumn_hour():
    # 2026-10-25 Paris repeats 02:00-03:00. A job at 02:30 runs once (the first 02:30,
    # CEST); the repeated 02:30 CET is not a second expected start.
    s = Schedule(cron="30 2 * * *", timezone="Europe/Paris", grace=timedelta(minutes=5))
    first_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    state = evaluate(s, now=utc(2026, 10, 25, 12), last_started_at=first_0230)
    assert state.state == sch.OK


def test_cron_across_month_boundary():
    # Monthly on the 1st at 06:00 UTC, one hour of grace.
    s = Schedule(cron="0 6 1 * *", grace=timedelta(hours=1))
    last = utc(2026, 1, 1, 6, 2)
    assert evaluate(s, now=utc(2026, 1, 31, 23, 59), last_started_at=last).state == sch.OK
    assert evaluate(s, now=utc(2026, 2, 1, 6, 59), last_started_at=last).state == sch.OK
    late = evaluate(s, now=utc(2026, 2, 1, 7, 1), last_started_at=last)
    assert late.state == sch.LATE
    assert late.expected_at == utc(2026, 2, 1, 6)
    # February is short: the March slot comes 28 days later.
    assert late.next_due_at == utc(2026, 3, 1, 7)
    assert evaluate(s, now=utc(2026, 3, 1, 7, 1), last_started_at=last).state == sch.MISSING


def test_schedule_of_pipeline_uses_its_fields():
    class P:
        schedule_cron = "*/5 * * * *"
        schedule_interval = None
        schedule_timezone = "Europe/Paris"
        grace = None
        max_duration = timedelta(minutes=3)

    s = Schedule.of(P())
    assert s == Schedule(cron="*/5 * * * *", timezone="Europe/Paris", max_duration=timedelta(minutes=3))


@pytest.mark.parametrize(
    ("expr", "ok"), [("0 * * * *", True), ("*/15 2-4 * * 1-5", True), ("61 * * * *", False), ("x", False)]
)
def test_validate_cron(expr, ok):
    assert (sch.validate_cron(expr) is None) is ok


def test_validate_timezone():
    assert sch.validate_timezone("Europe/Paris") is None
    assert sch.validate_timezone("Mars/Olympus") is not None


def test_states_move_with_the_clock():
    """The same pipeline read at successive instants, the clock driven by time_machine."""
    s = Schedule(cron="0 0 * * *", grace=timedelta(hours=1))
    last = utc(2026, 1, 31, 0, 1)
    expected = {
        utc(2026, 1, 31, 23, 0): sch.OK,
        utc(2026, 2, 1, 0, 59): sch.OK,
        utc(2026, 2, 1, 1, 1): sch.LATE,
        utc(2026, 2, 2, 1, 1): sch.MISSING,
    }
    for instant, state in expected.items():
        with time_machine.travel(instant, tick=False):
            assert evaluate(s, now=timezone.now(), last_started_at=last).state == state, instant


def test_schedule_states_of_every_pipeline_in_one_query(make_runs, django_assert_num_queries):
    from ledger.analytics import schedule_states
    from tests.factories.ledger import PipelineFactory

    now = utc(2026, 11, 1, 12, 30)
    hourly = PipelineFactory(
        namespace="", name="hourly", schedule_cron="0 * * * *", grace=timedelta(minutes=5)
    )
    stale = PipelineFactory(namespace="", name="stale", schedule_interval=timedelta(hours=1))
    stuck = PipelineFactory(namespace="", name="stuck", max_duration=timedelta(minutes=10))
    make_runs(hourly, "SFS", start=utc(2026, 11, 1, 10))
    make_runs(stale, "S", start=utc(2026, 11, 1, 9))
    make_runs(stuck, "R", start=utc(2026, 11, 1, 12))
    with django_assert_num_queries(1):  # pipelines with their latest-run subqueries
        states = {p.name: s for p, s in schedule_states(now)}
    assert {name: s.state for name, s in states.items()} == {
        "hourly": sch.OK,
        "stale": sch.MISSING,
        "stuck": sch.RUNNING_TOO_LONG,
    }
    assert states["hourly"].last_started_at == utc(2026, 11, 1, 12)
