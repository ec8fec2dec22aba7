"""Digest periods: local-time boundaries, DST-correct lengths, catching up once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.deliver.schedule import (
    current_period,
    digest_key,
    due_period,
    latest_period,
    period_named,
)
from worker.deliver.subscriptions import Subscription

AMS = ZoneInfo("Europe/Amsterdam")
HOUR = timedelta(hours=1)


def make_sub(**overrides: object) -> Subscription:
    values: dict[str, object] = {
        "id": "weekly",
        "watchlists": ("leapmotor",),
        "channel": "email",
        "target": "a@example.com",
        "schedule": "weekly",
        "day": 0,
        "time": time(8, 0),
        "timezone": "Europe/Amsterdam",
    }
    values.update(overrides)
    return Subscription(**values)  # type: ignore[arg-type]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)  # type: ignore[misc]


def test_a_weekly_period_runs_from_last_monday_to_this_one_in_local_time() -> None:
    period = latest_period(make_sub(), local(2026, 11, 23, 9, 0))
    assert period.start == local(2026, 11, 16, 8, 0)
    assert period.end == local(2026, 11, 23, 8, 0)
    assert period.start.tzinfo is UTC and period.end.tzinfo is UTC
    assert period.label == "2026-W47"
    assert period.duration == 168 * HOUR
    assert period.contains(local(2026, 11, 20, 12, 0))
    assert not period.contains(period.end)


def test_one_minute_before_the_time_the_previous_week_is_the_latest() -> None:
    sub = make_sub()
    before = latest_period(sub, local(2026, 11, 23, 7, 59))
    at = latest_period(sub, local(2026, 11, 23, 8, 0))
    assert before.end == local(2026, 11, 16, 8, 0)
    assert at.end == local(2026, 11, 23, 8, 0)
    assert current_period(sub, local(2026, 11, 23, 7, 59)) == at


def test_the_week_across_the_end_of_dst_lasts_169_hours() -> None:
    # 2026-10-25 03:00 CEST becomes 02:00 CET in Amsterdam.
    period = latest_period(make_sub(), local(2026, 10, 26, 9, 0))
    assert period.duration == 169 * HOUR
    assert period.start.astimezone(AMS).hour == period.end.astimezone(AMS).hour == 8
    assert (period.start.hour, period.end.hour) == (6, 7)  # UTC: CEST+2, then CET+1


def test_the_week_across_the_start_of_dst_lasts_167_hours() -> None:
    # 2026-03-29 02:00 CET becomes 03:00 CEST.
    period = latest_period(make_sub(), local(2026, 3, 30, 9, 0))
    assert period.duration == 167 * HOUR
    assert period.end.astimezone(AMS) == local(2026, 3, 30, 8, 0)


def test_daily_periods_across_dst_last_23_and_25_hours() -> None:
    sub = make_sub(schedule="daily", day=None)
    assert latest_period(sub, local(2026, 3, 29, 9, 0)).duration == 23 * HOUR
    autumn = latest_period(sub, local(2026, 10, 25, 9, 0))
    assert autumn.duration == 25 * HOUR
    assert autumn.label == "2026-10-24"


def test_a_time_inside_the_spring_gap_is_read_with_the_old_offset() -> None:
    sub = make_sub(schedule="daily", day=None, time=time(2, 30))
    period = latest_period(sub, local(2026, 3, 29, 12, 0))
    # 02:30 does not exist that night; 02:30 CET is 01:30 UTC, i.e. 03:30 CEST.
    assert period.end == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_other_days_and_zones() -> None:
    sub = make_sub(day=4, time=time(17, 0), timezone="America/New_York")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # Monday
    period = latest_period(sub, now)
    ny = ZoneInfo("America/New_York")
    assert period.end.astimezone(ny) == datetime(2026, 11, 20, 17, 0, tzinfo=ny)  # Friday
    assert period.end == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)


def test_the_first_digest_covers_only_the_latest_period() -> None:
    sub = make_sub()
    now = local(2026, 11, 23, 9, 0)
    assert due_period(sub, now, None) == latest_period(sub, now)


def test_nothing_is_due_until_the_next_period_ends() -> None:
    sub = make_sub()
    sent = latest_period(sub, local(2026, 11, 23, 9, 0))
    assert due_period(sub, local(2026, 11, 23, 9, 5), sent.end) is None
    assert due_period(sub, local(2026, 11, 30, 7, 59), sent.end) is None
    following = due_period(sub, local(2026, 11, 30, 8, 0), sent.end)
    assert following is not None and following.start == sent.end
    assert following.label == "2026-W48" and following.duration == 168 * HOUR


def test_a_worker_down_for_three_weeks_catches_up_once() -> None:
    sub = make_sub()
    last = latest_period(sub, local(2026, 11, 2, 9, 0))  # W44, planned before the outage
    now = local(2026, 11, 23, 10, 0)
    due = due_period(sub, now, last.end)
    assert due is not None
    assert due.start == last.end and due.end == local(2026, 11, 23, 8, 0)
    assert due.duration == 3 * 168 * HOUR
    assert due.label == "2026-W45..2026-W47"
    # Planned once: the next checks find nothing until next Monday.
    for minutes in (1, 60, 24 * 60):
        assert due_period(sub, now + timedelta(minutes=minutes), due.end) is None


def test_a_changed_schedule_keeps_periods_contiguous_and_keys_unique() -> None:
    monday = make_sub()
    sent = latest_period(monday, local(2026, 11, 23, 9, 0))  # ends Mon 23 Nov
    friday = replace(monday, day=4)
    due = due_period(friday, local(2026, 11, 27, 9, 0), sent.end)
    assert due is not None and due.start == sent.end
    assert due.end == local(2026, 11, 27, 8, 0)
    assert digest_key(friday.id, due) != digest_key(monday.id, sent)


def test_digest_keys_are_stable() -> None:
    period = latest_period(make_sub(), local(2026, 11, 23, 9, 0))
    assert digest_key("sales", period) == "digest:sales:2026-11-16T07:00Z"
    assert digest_key("sales", period) == digest_key("sales", replace(period, label="x"))


def test_named_periods() -> None:
    sub = make_sub()
    now = local(2026, 11, 25, 12, 0)  # a Wednesday
    assert period_named(sub, "last", now) == latest_period(sub, now)
    assert period_named(sub, "last-week", now) == latest_period(sub, now)
    assert period_named(sub, "current", now) == current_period(sub, now)
    week = period_named(sub, "2026-W47", now)
    assert (week.start, week.end, week.label) == (
        local(2026, 11, 16, 8, 0),
        local(2026, 11, 23, 8, 0),
        "2026-W47",
    )
    day = period_named(sub, "2026-11-20", now)
    assert (day.start, day.duration) == (local(2026, 11, 20, 8, 0), 24 * HOUR)
    last_day = period_named(sub, "last-day", now)
    assert last_day.end == local(2026, 11, 23, 8, 0) and last_day.duration == 24 * HOUR
    instant = make_sub(schedule="instant", day=None)
    assert period_named(instant, "last", now).duration == 168 * HOUR
    for bad in ("last-month", "2026-W60", "2026-13-01", ""):
        with pytest.raises(ValueError):
            period_named(sub, bad, now)


def test_instant_subscriptions_have_no_due_periods() -> None:
    with pytest.raises(ValueError, match="instant"):
        due_period(make_sub(schedule="instant", day=None), local(2026, 11, 23, 9), None)


ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    schedule=st.sampled_from(["weekly", "daily"]),
    day=st.integers(0, 6),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 59]),
    gaps=st.lists(st.integers(1, 24 * 40), min_size=1, max_size=25),
)
def test_periods_planned_by_any_check_times_are_contiguous_and_on_schedule(
    zone: str, schedule: str, day: int, hour: int, minute: int, gaps: list[int]
) -> None:
    """Whatever the check times (frequent, or after weeks down), planned periods tile time
    without gaps or overlaps, each ends at the local time on schedule, and no check plans
    more than one."""
    sub = make_sub(
        schedule=schedule,
        day=day if schedule == "weekly" else None,
        time=time(hour, minute),
        timezone=zone,
    )
    tz = ZoneInfo(zone)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    last_end: datetime | None = None
    for gap in gaps:
        now += timedelta(hours=gap)
        period = due_period(sub, now, last_end)
        if period is None:
            continue
        assert period.end <= now and period.start < period.end
        if last_end is not None:
            assert period.start == last_end
        end_local = period.end.astimezone(tz)
        assert period.end == latest_period(sub, now).end
        if (end_local.hour, end_local.minute) != (hour, minute):
            # Only a wall time that does not exist that day (a DST gap) may move.
            wall = datetime.combine(end_local.date(), time(hour, minute), tzinfo=tz)
            assert wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall.replace(
                tzinfo=None
            )
        if schedule == "weekly":
            assert end_local.weekday() == day
        assert due_period(sub, now, period.end) is None
        last_end = period.end
