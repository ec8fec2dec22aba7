"""Digest periods: which stretch of time a digest covers, and which digest is due now.

Pure: takes a Subscription (schedule, day, time, timezone), `now` (aware, any zone) and
the end of the latest digest period already planned; returns Periods in UTC.

A period is [start, end), both occurrences of the subscription's `day time` (weekly) or
`time` (daily) in its local time zone, converted to UTC only after the local date
arithmetic, so a week across a DST change lasts 167 or 169 hours and a digest still goes
out at 08:00 local time. A local time that does not exist (inside the spring-forward
gap) is read with the offset before the change, i.e. an hour later on the wall clock; an
ambiguous one (autumn) is its first occurrence.

Catching up: a worker that was down for three weeks sends ONE digest, covering
everything since the last planned period ended (the missed periods collapsed into one),
so nothing is lost and nobody gets three emails at once. Periods stay contiguous even
when a subscription's day or time changes, because a due period always starts where the
last one ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from worker.deliver.subscriptions import Subscription

__all__ = [
    "Period",
    "current_period",
    "digest_key",
    "due_period",
    "latest_period",
    "period_named",
]


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC. `label` names it in local time: "2026-W47" or "2026-11-23".

    The label names the local date the period starts on (a weekly digest sent on Monday
    23 November covers week 47). Collapsed catch-up periods get "first..last".
    """

    start: datetime
    end: datetime
    label: str

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def digest_key(subscription_id: str, period: Period) -> str:
    """The natural key of a digest delivery: "digest:<subscription>:<start UTC>".

    Keyed by the start, not the label: a due period starts where the last one ended, so
    starts never repeat, even when a changed schedule would reuse a label.
    """
    return f"digest:{subscription_id}:{period.start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


def _step_days(sub: Subscription) -> int:
    return 7 if sub.schedule == "weekly" else 1


def _occurrence(sub: Subscription, local_day: date) -> datetime:
    """`sub.time` on `local_day` in the subscription's zone, as UTC."""
    local = datetime.combine(local_day, sub.time, tzinfo=sub.zone)
    # Convert before any comparison: Python compares two datetimes of the same tzinfo
    # by wall clock, which is exactly the DST mistake this module exists to avoid.
    return local.astimezone(UTC)


def _label(sub: Subscription, start_day: date, days: int) -> str:
    if days == 7:
        iso = start_day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if days == 1:
        return start_day.isoformat()
    return f"{start_day.isoformat()}+{days}d"


def _period(sub: Subscription, start_day: date, days: int) -> Period:
    return Period(
        _occurrence(sub, start_day),
        _occurrence(sub, start_day + timedelta(days=days)),
        _label(sub, start_day, days),
    )


def _latest_end_day(sub: Subscription, now: datetime) -> date:
    """The local date of the latest period end at or before `now`."""
    if sub.schedule == "instant":
        raise ValueError(f"subscription {sub.id!r} is instant: it has no digest periods")
    day = now.astimezone(sub.zone).date()
    if sub.schedule == "weekly":
        day -= timedelta(days=(day.weekday() - (sub.day or 0)) % 7)
    while _occurrence(sub, day) > now.astimezone(UTC):
        day -= timedelta(days=_step_days(sub))
    return day


def latest_period(sub: Subscription, now: datetime) -> Period:
    """The most recent period that has ended at `now` ("last week" for a weekly digest)."""
    step = _step_days(sub)
    return _period(sub, _latest_end_day(sub, now) - timedelta(days=step), step)


def current_period(sub: Subscription, now: datetime) -> Period:
    """The period in progress at `now` (for previews of "so far")."""
    return _period(sub, _latest_end_day(sub, now), _step_days(sub))


def due_period(sub: Subscription, now: datetime, last_end: datetime | None) -> Period | None:
    """The digest to plan now, or None when nothing is due.

    `last_end`: the end of the latest digest period planned for this subscription,
    whatever its status (a failed send is retried as that delivery, not re-planned);
    None if there was none. The first digest ever covers the latest ended period only;
    after downtime, one period runs from `last_end` to the latest end (catch up once).
    """
    latest = latest_period(sub, now)
    if last_end is None:
        return latest
    last_end = last_end.astimezone(UTC)
    if last_end >= latest.end:
        return None
    if last_end == latest.start:
        return latest
    start_day = last_end.astimezone(sub.zone).date()
    first = _label(sub, start_day, _step_days(sub))
    label = latest.label if first == latest.label else f"{first}..{latest.label}"
    return Period(last_end, latest.end, label)


_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def period_named(sub: Subscription, name: str, now: datetime) -> Period:
    """A period by name, for `newswatch digest --period NAME`.

    "last" (the latest ended period of the subscription's schedule), "last-week" and
    "last-day"/"yesterday" (the 7 or 1 days up to the latest end), "current" (in
    progress), "2026-W47" (that ISO week, from the subscription's day) or "2026-11-23"
    (that day). Times of day are the subscription's. ValueError on anything else.
    """
    # An instant subscription has no schedule of its own; preview it as a weekly one.
    base = sub if sub.schedule != "instant" else _as_weekly(sub)
    text = name.strip().lower()
    if text == "last":
        return latest_period(base, now)
    if text == "current":
        return current_period(base, now)
    if text in ("last-week", "last-day", "yesterday"):
        days = 7 if text == "last-week" else 1
        end_day = _latest_end_day(base, now)
        return _period(base, end_day - timedelta(days=days), days)
    if m := _ISO_WEEK.match(text.upper()):
        try:
            start_day = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError:
            raise ValueError(f"no such ISO week: {name!r}") from None
        return _period(base, start_day + timedelta(days=base.day or 0), 7)
    if _ISO_DAY.match(text):
        try:
            return _period(base, date.fromisoformat(text), 1)
        except ValueError:
            raise ValueError(f"no such date: {name!r}") from None
    raise ValueError(
        f"unknown period {name!r}: use last, last-week, last-day, current, "
        "an ISO week like 2026-W47 or a date like 2026-11-23"
    )


def _as_weekly(sub: Subscription) -> Subscription:
    return replace(sub, schedule="weekly", day=0)
