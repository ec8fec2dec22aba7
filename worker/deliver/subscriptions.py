"""config/subscriptions.yaml -> Subscription values (who gets what, how and when).

version: 1
subscriptions:
  - id: sales-team-weekly
    watchlists: [eu-expansion, leapmotor]
    email: analyst@example.com        # or  webhook: {url, secret}  or  apprise: "ntfy://..."
    schedule: weekly                  # weekly | daily | instant
    day: monday                       # weekly only (default monday)
    time: "08:00"                     # local time in `timezone` (default 08:00)
    timezone: Europe/Amsterdam        # IANA name (default UTC)
    min_score: 1.0                    # optional
    enabled: true                     # optional

Guarantees: every problem is reported as `file:line:col: message`, never as a traceback:
first all problems of form (YAML syntax, wrong type, unknown key, two channels, a bad
time, day or time zone), then all cross-checks (a duplicate id, an unknown watchlist id,
a webhook on a digest schedule, `day` on a daily schedule). A missing file
means "no subscriptions", not an error. Subscriptions added from the CLI (stored in the
database) become the same `Subscription` value through `subscription_from_row`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from worker.errors import ConfigError, ConfigErrors
from worker.yamlfile import key_mark, load_yaml, locate, validate, value_mark

__all__ = [
    "WEEKDAYS",
    "Channel",
    "Schedule",
    "Subscription",
    "SubscriptionsSpec",
    "check_subscriptions",
    "load_subscriptions",
    "parse_day",
    "parse_time",
    "subscription_from_row",
]

Schedule = Literal["weekly", "daily", "instant"]
Channel = Literal["email", "webhook", "apprise"]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DB_PREFIX = "db-"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}$"
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription, from YAML or from the database.

    `target` is the email address, the webhook URL or the apprise URL, by `channel`.
    `day` is 0 (Monday) to 6 (Sunday) for weekly schedules and None otherwise; `time` and
    `timezone` give when a digest period ends, in local time.
    """

    id: str
    watchlists: tuple[str, ...]
    channel: Channel
    target: str
    schedule: Schedule = "weekly"
    day: int | None = 0
    time: time = time(8, 0)
    timezone: str = "UTC"
    min_score: float = 0.0
    secret: str | None = field(default=None, repr=False)  # webhook signing secret
    enabled: bool = True
    origin: Literal["yaml", "db"] = "yaml"

    @property
    def email(self) -> str | None:
        return self.target if self.channel == "email" else None

    @property
    def is_digest(self) -> bool:
        return self.schedule != "instant"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_day(value: str) -> int:
    """ "monday", "Mon", "mo" -> 0 ... 6; ValueError otherwise."""
    text = value.strip().lower()
    if len(text) >= 2:
        for i, name in enumerate(WEEKDAYS):
            if name.startswith(text):
                return i
    raise ValueError(f"expected a weekday (monday ... sunday), got {value!r}")


def parse_time(value: str) -> time:
    """ "08:00" or "8:00" -> time(8, 0); ValueError otherwise."""
    m = _TIME.match(value.strip())
    if not m:
        raise ValueError(f'expected a time "HH:MM" (24-hour clock), got {value!r}')
    return time(int(m.group(1)), int(m.group(2)))


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like Europe/Amsterdam)"
        ) from None
    return value


# --- the file format ----------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookSpec(_Spec):
    url: str
    secret: str = Field(min_length=8)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value


class SubscriptionSpec(_Spec):
    id: str = Field(pattern=_ID)
    watchlists: list[str] = Field(min_length=1)
    email: str | None = None
    webhook: WebhookSpec | None = None
    apprise: str | None = None
    schedule: Schedule = "weekly"
    day: str | None = None
    time: str = "08:00"
    timezone: str = "UTC"
    min_score: float = Field(0.0, ge=0)
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _not_db(cls, value: str) -> str:
        if value.startswith(DB_PREFIX):
            raise ValueError(f"ids starting with {DB_PREFIX!r} are kept for CLI subscriptions")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.strip()):
            raise ValueError(f"not an email address: {value!r}")
        return value.strip() if value else value

    @field_validator("apprise")
    @classmethod
    def _apprise(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S", value):
            raise ValueError('expected an apprise URL like "ntfy://topic" or "slack://..."')
        return value

    @field_validator("day")
    @classmethod
    def _day(cls, value: str | None) -> str | None:
        if value is not None:
            parse_day(value)
        return value

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)

    @model_validator(mode="after")
    def _consistent(self) -> SubscriptionSpec:
        channels = [n for n in ("email", "webhook", "apprise") if getattr(self, n) is not None]
        if len(channels) != 1:
            found = ", ".join(channels) if channels else "none"
            raise ValueError(f"needs exactly one of email, webhook, apprise (found: {found})")
        return self

    def problems(self) -> list[tuple[str, str]]:
        """(key to point at, message) for combinations of valid values that do not fit."""
        out = []
        if self.webhook is not None and self.schedule != "instant":
            where = "schedule" if "schedule" in self.model_fields_set else "webhook"
            out.append((where, "webhooks deliver instant alerts: use schedule: instant"))
        if self.day is not None and self.schedule != "weekly":
            out.append(("day", f"day is for weekly schedules, not {self.schedule}"))
        return out

    def to_subscription(self) -> Subscription:
        channel: Channel
        if self.email is not None:
            channel, target, secret = "email", self.email, None
        elif self.webhook is not None:
            channel, target, secret = "webhook", self.webhook.url, self.webhook.secret
        else:
            channel, target, secret = "apprise", self.apprise or "", None
        return Subscription(
            id=self.id,
            watchlists=tuple(dict.fromkeys(self.watchlists)),
            channel=channel,
            target=target,
            schedule=self.schedule,
            day=parse_day(self.day or "monday") if self.schedule == "weekly" else None,
            time=parse_time(self.time),
            timezone=self.timezone,
            min_score=self.min_score,
            secret=secret,
            enabled=self.enabled,
        )


class SubscriptionsSpec(_Spec):
    version: Literal[1]
    subscriptions: list[SubscriptionSpec] = Field(default_factory=list)

    @field_validator("subscriptions", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


def load_subscriptions(
    path: Path | str,
    text: str | None = None,
    *,
    watchlist_ids: Collection[str] | None = None,
) -> list[Subscription]:
    """Every subscription of the file, disabled ones included (check `enabled`).

    With `watchlist_ids`, a watchlist id not among them is an error. Raises ConfigError(s)
    with file:line:col; a file that does not exist gives [].
    """
    file = str(path)
    if text is None and not Path(path).exists():
        return []
    data = load_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with version and subscriptions", file, 1, 1)
    spec = validate(SubscriptionsSpec, data, file)
    errors: list[ConfigError] = []
    seen: dict[str, int] = {}
    for i, sub in enumerate(spec.subscriptions):
        mark = value_mark(data, ("subscriptions", i, "id"))
        if sub.id in seen:
            first = value_mark(data, ("subscriptions", seen[sub.id], "id"))
            errors.append(
                _error(
                    file,
                    mark,
                    f"subscriptions.{i}.id: duplicate id {sub.id!r}"
                    + (f" (first defined at line {first.line})" if first else ""),
                )
            )
        seen.setdefault(sub.id, i)
        for key, message in sub.problems():
            where = key_mark(data, ("subscriptions", i, key))
            errors.append(_error(file, where, f"subscriptions.{i}.{key}: {message}"))
        if watchlist_ids is not None:
            for j, wid in enumerate(sub.watchlists):
                if wid not in watchlist_ids:
                    errors.append(
                        _error(
                            file,
                            locate(data, ("subscriptions", i, "watchlists", j)),
                            f"subscriptions.{i}.watchlists: unknown watchlist id {wid!r}",
                        )
                    )
    if errors:
        raise ConfigErrors(errors)
    return [s.to_subscription() for s in spec.subscriptions]


def check_subscriptions(path: Path | str, watchlist_ids: Collection[str]) -> list[str]:
    """`newswatch check`: one `file:line:col: message` per problem, [] when all is well."""
    try:
        load_subscriptions(path, watchlist_ids=watchlist_ids)
    except ConfigErrors as exc:
        return [str(e) for e in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    return []


def _error(file: str, mark: Any, message: str) -> ConfigError:
    if mark is None:
        return ConfigError(message, file)
    return ConfigError(message, file, mark.line, mark.column)


# --- subscriptions stored in the database -------------------------------------------------


class SubscriptionRowLike(Protocol):
    """The columns of store.tables.SubscriptionRow this module reads (no store import)."""

    id: int
    email: str
    watchlist: str
    schedule: str
    day: str | None
    time: str | None
    timezone: str
    active: bool


def subscription_from_row(row: SubscriptionRowLike) -> Subscription:
    """A CLI-added subscription (one email, one watchlist) as a Subscription.

    Its id is "db-<row id>", a prefix YAML ids may not use, so the two never collide in
    delivery keys. Raises ValueError on a row with an impossible schedule, day or time.
    """
    schedule = row.schedule
    if schedule not in ("weekly", "daily", "instant"):
        raise ValueError(f"subscription row {row.id}: unknown schedule {schedule!r}")
    return Subscription(
        id=f"{DB_PREFIX}{row.id}",
        watchlists=(row.watchlist,),
        channel="email",
        target=row.email,
        schedule=schedule,  # type: ignore[arg-type]
        day=parse_day(row.day or "monday") if schedule == "weekly" else None,
        time=parse_time(row.time or "08:00"),
        timezone=_check_zone(row.timezone or "UTC"),
        enabled=bool(row.active),
        origin="db",
    )
