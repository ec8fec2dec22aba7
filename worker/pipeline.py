"""The use cases, one function each: (ctx, ids) -> result. Tasks and the CLI call these.

    scan_inbox      files in the inbox folders -> stored articles (new or changed only)
    poll_feed       one feed: conditional GET, parse, store entries, record the feed's state
    classify        stored articles -> recorded matches (+ ids of matches new to an article)
    purge           drop articles past the retention period, with matches and deliveries
    run_once        the embedded default: all of the above in-process, then a summary

Every step is idempotent: articles are keyed by canonical URL, file path or content hash
and upserted; matches are unique per (article, watchlist). One bad item (file, entry,
article) is recorded and skipped; it never stops the rest. TransientError propagates from
poll_feed (after the failure is recorded) so a task can retry it; everything else is data.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from worker.context import AppContext
from worker.errors import PermanentError, TransientError
from worker.models import Article
from worker.sources import feeds
from worker.sources.files import find_article_files, read_article_file
from worker.store import repo
from worker.store.db import session_scope
from worker.store.migrate import migrate
from worker.store.tables import FeedRow
from worker.text import fold, normalize
from worker.urls import canonical_url

log = logging.getLogger(__name__)

_SPACES = re.compile(r"\s+")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- identity -----------------------------------------------------------------------------


def content_hash(article: Article) -> str:
    """What the article says, insensitive to case, accents and white space."""
    text = fold(_SPACES.sub(" ", f"{article.title}\n{article.body}").strip())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def article_key(article: Article, digest: str) -> str:
    """Where it came from: canonical URL, else file path, else the content hash."""
    if article.url:
        return f"url:{canonical_url(article.url)}"
    if article.path:
        return f"file:{article.path}"
    return f"hash:{digest}"


def published_at(published: str | None) -> datetime | None:
    """A sortable timestamp when the date is complete; partial dates ("2025-07") give None."""
    if not published:
        return None
    try:
        if _FULL_DATE.match(published):
            return datetime.fromisoformat(published).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- ingestion ----------------------------------------------------------------------------


@dataclass
class IngestResult:
    new: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    seen: int = 0
    duplicate: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def to_classify(self) -> list[int]:
        return self.new + self.updated

    def add(self, other: IngestResult) -> None:
        self.new += other.new
        self.updated += other.updated
        self.seen += other.seen
        self.duplicate += other.duplicate
        self.errors += other.errors


def ingest(ctx: AppContext, articles: Iterable[Article], *, now: datetime) -> IngestResult:
    """Store articles, each in its own transaction so one bad article loses nothing else."""
    result = IngestResult()
    for article in articles:
        digest = content_hash(article)
        key = article_key(article, digest)
        try:
            with session_scope(ctx.sessions) as session:
                article_id, outcome = repo.upsert_article(
                    session,
                    article,
                    key=key,
                    content_hash=digest,
                    fetched_at=now,
                    published_at=published_at(article.published),
                )
        except PermanentError as exc:
            result.errors.append(f"{article.path or article.url or article.title[:60]}: {exc}")
            continue
        if outcome == "new":
            result.new.append(article_id)
        elif outcome == "updated":
            result.updated.append(article_id)
        elif outcome == "seen":
            result.seen += 1
        else:
            result.duplicate += 1
    return result


def inbox_folders(ctx: AppContext) -> list[tuple[Path, str]]:
    if ctx.settings.inbox_dirs:
        return [(Path(p), "*.txt") for p in ctx.settings.inbox_dirs]
    return [(spec.path, spec.pattern) for spec in ctx.sources().inbox]


def scan_inbox(ctx: AppContext) -> IngestResult:
    """New or changed files in the inbox folders become (updated) articles."""
    now = ctx.now()
    result = IngestResult()
    articles = []
    for folder, pattern in inbox_folders(ctx):
        if not folder.is_dir():
            result.errors.append(f"{folder}: inbox folder not found")
            continue
        for path in find_article_files([folder], [pattern]):
            try:
                articles.append(read_article_file(path, source="inbox"))
            except PermanentError as exc:
                result.errors.append(str(exc))
    result.add(ingest(ctx, articles, now=now))
    return result


# --- feeds --------------------------------------------------------------------------------


@dataclass
class FeedResult:
    feed_id: int
    name: str
    status: str  # "ok" | "not-modified" | "failed" | "skipped"
    ingest: IngestResult = field(default_factory=IngestResult)
    error: str | None = None


def sync_feeds(ctx: AppContext) -> None:
    """Make the feeds table follow sources.yaml."""
    default_interval = int(ctx.settings.feed_interval_seconds)
    configs: list[repo.FeedConfig] = [
        {
            "name": f.name,
            "url": f.url,
            "language": f.language,
            "interval_seconds": f.interval or default_interval,
            "enabled": f.enabled,
        }
        for f in ctx.sources().feeds
    ]
    with session_scope(ctx.sessions) as session:
        repo.sync_feeds(session, configs, now=ctx.now())


def due_feed_ids(ctx: AppContext, *, every_enabled: bool = False) -> list[int]:
    with session_scope(ctx.sessions) as session:
        if every_enabled:
            rows = session.query(FeedRow).filter(FeedRow.enabled).order_by(FeedRow.name).all()
        else:
            rows = repo.due_feeds(session, ctx.now())
        return [row.id for row in rows]


def poll_feed(ctx: AppContext, feed_id: int, *, raise_transient: bool = True) -> FeedResult:
    """Fetch one feed (conditional GET), store its new entries and record its state.

    Failures back the feed off (exponentially on its interval). A TransientError is raised
    again after it is recorded when `raise_transient`, so a Celery task can retry it.
    """
    settings = ctx.settings
    with session_scope(ctx.sessions) as session:
        feed = session.get(FeedRow, feed_id)
        if feed is None or not feed.enabled:
            return FeedResult(feed_id, feed.name if feed else "?", "skipped")
        name, url, language = feed.name, feed.url, feed.language
        etag, last_modified, failures = feed.etag, feed.last_modified, feed.failure_count
        interval = feed.interval_seconds
        # What is wrong with the document we hold (a bozo feed); a 304 means it still is.
        document_error = feed.last_error if failures == 0 else None
    now = ctx.now()
    try:
        fetched = feeds.fetch_feed(
            ctx.http, url, etag=etag, last_modified=last_modified, max_bytes=settings.max_feed_bytes
        )
    except (TransientError, PermanentError) as exc:
        delay = feeds.backoff_seconds(failures + 1, interval)
        with session_scope(ctx.sessions) as session:
            repo.record_fetch_failure(
                session,
                feed_id,
                error=str(exc),
                now=now,
                next_poll_at=now + timedelta(seconds=delay),
            )
        log.info("feed %s failed: %s", name, exc)
        if isinstance(exc, TransientError) and raise_transient:
            raise
        return FeedResult(feed_id, name, "failed", error=str(exc))

    if fetched.not_modified:
        outcome = FeedResult(feed_id, name, "not-modified", error=document_error)
    else:
        parsed = feeds.parse_feed(
            fetched.content or b"",
            base_url=fetched.final_url,
            fetched_at=now,
            source=name,
            language=language,
            content_type=fetched.content_type,
        )
        result = ingest(ctx, parsed.articles, now=now)
        result.errors += [f"{name}: {reason}" for reason in parsed.skipped]
        outcome = FeedResult(feed_id, name, "ok", result, parsed.error)
    with session_scope(ctx.sessions) as session:
        repo.record_fetch_success(
            session,
            feed_id,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            final_url=fetched.final_url,
            status=fetched.status,
            now=now,
            next_poll_at=now + timedelta(seconds=interval),
            error=outcome.error,
        )
    return outcome


# --- classification -------------------------------------------------------------------------


@dataclass
class ClassifyResult:
    classified: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    new_match_ids: list[int] = field(default_factory=list)
    matches: Counter[str] = field(default_factory=Counter)

    def add(self, other: ClassifyResult) -> None:
        self.classified += other.classified
        self.failed += other.failed
        self.new_match_ids += other.new_match_ids
        self.matches.update(other.matches)


def _article_of(row: Any) -> Article:
    return Article(
        title=row.title,
        body=row.body,
        url=row.url,
        path=row.path,
        source=row.source,
        published=row.published,
        language=row.language,
        lede=row.lede,
    )


def classify(ctx: AppContext, article_ids: Iterable[int]) -> ClassifyResult:
    """Classify stored articles and record their matches; a poison article is marked failed."""
    matcher = ctx.matcher()
    result = ClassifyResult()
    ids = list(article_ids)
    with session_scope(ctx.sessions) as session:
        articles = [(row.id, _article_of(row)) for row in repo.get_articles(session, ids)]
    for article_id, article in articles:
        try:
            norm = normalize(article)
            matches = matcher.classify(norm)
        except Exception as exc:  # a poison article must never block the queue
            log.exception("article %s cannot be classified", article_id)
            with session_scope(ctx.sessions) as session:
                repo.mark_failed(session, article_id, f"{type(exc).__name__}: {exc}", now=ctx.now())
            result.failed.append((article_id, str(exc)))
            continue
        try:
            with session_scope(ctx.sessions) as session:
                new_ids = repo.record_matches(
                    session, article_id, matches, norm.language, now=ctx.now()
                )
        except repo.RowNotFound:
            continue  # purged meanwhile: nothing to record
        result.classified += 1
        result.new_match_ids += new_ids
        result.matches.update(m.watchlist for m in matches)
    return result


def pending_article_ids(
    ctx: AppContext, limit: int, *, grace_seconds: float | None = None
) -> list[int]:
    """Pending articles; with `grace_seconds`, only those unchanged for that long."""
    since = ctx.now() - timedelta(seconds=grace_seconds) if grace_seconds else None
    with session_scope(ctx.sessions) as session:
        return [row.id for row in repo.pending_articles(session, limit, unchanged_since=since)]


def classify_pending(ctx: AppContext) -> ClassifyResult:
    """Classify every pending article, in batches (the sweep that guarantees nothing is lost)."""
    result = ClassifyResult()
    while ids := pending_article_ids(ctx, ctx.settings.classify_batch_size):
        batch = classify(ctx, ids)
        result.add(batch)
        if batch.classified == 0 and not batch.failed:
            break  # rows vanished under us; do not spin
    return result


def stored_articles(
    ctx: AppContext,
    *,
    watchlist: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Stored articles, newest first, as `newswatch articles --json` prints them."""
    with session_scope(ctx.sessions) as session:
        rows = repo.list_articles(session, watchlist=watchlist, since=since, limit=limit)
        return [
            {
                "id": a.id,
                "url": a.url,
                "path": a.path,
                "title": a.title,
                "source": a.source,
                "published": a.published,
                "language": a.language,
                "matches": [{"watchlist": m.watchlist, "score": m.score} for m in ms],
            }
            for a, ms in rows
        ]


def purge(ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as session:
        return repo.purge_older_than(session, ctx.settings.retention_days, ctx.now())


# --- the embedded default -------------------------------------------------------------------


@dataclass
class RunSummary:
    inbox: IngestResult
    feeds: list[FeedResult]
    classified: ClassifyResult
    purged: int
    totals: dict[str, Any]
    delivery: list[Any] = field(default_factory=list)


def prepare(ctx: AppContext) -> None:
    """Create or upgrade the schema and load the feeds from sources.yaml."""
    migrate(ctx.settings.effective_database_url)
    sync_feeds(ctx)


def run_once(
    ctx: AppContext,
    *,
    every_feed: bool = True,
    deliver: Callable[[AppContext, list[int]], Any] | None = None,
    digests: Callable[[AppContext], Any] | None = None,
) -> RunSummary:
    """One full pass in-process: ingest the inbox and feeds, classify, deliver, purge.

    `deliver` gets the ids of matches new to their article (instant alerts); `digests`
    sends the digests that are due. Both are delivery's; the pipeline only hands over.
    """
    prepare(ctx)
    inbox = scan_inbox(ctx)
    feed_ids = due_feed_ids(ctx, every_enabled=every_feed)
    with ThreadPoolExecutor(max_workers=8) as pool:
        feed_results = list(pool.map(lambda i: poll_feed(ctx, i, raise_transient=False), feed_ids))
    classified = classify_pending(ctx)
    delivery = [deliver(ctx, classified.new_match_ids)] if deliver else []
    if digests:
        delivery.append(digests(ctx))
    purged = purge(ctx)
    with session_scope(ctx.sessions) as session:
        totals = dict(repo.counts(session))
    return RunSummary(inbox, feed_results, classified, purged, totals, delivery)
