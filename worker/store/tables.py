"""The database schema: SQLAlchemy 2 declarative tables, portable between SQLite and PostgreSQL.

Tables: feeds (poll state), articles (one row per story), matches (article x watchlist),
deliveries (one row per message to send) and subscriptions (added from the CLI).

Guarantees:
- every timestamp is stored as UTC and comes back timezone-aware on both databases;
  binding a naive datetime raises ValueError instead of guessing its zone;
- natural keys are unique constraints (articles.key, articles.content_hash, feeds.name,
  matches(article_id, watchlist), deliveries.key, subscriptions(email, watchlist)), so
  idempotence is enforced by the database, not by "check then insert";
- deleting an article deletes its matches and deliveries (ON DELETE CASCADE);
- constraint names follow NAMING_CONVENTION, so migrations can refer to them by name.

The migration in migrations/versions/0001_initial.py spells out the same schema; a test
compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ARTICLE_STATUSES",
    "DELIVERY_CHANNELS",
    "DELIVERY_STATUSES",
    "NAMING_CONVENTION",
    "ArticleRow",
    "Base",
    "DeliveryRow",
    "FeedRow",
    "MatchRow",
    "OptOutRow",
    "SubscriptionRow",
    "UTCDateTime",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ARTICLE_STATUSES = ("pending", "classified", "failed")
DELIVERY_CHANNELS = ("email", "webhook", "apprise", "file")
# pending: planned; sending: claimed by one worker; sent; failed: will be retried; dead: gave
# up (visible in `newswatch deliveries --failed`); folded: a near-duplicate of an earlier
# alert; skipped: an empty digest period (nothing to send).
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "dead", "folded", "skipped")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores TIMESTAMP WITH TIME ZONE and returns it in the session's zone;
    SQLite has no zone at all and returns naive values. Both are normalised to UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware datetime")
        value = value.astimezone(UTC)
        # SQLite would store the offset as part of a string and then compare strings;
        # storing naive UTC keeps one format, so ordering and range filters stay correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class FeedRow(Base):
    """A configured feed and its polling state (conditional-GET validators, backoff)."""

    __tablename__ = "feeds"
    __table_args__ = (UniqueConstraint("name"), Index(None, "enabled", "next_poll_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    interval_seconds: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    last_fetched_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    failure_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # NULL means "never polled": due now.
    next_poll_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArticleRow(Base):
    """One stored story. `key` identifies where it came from, `content_hash` what it says."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("key"),
        # Unique, not only indexed: "the same story is stored once" holds under concurrency.
        UniqueConstraint("content_hash"),
        CheckConstraint(_one_of("status", ARTICLE_STATUSES), name="status"),
        Index(None, "status", "fetched_at"),
        Index(None, "fetched_at"),
        Index(None, "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    lede: Mapped[str | None] = mapped_column(Text)
    # As the source gave it ("2025-07" stays partial); published_at only for a full date.
    published: Mapped[str | None] = mapped_column(String(64))
    published_at: Mapped[datetime | None]
    # The source's hint until classification, then the detected language.
    language: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    error: Mapped[str | None] = mapped_column(Text)
    # Failed classification attempts since the content last changed.
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    fetched_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    classified_at: Mapped[datetime | None]


class MatchRow(Base):
    """A watchlist an article matched; at most one row per (article, watchlist)."""

    __tablename__ = "matches"
    __table_args__ = (UniqueConstraint("article_id", "watchlist"), Index(None, "watchlist"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    watchlist: Mapped[str] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(Float)
    brands: Mapped[list[Any]]
    themes: Mapped[list[Any]]
    highlights: Mapped[list[Any]]
    created_at: Mapped[datetime]
    # When delivery planned this match's instant alerts (the event outbox): a match whose
    # hand-over to delivery was lost (broker down) is found by the sweep while it is NULL.
    alerts_planned_at: Mapped[datetime | None]


class DeliveryRow(Base):
    """One message to send: an alert (article_id set) or a digest (period_start/end set).

    `key` is the natural key, e.g. "alert:<subscription>:<article_id>" or
    "digest:<subscription>:<period_start>", so a delivery is planned once.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("key"),
        CheckConstraint(_one_of("channel", DELIVERY_CHANNELS), name="channel"),
        CheckConstraint(_one_of("status", DELIVERY_STATUSES), name="status"),
        Index(None, "status", "created_at"),
        Index(None, "subscription", "fingerprint"),
        Index(None, "article_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    subscription: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(16))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None]
    fingerprint: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class SubscriptionRow(Base):
    """A subscription added from the CLI, one per (email, watchlist); unsubscribing keeps it."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("email", "watchlist"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    watchlist: Mapped[str] = mapped_column(String(200))
    schedule: Mapped[str] = mapped_column(String(16))  # e.g. "instant", "daily", "weekly"
    day: Mapped[str | None] = mapped_column(String(16))  # weekday for weekly digests
    time: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" in `timezone`
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'UTC'"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime]
    unsubscribed_at: Mapped[datetime | None]


class OptOutRow(Base):
    """An unsubscribe from a subscription defined in subscriptions.yaml (the file is the
    operator's and is never rewritten): (subscription id, email) no longer receives."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("subscription", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription: Mapped[str] = mapped_column(String(320))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
