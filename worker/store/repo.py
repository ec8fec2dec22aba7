"""Reading and writing the store: plain functions that take a Session.

The caller owns the transaction (session_scope); nothing here commits. Writes are
idempotent by natural keys and rely on unique constraints and `INSERT ... ON CONFLICT`
(SQLite and PostgreSQL), never on "check then insert":
- articles by `key` (where it came from) and by `content_hash` (what it says);
- matches by (article_id, watchlist); feeds by name.

Concurrent writers are safe: the loser of an insert race sees the winner's row. Writers
of one article's matches serialise on the article row (it is updated first).

Timestamps passed in must be timezone-aware; they come back as aware UTC datetimes.
A row that is expected but gone (e.g. purged meanwhile) raises RowNotFound, a
PermanentError: record it and move on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.errors import PermanentError, TransientError
from worker.models import Article, Match
from worker.store.db import dialect_insert, rowcount
from worker.store.tables import ArticleRow, FeedRow, MatchRow

__all__ = [
    "MAX_KEY_LENGTH",
    "FeedConfig",
    "RowNotFound",
    "StoreCounts",
    "UpsertOutcome",
    "counts",
    "due_feeds",
    "get_articles",
    "list_articles",
    "mark_failed",
    "pending_articles",
    "purge_older_than",
    "record_fetch_failure",
    "record_fetch_success",
    "record_matches",
    "sync_feeds",
    "upsert_article",
]

UpsertOutcome = Literal["new", "updated", "seen", "duplicate"]

# PostgreSQL cannot index a btree entry above ~2700 bytes; keys stay well below that.
MAX_KEY_LENGTH = 2000

_MATCH_FIELDS = ("score", "brands", "themes", "highlights")

# How often an upsert retries when concurrent writers keep moving the rows it conflicts with.
_UPSERT_ATTEMPTS = 5


class RowNotFound(PermanentError):
    """The row an operation refers to does not exist (any more)."""


class FeedConfig(TypedDict):
    """One configured feed, as sync_feeds takes it."""

    name: str
    url: str
    language: str | None
    interval_seconds: int
    enabled: bool


class StoreCounts(TypedDict):
    """A run summary: totals, articles per status, matches per watchlist, feeds in trouble."""

    articles: int
    articles_by_status: dict[str, int]
    matches: dict[str, int]
    feeds: int
    feeds_with_errors: int


# --- articles ---------------------------------------------------------------------------


def upsert_article(
    session: Session,
    article: Article,
    *,
    key: str,
    content_hash: str,
    fetched_at: datetime,
    published_at: datetime | None,
) -> tuple[int, UpsertOutcome]:
    """Store `article` under its natural `key` and return (article_id, outcome).

    Outcomes:
    - "new": inserted, status "pending".
    - "seen": the key exists with the same content_hash; nothing changes.
    - "updated": the key exists with another content_hash; the content is replaced,
      status reset to "pending" (attempts 0, error cleared) and its matches deleted.
    - "duplicate": another key already holds this content_hash (the same story arriving
      twice); that article's id is returned and nothing is stored or changed. This also
      applies when an existing key's new content equals another article's.

    `language` is stored from the article's source hint until classification records
    the detected one. Raises PermanentError for a key longer than MAX_KEY_LENGTH.
    """
    if len(key) > MAX_KEY_LENGTH:
        raise PermanentError(f"article key longer than {MAX_KEY_LENGTH} characters: {key[:80]}…")
    content = {
        "url": article.url,
        "path": article.path,
        "source": article.source,
        "title": article.title,
        "body": article.body,
        "lede": article.lede,
        "published": article.published,
        "published_at": published_at,
        "language": article.language,
        "content_hash": content_hash,
        "fetched_at": fetched_at,
        "updated_at": fetched_at,
    }
    insert_new = (
        dialect_insert(session, ArticleRow)
        .values(key=key, status="pending", attempts=0, **content)
        .on_conflict_do_nothing()
        .returning(ArticleRow.id)
    )
    for _ in range(_UPSERT_ATTEMPTS):
        inserted = session.execute(insert_new).scalar_one_or_none()
        if inserted is not None:
            return inserted, "new"

        # The insert hit the key, the content_hash, or both. Lock the key's row (PostgreSQL)
        # so a concurrent update of the same key waits for us.
        same_key = session.execute(
            select(ArticleRow.id, ArticleRow.content_hash)
            .where(ArticleRow.key == key)
            .with_for_update()
        ).one_or_none()
        if same_key is not None and same_key.content_hash == content_hash:
            return same_key.id, "seen"

        holder = session.scalar(
            select(ArticleRow.id).where(ArticleRow.content_hash == content_hash)
        )
        if holder is not None:
            return holder, "duplicate"
        if same_key is None:
            continue  # the row we conflicted with was deleted meanwhile

        try:
            with session.begin_nested():
                session.execute(
                    update(ArticleRow)
                    .where(ArticleRow.id == same_key.id)
                    .values(status="pending", attempts=0, error=None, classified_at=None, **content)
                )
        except IntegrityError:
            continue  # another writer stored this content_hash meanwhile: now a duplicate
        session.execute(delete(MatchRow).where(MatchRow.article_id == same_key.id))
        return same_key.id, "updated"
    raise TransientError(f"article {key!r} kept changing under concurrent writers")


def pending_articles(
    session: Session, limit: int, *, unchanged_since: datetime | None = None
) -> list[ArticleRow]:
    """Up to `limit` articles waiting for classification, oldest fetched first.

    With `unchanged_since`, only those not updated after it: a sweep then leaves alone
    the articles whose classification task is probably still queued.
    """
    query = select(ArticleRow).where(ArticleRow.status == "pending")
    if unchanged_since is not None:
        query = query.where(ArticleRow.updated_at <= unchanged_since)
    rows = session.scalars(query.order_by(ArticleRow.fetched_at, ArticleRow.id).limit(limit))
    return list(rows)


def unplanned_match_ids(session: Session, *, created_before: datetime, limit: int) -> list[int]:
    """Matches new to their article that delivery has not planned alerts for yet."""
    rows = session.scalars(
        select(MatchRow.id)
        .where(MatchRow.alerts_planned_at.is_(None), MatchRow.created_at <= created_before)
        .order_by(MatchRow.id)
        .limit(limit)
    )
    return list(rows)


def mark_alerts_planned(session: Session, match_ids: Sequence[int], now: datetime) -> None:
    if match_ids:
        session.execute(
            update(MatchRow).where(MatchRow.id.in_(list(match_ids))).values(alerts_planned_at=now)
        )


def get_articles(session: Session, ids: Iterable[int]) -> list[ArticleRow]:
    """The articles with these ids, in the order given; ids that do not exist are skipped."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    by_id = {
        row.id: row for row in session.scalars(select(ArticleRow).where(ArticleRow.id.in_(wanted)))
    }
    return [by_id[i] for i in wanted if i in by_id]


def record_matches(
    session: Session,
    article_id: int,
    matches: Sequence[Match],
    language: str,
    *,
    now: datetime | None = None,
) -> list[int]:
    """Make `matches` the article's complete set of matches and mark it classified.

    Matches of watchlists no longer in `matches` are deleted; the others are inserted or
    updated in place (keeping their id). Returns the ids of rows for watchlists that had no
    match for this article before, in the order of `matches`: only those should trigger
    alerts. Raises ValueError if a watchlist appears twice, RowNotFound if the article is gone.
    """
    now = now or datetime.now(UTC)
    watchlists = [m.watchlist for m in matches]
    if len(set(watchlists)) != len(watchlists):
        raise ValueError(f"duplicate watchlists in matches for article {article_id}: {watchlists}")

    # Updating the article first locks its row (PostgreSQL) for the rest of the
    # transaction, so the "existing" set read below cannot change under us.
    marked = session.execute(
        update(ArticleRow)
        .where(ArticleRow.id == article_id)
        .values(status="classified", language=language, error=None, classified_at=now)
    )
    if rowcount(marked) == 0:
        raise RowNotFound(f"article {article_id} does not exist")

    existing = set(
        session.scalars(select(MatchRow.watchlist).where(MatchRow.article_id == article_id))
    )
    stale = existing - set(watchlists)
    if stale:
        session.execute(
            delete(MatchRow).where(MatchRow.article_id == article_id, MatchRow.watchlist.in_(stale))
        )

    if not matches:
        return []
    # One multi-row upsert per article: a statement per match cost more than classifying.
    rows = [{"article_id": article_id, "created_at": now, **match.to_dict()} for match in matches]
    insert = dialect_insert(session, MatchRow).values(rows)
    upsert = insert.on_conflict_do_update(
        index_elements=[MatchRow.article_id, MatchRow.watchlist],
        set_={name: insert.excluded[name] for name in _MATCH_FIELDS},
    ).returning(MatchRow.id, MatchRow.watchlist)
    ids = {watchlist: match_id for match_id, watchlist in session.execute(upsert)}
    new_ids = [ids[m.watchlist] for m in matches if m.watchlist not in existing]
    return new_ids


def mark_failed(
    session: Session, article_id: int, error: str, *, now: datetime | None = None
) -> None:
    """Record a failed classification: status "failed", attempts + 1, the error kept."""
    result = session.execute(
        update(ArticleRow)
        .where(ArticleRow.id == article_id)
        .values(
            status="failed",
            attempts=ArticleRow.attempts + 1,
            error=error,
            updated_at=now or datetime.now(UTC),
        )
    )
    if rowcount(result) == 0:
        raise RowNotFound(f"article {article_id} does not exist")


def list_articles(
    session: Session,
    *,
    watchlist: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[tuple[ArticleRow, list[MatchRow]]]:
    """Articles newest first, each with its matches (highest score first).

    "Newest" is published_at, or fetched_at when the publication date is unknown or
    partial; `since` filters on the same instant. With `watchlist`, only articles that
    matched it are listed and only that watchlist's match is attached; without it, every
    article is listed, unmatched ones with an empty list.
    """
    when = func.coalesce(ArticleRow.published_at, ArticleRow.fetched_at)
    query = select(ArticleRow).order_by(when.desc(), ArticleRow.id.desc())
    if watchlist is not None:
        query = query.where(
            select(MatchRow.id)
            .where(MatchRow.article_id == ArticleRow.id, MatchRow.watchlist == watchlist)
            .exists()
        )
    if since is not None:
        query = query.where(when >= since)
    if limit is not None:
        query = query.limit(limit)
    articles = list(session.scalars(query))

    by_article: dict[int, list[MatchRow]] = {a.id: [] for a in articles}
    if articles:
        match_query = (
            select(MatchRow)
            .where(MatchRow.article_id.in_(by_article))
            .order_by(MatchRow.score.desc(), MatchRow.watchlist)
        )
        if watchlist is not None:
            match_query = match_query.where(MatchRow.watchlist == watchlist)
        for match in session.scalars(match_query):
            by_article[match.article_id].append(match)
    return [(a, by_article[a.id]) for a in articles]


def purge_older_than(session: Session, days: int, now: datetime) -> int:
    """Delete articles fetched more than `days` days before `now`; return how many.

    Their matches and deliveries go with them (ON DELETE CASCADE). Digest deliveries,
    which belong to no article, stay. Raises ValueError for days < 1.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    result = session.execute(
        delete(ArticleRow).where(ArticleRow.fetched_at < now - timedelta(days=days))
    )
    return rowcount(result)


def counts(session: Session) -> StoreCounts:
    """Totals for a run summary."""
    by_status = {
        status: n
        for status, n in session.execute(
            select(ArticleRow.status, func.count()).group_by(ArticleRow.status)
        )
    }
    per_watchlist = {
        name: n
        for name, n in session.execute(
            select(MatchRow.watchlist, func.count())
            .group_by(MatchRow.watchlist)
            .order_by(MatchRow.watchlist)
        )
    }
    feeds, failing = session.execute(
        select(
            func.count(),
            func.count(case((FeedRow.enabled & (FeedRow.failure_count > 0), 1))),
        ).select_from(FeedRow)
    ).one()
    return {
        "articles": sum(by_status.values()),
        "articles_by_status": by_status,
        "matches": per_watchlist,
        "feeds": feeds,
        "feeds_with_errors": failing,
    }


# --- feeds ------------------------------------------------------------------------------


def sync_feeds(
    session: Session, feeds: Sequence[FeedConfig], *, now: datetime | None = None
) -> None:
    """Make the feeds table follow the configuration.

    Feeds are inserted or updated by name; a feed whose URL changed forgets its
    conditional-GET validators and is polled at once. Feeds no longer configured are
    disabled, not deleted, so their history stays. Raises ValueError on a repeated name.
    """
    now = now or datetime.now(UTC)
    names = [f["name"] for f in feeds]
    if len(set(names)) != len(names):
        raise ValueError(f"feed names must be unique: {names}")

    for feed in feeds:
        stmt = dialect_insert(session, FeedRow).values(
            name=feed["name"],
            url=feed["url"],
            language=feed["language"],
            interval_seconds=feed["interval_seconds"],
            enabled=feed["enabled"],
            failure_count=0,
            created_at=now,
            updated_at=now,
        )
        new = stmt.excluded
        moved = FeedRow.url != new.url
        stmt = stmt.on_conflict_do_update(
            index_elements=[FeedRow.name],
            set_={
                "url": new.url,
                "language": new.language,
                "interval_seconds": new.interval_seconds,
                "enabled": new.enabled,
                # Validators of the old URL mean nothing for the new one.
                "etag": case((moved, None), else_=FeedRow.etag),
                "last_modified": case((moved, None), else_=FeedRow.last_modified),
                "final_url": case((moved, None), else_=FeedRow.final_url),
                "next_poll_at": case((moved, None), else_=FeedRow.next_poll_at),
                "updated_at": new.updated_at,
            },
        )
        session.execute(stmt)

    session.execute(
        update(FeedRow)
        .where(FeedRow.enabled, FeedRow.name.not_in(names))
        .values(enabled=False, updated_at=now)
    )


def due_feeds(session: Session, now: datetime) -> list[FeedRow]:
    """Enabled feeds whose next poll is due at `now`: never-polled first, then most overdue."""
    rows = session.scalars(
        select(FeedRow)
        .where(FeedRow.enabled, (FeedRow.next_poll_at.is_(None)) | (FeedRow.next_poll_at <= now))
        .order_by(FeedRow.next_poll_at.asc().nulls_first(), FeedRow.name)
    )
    return list(rows)


def record_fetch_success(
    session: Session,
    feed_id: int,
    *,
    etag: str | None,
    last_modified: str | None,
    final_url: str | None,
    status: int,
    now: datetime,
    next_poll_at: datetime,
    error: str | None = None,
) -> None:
    """Record a successful poll (including 304): the validators given replace the stored
    ones (pass the previous ones to keep them), the failure count is cleared. `error` keeps
    what was wrong with a document that still gave entries (feedparser's bozo).
    """
    _update_feed(
        session,
        feed_id,
        etag=etag,
        last_modified=last_modified,
        final_url=final_url,
        last_status=status,
        last_error=error,
        failure_count=0,
        last_fetched_at=now,
        next_poll_at=next_poll_at,
        updated_at=now,
    )


def record_fetch_failure(
    session: Session,
    feed_id: int,
    *,
    error: str,
    now: datetime,
    next_poll_at: datetime,
    status: int | None = None,
) -> None:
    """Record a failed poll: the error (and HTTP status if any), failure_count + 1.

    last_fetched_at keeps the time of the last success; validators are kept.
    """
    _update_feed(
        session,
        feed_id,
        last_status=status,
        last_error=error,
        failure_count=FeedRow.failure_count + 1,
        next_poll_at=next_poll_at,
        updated_at=now,
    )


# --- helpers ----------------------------------------------------------------------------


def _update_feed(session: Session, feed_id: int, **values: Any) -> None:
    result = session.execute(update(FeedRow).where(FeedRow.id == feed_id).values(**values))
    if rowcount(result) == 0:
        raise RowNotFound(f"feed {feed_id} does not exist")
