"""config/subscriptions.yaml: the shipped file loads, and every mistake names file:line."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from worker.deliver.subscriptions import (
    check_subscriptions,
    load_subscriptions,
    parse_day,
    parse_time,
    subscription_from_row,
)
from worker.errors import ConfigError, ConfigErrors
from worker.watchlists.schema import load_watchlists

WATCHLISTS = {"eu-expansion", "leapmotor", "after-sales", "ev-tariffs"}


def test_the_shipped_file_loads_against_the_shipped_watchlists(repo_root: Path) -> None:
    ids = set(load_watchlists(repo_root / "config" / "watchlists.yaml").watchlists)
    subs = load_subscriptions(repo_root / "config" / "subscriptions.yaml", watchlist_ids=ids)
    by_id = {s.id: s for s in subs}
    weekly = by_id["sales-team-weekly"]
    assert weekly.channel == "email" and weekly.email == "analyst@example.com"
    assert weekly.watchlists == ("eu-expansion", "leapmotor")
    assert (weekly.schedule, weekly.day, weekly.time) == ("weekly", 0, time(8, 0))
    assert weekly.timezone == "Europe/Amsterdam" and weekly.min_score == 1.0
    assert by_id["after-sales-daily"].schedule == "daily"
    assert by_id["after-sales-daily"].day is None
    hook = by_id["tariff-alerts"]
    assert hook.channel == "webhook" and hook.secret and not hook.enabled
    assert "secret" not in repr(hook) and hook.secret not in repr(hook)


def test_defaults_fill_in_day_time_and_zone() -> None:
    text = "version: 1\nsubscriptions:\n  - {id: a, watchlists: [leapmotor], email: a@b.c}\n"
    [sub] = load_subscriptions("s.yaml", text)
    assert (sub.schedule, sub.day, sub.time, sub.timezone) == ("weekly", 0, time(8, 0), "UTC")
    assert sub.enabled and sub.origin == "yaml" and sub.is_digest


def test_all_mistakes_are_reported_with_their_lines() -> None:
    text = """version: 1
subscriptions:
  - id: two-channels
    watchlists: [leapmotor]
    email: a@example.com
    apprise: "ntfy://topic"
  - id: bad-zone
    watchlists: [leapmotor]
    email: a@example.com
    timezone: Europe/Amsterdma
  - id: bad-time
    watchlists: [leapmotor]
    email: a@example.com
    time: "25:00"
  - id: typo
    watchlists: [leapmotor]
    email: a@example.com
    shedule: daily
"""
    with pytest.raises(ConfigErrors) as info:
        load_subscriptions("config/subscriptions.yaml", text)
    messages = [str(e) for e in info.value.errors]
    expected = [
        ("config/subscriptions.yaml:3:", "exactly one of email, webhook, apprise"),
        ("config/subscriptions.yaml:10:", "unknown time zone 'Europe/Amsterdma'"),
        ("config/subscriptions.yaml:14:", "HH:MM"),
        ("config/subscriptions.yaml:18:", "unknown key 'shedule'"),
    ]
    for where, what in expected:
        assert any(m.startswith(where) and what in m for m in messages), (where, what, messages)
    assert len(messages) == len(expected)


def test_cross_checks_point_at_the_key_or_value() -> None:
    text = """version: 1
subscriptions:
  - id: same
    watchlists: [leapmotor]
    email: a@example.com
  - id: same
    watchlists: [leapmotor, no-such-list]
    email: b@example.com
  - id: weekly-hook
    watchlists: [leapmotor]
    webhook: {url: "http://127.0.0.1:9/x", secret: "long-enough-secret"}
  - id: daily-with-day
    watchlists: [leapmotor]
    email: a@example.com
    schedule: daily
    day: friday
"""
    with pytest.raises(ConfigErrors) as info:
        load_subscriptions("subs.yaml", text, watchlist_ids=WATCHLISTS)
    messages = [str(e) for e in info.value.errors]
    assert messages == [
        "subs.yaml:6:9: subscriptions.1.id: duplicate id 'same' (first defined at line 3)",
        "subs.yaml:7:29: subscriptions.1.watchlists: unknown watchlist id 'no-such-list'",
        "subs.yaml:11:5: subscriptions.2.webhook: webhooks deliver instant alerts: "
        "use schedule: instant",
        "subs.yaml:16:5: subscriptions.3.day: day is for weekly schedules, not daily",
    ]
    # Without the set of ids, unknown watchlists cannot be judged and are let through.
    with pytest.raises(ConfigErrors) as info:
        load_subscriptions("subs.yaml", text)
    assert len(info.value.errors) == 3


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("email: not-an-address", "not an email address"),
        ('apprise: "just words"', "apprise URL"),
        ("webhook: {url: ftp://x, secret: long-enough}", "http:// or https://"),
        ("webhook: {url: 'http://x', secret: short}", "at least 8 characters"),
    ],
)
def test_channel_values_are_checked(snippet: str, message: str) -> None:
    text = f"version: 1\nsubscriptions:\n  - id: x\n    watchlists: [a]\n    {snippet}\n"
    with pytest.raises(ConfigErrors) as info:
        load_subscriptions("s.yaml", text)
    assert message in str(info.value)


def test_reserved_id_prefix_and_bad_version_are_rejected() -> None:
    text = "version: 2\nsubscriptions:\n  - {id: db-7, watchlists: [a], email: a@b.c}\n"
    with pytest.raises(ConfigErrors) as info:
        load_subscriptions("s.yaml", text)
    text_errors = str(info.value)
    assert "s.yaml:1:1: version: Input should be 1" in text_errors
    assert "kept for CLI subscriptions" in text_errors


def test_a_missing_file_means_no_subscriptions(tmp_path: Path) -> None:
    assert load_subscriptions(tmp_path / "subscriptions.yaml") == []


def test_check_subscriptions_returns_messages(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "version: 1\nsubscriptions:\n  - {id: a, watchlists: [leapmotor], email: a@b.c}\n"
    )
    assert check_subscriptions(good, WATCHLISTS) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsubscriptions: [\n")
    [message] = check_subscriptions(bad, WATCHLISTS)
    assert message.startswith(f"{bad}:") and "invalid YAML" in message


def test_database_rows_become_subscriptions() -> None:
    row = SimpleNamespace(
        id=7,
        email="x@example.com",
        watchlist="leapmotor",
        schedule="weekly",
        day="fri",
        time="17:30",
        timezone="Europe/Berlin",
        active=False,
    )
    sub = subscription_from_row(row)
    assert sub.id == "db-7" and sub.origin == "db" and sub.channel == "email"
    assert (sub.watchlists, sub.day, sub.time) == (("leapmotor",), 4, time(17, 30))
    assert sub.timezone == "Europe/Berlin" and sub.enabled is False
    daily = subscription_from_row(SimpleNamespace(**{**vars(row), "schedule": "daily"}))
    assert daily.day is None
    with pytest.raises(ValueError, match="unknown schedule"):
        subscription_from_row(SimpleNamespace(**{**vars(row), "schedule": "hourly"}))


def test_day_and_time_parsing() -> None:
    assert [parse_day(d) for d in ("Monday", "tue", "WE", "sunday")] == [0, 1, 2, 6]
    assert parse_time("8:05") == time(8, 5)
    for bad_day in ("m", "someday", ""):
        with pytest.raises(ValueError):
            parse_day(bad_day)
    for bad_time in ("24:00", "8", "08:60", "8h"):
        with pytest.raises(ValueError):
            parse_time(bad_time)


def test_a_non_mapping_file_is_an_error() -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_subscriptions("s.yaml", "- just\n- a list\n")
