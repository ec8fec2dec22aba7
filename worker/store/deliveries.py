"""Reading and writing delivery records: plan once, claim, then record the outcome.

Exactly-once rests on three rules:
- a delivery is planned under its natural key (alert:<subscription>:<article>,
  digest:<subscription>:<period start>) with INSERT ... ON CONFLICT DO NOTHING, before any
  sending, so re-running a task plans nothing new;
- a sender claims a delivery with one conditional UPDATE (pending/failed -> sending), so
  two workers never send the same delivery; a claim older than `stale_after` (its worker
  died) can be taken over;
- the outcome is recorded right after the send: sent, failed (retried later) or dead.
Functions take a Session; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from worker.store.db import dialect_insert, rowcount
from worker.store.tables import ArticleRow, DeliveryRow, MatchRow, OptOutRow, SubscriptionRow

OPEN_STATUSES = ("pending", "sending", "failed")


def plan(
    session: Session,
    *,
    key: str,
    subscription: str,
    channel: str,
    now: datetime,
    article_id: int | None = None,
    period_start: datetime | None = None,
    period_end: datetime | None = None,
    payload: dict[str, Any] | None = None,
    fingerprint: str | None = None,
    status: str = "pending",
) -> tuple[int, bool]:
    """(delivery id, True if planned now; False if the key was planned before)."""
    stmt = (
        dialect_insert(session, DeliveryRow)
        .values(
            key=key,
            subscription=subscription,
            channel=channel,
            article_id=article_id,
            period_start=period_start,
            period_end=period_end,
            status=status,
            attempts=0,
            payload=payload,
            fingerprint=fingerprint,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[DeliveryRow.key])
        .returning(DeliveryRow.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return new_id, True
    existing = session.scalar(select(DeliveryRow.id).where(DeliveryRow.key == key))
    assert existing is not None
    return existing, False


def claim(
    session: Session, delivery_id: int, *, now: datetime, stale_after: timedelta
) -> DeliveryRow | None:
    """Take a delivery for sending (attempts + 1), or None if it is not ours to send."""
    result = session.execute(
        update(DeliveryRow)
        .where(
            DeliveryRow.id == delivery_id,
            or_(
                DeliveryRow.status.in_(("pending", "failed")),
                and_(DeliveryRow.status == "sending", DeliveryRow.updated_at < now - stale_after),
            ),
        )
        .values(status="sending", attempts=DeliveryRow.attempts + 1, updated_at=now)
    )
    if rowcount(result) == 0:
        return None
    return session.get(DeliveryRow, delivery_id)


def finish(
    session: Session,
    delivery_id: int,
    status: str,
    *,
    now: datetime,
    error: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now, "last_error": error}
    if status == "sent":
        values["sent_at"] = now
    if payload is not None:
        values["payload"] = payload
    session.execute(update(DeliveryRow).where(DeliveryRow.id == delivery_id).values(**values))


def reset_for_retry(session: Session, delivery_id: int, *, now: datetime) -> bool:
    """`newswatch deliveries --retry ID`: a dead or failed delivery gets a fresh start."""
    result = session.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == delivery_id, DeliveryRow.status.in_(("dead", "failed")))
        .values(status="pending", attempts=0, last_error=None, updated_at=now)
    )
    return bool(rowcount(result))


def recent_alerts(session: Session, subscription: str, since: datetime) -> list[tuple[int, str]]:
    """(id, fingerprint) of alerts planned for `subscription` since `since`, not folded."""
    rows = session.execute(
        select(DeliveryRow.id, DeliveryRow.fingerprint).where(
            DeliveryRow.subscription == subscription,
            DeliveryRow.article_id.is_not(None),
            DeliveryRow.fingerprint.is_not(None),
            DeliveryRow.created_at >= since,
            DeliveryRow.status.in_(("pending", "sending", "sent", "failed")),
        )
    )
    return [(i, fp) for i, fp in rows if fp]


def last_period_end(session: Session, subscription: str) -> datetime | None:
    return session.scalar(
        select(DeliveryRow.period_end)
        .where(DeliveryRow.subscription == subscription, DeliveryRow.period_end.is_not(None))
        .order_by(DeliveryRow.period_end.desc())
        .limit(1)
    )


def open_deliveries(session: Session, *, digests: bool) -> list[int]:
    column = DeliveryRow.period_end if digests else DeliveryRow.article_id
    return list(
        session.scalars(
            select(DeliveryRow.id)
            .where(DeliveryRow.status.in_(("pending", "failed")), column.is_not(None))
            .order_by(DeliveryRow.id)
        )
    )


def list_deliveries(
    session: Session, *, failed_only: bool = False, limit: int | None = None
) -> list[DeliveryRow]:
    query = select(DeliveryRow).order_by(DeliveryRow.id.desc())
    if failed_only:
        query = query.where(DeliveryRow.status.in_(("failed", "dead")))
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def matches_in_period(
    session: Session, watchlists: Sequence[str], start: datetime, end: datetime
) -> list[tuple[MatchRow, ArticleRow]]:
    """Matches recorded in [start, end) for these watchlists, with their articles."""
    rows = session.execute(
        select(MatchRow, ArticleRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(
            MatchRow.watchlist.in_(list(watchlists)),
            MatchRow.created_at >= start,
            MatchRow.created_at < end,
        )
        .order_by(MatchRow.score.desc(), MatchRow.id)
    )
    return [(m, a) for m, a in rows]


def matches_with_articles(
    session: Session, match_ids: Sequence[int]
) -> list[tuple[MatchRow, ArticleRow]]:
    rows = session.execute(
        select(MatchRow, ArticleRow)
        .join(ArticleRow, ArticleRow.id == MatchRow.article_id)
        .where(MatchRow.id.in_(list(match_ids)))
        .order_by(MatchRow.article_id, MatchRow.score.desc())
    )
    return [(m, a) for m, a in rows]


# --- subscriptions stored in the database --------------------------------------------------


def subscribe(
    session: Session,
    *,
    email: str,
    watchlist: str,
    schedule: str,
    day: str | None,
    time: str | None,
    timezone: str,
    now: datetime,
) -> int:
    """Insert or re-activate the (email, watchlist) subscription; returns its id."""
    stmt = dialect_insert(session, SubscriptionRow).values(
        email=email,
        watchlist=watchlist,
        schedule=schedule,
        day=day,
        time=time,
        timezone=timezone,
        active=True,
        created_at=now,
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[SubscriptionRow.email, SubscriptionRow.watchlist],
        set_={
            "schedule": stmt.excluded.schedule,
            "day": stmt.excluded.day,
            "time": stmt.excluded.time,
            "timezone": stmt.excluded.timezone,
            "active": True,
            "unsubscribed_at": None,
        },
    ).returning(SubscriptionRow.id)
    return int(session.execute(upsert).scalar_one())


def active_subscription_rows(session: Session) -> list[SubscriptionRow]:
    return list(session.scalars(select(SubscriptionRow).where(SubscriptionRow.active)))


def deactivate_email(session: Session, email: str, *, now: datetime) -> int:
    result = session.execute(
        update(SubscriptionRow)
        .where(SubscriptionRow.email == email, SubscriptionRow.active)
        .values(active=False, unsubscribed_at=now)
    )
    return rowcount(result)


def deactivate_row(session: Session, row_id: int, email: str, *, now: datetime) -> bool:
    result = session.execute(
        update(SubscriptionRow)
        .where(SubscriptionRow.id == row_id, SubscriptionRow.email == email)
        .values(active=False, unsubscribed_at=now)
    )
    return bool(rowcount(result))


def opt_out(session: Session, subscription: str, email: str, *, now: datetime) -> None:
    session.execute(
        dialect_insert(session, OptOutRow)
        .values(subscription=subscription, email=email, created_at=now)
        .on_conflict_do_nothing(index_elements=[OptOutRow.subscription, OptOutRow.email])
    )


def opted_out(session: Session) -> set[tuple[str, str]]:
    return {
        (s, e.casefold())
        for s, e in session.execute(select(OptOutRow.subscription, OptOutRow.email))
    }
