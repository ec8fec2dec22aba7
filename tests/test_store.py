"""The store on SQLite and PostgreSQL: migrations, upserts, matches, feeds, purge, time zones."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, Text, func, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from tests.support.databases import db_url, postgres_database  # noqa: F401
from worker.errors import PermanentError
from worker.models import Article, Highlight, Match
from worker.store.db import make_engine, make_session_factory, session_scope
from worker.store.migrate import head_revision, migrate
from worker.store.repo import (
    FeedConfig,
    RowNotFound,
    counts,
    due_feeds,
    get_articles,
    list_articles,
    mark_failed,
    pending_articles,
    purge_older_than,
    record_fetch_failure,
    record_fetch_success,
    record_matches,
    sync_feeds,
    upsert_article,
)
from worker.store.tables import ArticleRow, Base, DeliveryRow, FeedRow, MatchRow

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TABLES = {
    "alembic_version",
    "feeds",
    "articles",
    "matches",
    "deliveries",
    "subscriptions",
    "opt_outs",
}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:  # noqa: F811
    migrate(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def make_article(**overrides: Any) -> Article:
    fields: dict[str, Any] = {
        "title": "Acme recalls widgets",
        "body": "Acme Corp recalled 10,000 widgets on Monday.",
        "url": "https://example.com/acme",
        "source": "example",
        "published": "2026-03-02",
        "language": "en",
    }
    fields.update(overrides)
    return Article(**fields)


def hash_of(article: Article) -> str:
    return sha256(f"{article.title}\n{article.body}".encode()).hexdigest()


def store(
    factory: sessionmaker[Session],
    article: Article | None = None,
    *,
    key: str = "url:https://example.com/acme",
    fetched_at: datetime = T0,
    published_at: datetime | None = None,
) -> tuple[int, str]:
    article = article or make_article()
    with session_scope(factory) as session:
        return upsert_article(
            session,
            article,
            key=key,
            content_hash=hash_of(article),
            fetched_at=fetched_at,
            published_at=published_at,
        )


def article_row(factory: sessionmaker[Session], article_id: int) -> ArticleRow:
    with session_scope(factory) as session:
        row = session.get(ArticleRow, article_id)
        assert row is not None, f"article {article_id} missing"
        return row


def match(watchlist: str, score: float = 1.0) -> Match:
    return Match(
        watchlist=watchlist,
        score=score,
        brands=("Acme",),
        themes=("recall",),
        highlights=(Highlight("title", 0, 4, "Acme", "acme"),),
    )


def feed(name: str, url: str | None = None, *, enabled: bool = True) -> FeedConfig:
    return {
        "name": name,
        "url": url or f"https://{name}.example/rss",
        "language": "en",
        "interval_seconds": 900,
        "enabled": enabled,
    }


def count(factory: sessionmaker[Session], entity: type[Base]) -> int:
    with session_scope(factory) as session:
        return session.scalar(select(func.count()).select_from(entity)) or 0


# --- engines and migrations -------------------------------------------------------------


def test_migrate_twice_is_a_noop(db_url: str) -> None:  # noqa: F811
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            sync_feeds(session, [feed("kept")], now=T0)
        migrate(db_url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert count(make_session_factory(engine), FeedRow) == 1
    finally:
        engine.dispose()


def test_concurrent_migrations_all_succeed(db_url: str) -> None:  # noqa: F811
    # Separate processes, as worker and beat would be (alembic's `context` is process-global).
    ctx = multiprocessing.get_context("fork")
    processes = [ctx.Process(target=migrate, args=(db_url,)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=20)
    for process in processes:
        if process.is_alive():  # hung: end it so it holds no locks after the test
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0, 0, 0]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def test_migrated_schema_matches_metadata(engine: Engine) -> None:
    opts = {"compare_type": True, "compare_server_default": True}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, Base.metadata) == []

        # The comparison is live: a column the database lacks is reported.
        changed = MetaData(naming_convention=Base.metadata.naming_convention)
        for table in Base.metadata.sorted_tables:
            table.to_metadata(changed)
        changed.tables["feeds"].append_column(Column("extra", Text()))
        diff = compare_metadata(context, changed)
        assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "feeds", "extra")]


def test_engine_settings(engine: Engine, db_url: str) -> None:  # noqa: F811
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
        else:
            assert engine.dialect.driver == "psycopg"
            assert engine.pool._pre_ping  # type: ignore[attr-defined]
    if db_url.startswith("postgresql"):
        assert make_engine(db_url.replace("+psycopg", "")).dialect.driver == "psycopg"


def test_session_scope_rolls_back_on_error(factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), session_scope(factory) as session:
        upsert_article(
            session, make_article(), key="url:x", content_hash="h", fetched_at=T0, published_at=None
        )
        raise RuntimeError("boom")
    assert count(factory, ArticleRow) == 0


def test_read_only_sessions_do_not_wait_for_writers(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    article_id, _ = store(factory)
    readers = make_session_factory(engine, read_only=True)
    with session_scope(factory) as writer:
        mark_failed(writer, article_id, "uncommitted", now=T0)
        with session_scope(readers) as reader:
            assert reader.scalars(select(ArticleRow.status)).one() == "pending"
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="read-only"), session_scope(readers) as reader:
            mark_failed(reader, article_id, "refused", now=T0)


# --- articles ---------------------------------------------------------------------------


def test_upsert_new_then_seen_changes_nothing(factory: sessionmaker[Session]) -> None:
    article_id, outcome = store(factory)
    assert outcome == "new"
    row = article_row(factory, article_id)
    assert (row.status, row.attempts, row.title, row.language) == (
        "pending",
        0,
        make_article().title,
        "en",
    )

    again_id, outcome = store(factory, fetched_at=T0 + timedelta(hours=1))
    assert (again_id, outcome) == (article_id, "seen")
    assert article_row(factory, article_id).fetched_at == T0
    assert count(factory, ArticleRow) == 1


def test_upsert_updated_replaces_content_and_resets_classification(
    factory: sessionmaker[Session],
) -> None:
    article_id, _ = store(factory)
    with session_scope(factory) as session:
        record_matches(session, article_id, [match("acme")], "en", now=T0)
        mark_failed(session, article_id, "boom", now=T0)

    changed = make_article(body="Acme Corp recalled 20,000 widgets, not 10,000.")
    later = T0 + timedelta(hours=2)
    assert store(factory, changed, fetched_at=later) == (article_id, "updated")

    row = article_row(factory, article_id)
    assert row.body == changed.body
    assert row.content_hash == hash_of(changed)
    assert (row.status, row.attempts, row.error, row.classified_at) == ("pending", 0, None, None)
    assert row.fetched_at == later
    assert count(factory, MatchRow) == 0
    assert count(factory, ArticleRow) == 1


def test_upsert_same_content_under_another_key_is_a_duplicate(
    factory: sessionmaker[Session],
) -> None:
    article_id, _ = store(factory)
    again = store(factory, make_article(url="https://mirror.example/acme"), key="url:mirror")
    assert again == (article_id, "duplicate")
    assert count(factory, ArticleRow) == 1
    assert article_row(factory, article_id).url == "https://example.com/acme"


def test_upsert_changing_into_another_articles_content_is_a_duplicate(
    factory: sessionmaker[Session],
) -> None:
    first_id, _ = store(factory, key="url:a")
    other = make_article(title="Globex opens plant")
    second_id, _ = store(factory, other, key="url:b")
    assert store(factory, other, key="url:a") == (second_id, "duplicate")
    assert article_row(factory, first_id).title == make_article().title


def test_upsert_rejects_overlong_keys(factory: sessionmaker[Session]) -> None:
    with pytest.raises(PermanentError):
        store(factory, key="url:" + "x" * 3000)


def test_concurrent_upserts_of_one_key_store_one_row(factory: sessionmaker[Session]) -> None:
    outcomes = _race(factory, [("url:same", make_article()), ("url:same", make_article())])
    assert sorted(o for _, o in outcomes) == ["new", "seen"]
    assert len({i for i, _ in outcomes}) == 1
    assert count(factory, ArticleRow) == 1


def test_concurrent_upserts_of_one_story_under_two_keys_store_one_row(
    factory: sessionmaker[Session],
) -> None:
    outcomes = _race(factory, [("url:one", make_article()), ("url:two", make_article())])
    assert sorted(o for _, o in outcomes) == ["duplicate", "new"]
    assert len({i for i, _ in outcomes}) == 1
    assert count(factory, ArticleRow) == 1


def _race(factory: sessionmaker[Session], jobs: list[tuple[str, Article]]) -> list[tuple[int, str]]:
    """Run the upserts in parallel threads, each holding its transaction open a moment."""
    barrier = threading.Barrier(len(jobs))
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def run(key: str, article: Article) -> None:
        try:
            with session_scope(factory) as session:
                barrier.wait(timeout=5)
                result = upsert_article(
                    session,
                    article,
                    key=key,
                    content_hash=hash_of(article),
                    fetched_at=T0,
                    published_at=None,
                )
                time.sleep(0.1)  # keep the other writer waiting on our uncommitted row
            results.append(result)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors
    assert len(results) == len(jobs)
    return results


def test_pending_articles_oldest_first_and_get_articles(factory: sessionmaker[Session]) -> None:
    ids = [
        store(
            factory,
            make_article(title=f"story {n}"),
            key=f"url:{n}",
            fetched_at=T0 - timedelta(hours=n),
        )[0]
        for n in range(3)
    ]
    with session_scope(factory) as session:
        mark_failed(session, ids[2], "unreadable", now=T0)
        pending = pending_articles(session, limit=10)
        assert [a.id for a in pending] == [ids[1], ids[0]]
        assert [a.id for a in pending_articles(session, limit=1)] == [ids[1]]
        assert [a.id for a in get_articles(session, [ids[2], 999_999, ids[0]])] == [ids[2], ids[0]]
        assert get_articles(session, []) == []


def test_mark_failed_counts_attempts(factory: sessionmaker[Session]) -> None:
    article_id, _ = store(factory)
    for error in ("first", "second"):
        with session_scope(factory) as session:
            mark_failed(session, article_id, error, now=T0)
    row = article_row(factory, article_id)
    assert (row.status, row.attempts, row.error) == ("failed", 2, "second")
    with pytest.raises(RowNotFound), session_scope(factory) as session:
        mark_failed(session, 999_999, "gone")


# --- matches ----------------------------------------------------------------------------


def test_record_matches_reports_only_new_watchlists(factory: sessionmaker[Session]) -> None:
    article_id, _ = store(factory)
    with session_scope(factory) as session:
        first = record_matches(session, article_id, [match("alpha"), match("beta", 0.5)], "de")
    assert len(first) == 2

    with session_scope(factory) as session:
        second = record_matches(session, article_id, [match("beta", 0.9), match("gamma")], "de")
        rows = {
            m.watchlist: m
            for m in session.scalars(select(MatchRow).where(MatchRow.article_id == article_id))
        }
    assert set(rows) == {"beta", "gamma"}
    assert second == [rows["gamma"].id]
    assert rows["beta"].id == first[1]  # updated in place, not re-created
    assert rows["beta"].score == 0.9
    assert rows["gamma"].brands == ["Acme"]
    assert rows["gamma"].highlights == [
        {"field": "title", "start": 0, "end": 4, "text": "Acme", "term": "acme"}
    ]

    row = article_row(factory, article_id)
    assert (row.status, row.language) == ("classified", "de")
    assert row.classified_at is not None

    with session_scope(factory) as session:
        assert record_matches(session, article_id, [], "de") == []
    assert count(factory, MatchRow) == 0


def test_matches_are_unique_per_article_and_watchlist(factory: sessionmaker[Session]) -> None:
    article_id, _ = store(factory)
    with session_scope(factory) as session:
        record_matches(session, article_id, [match("alpha")], "en")
    duplicate = MatchRow(
        article_id=article_id,
        watchlist="alpha",
        score=1.0,
        brands=[],
        themes=[],
        highlights=[],
        created_at=T0,
    )
    with pytest.raises(IntegrityError), session_scope(factory) as session:
        session.add(duplicate)
    with pytest.raises(ValueError), session_scope(factory) as session:
        record_matches(session, article_id, [match("alpha"), match("alpha")], "en")
    with pytest.raises(RowNotFound), session_scope(factory) as session:
        record_matches(session, 999_999, [match("alpha")], "en")


def test_list_articles_newest_first_with_filters(factory: sessionmaker[Session]) -> None:
    old, _ = store(
        factory, make_article(title="old"), key="url:old", fetched_at=T0 - timedelta(days=3)
    )
    # Published long ago but fetched now: sorted by its publication date.
    dated, _ = store(
        factory,
        make_article(title="dated"),
        key="url:dated",
        fetched_at=T0,
        published_at=T0 - timedelta(days=2),
    )
    new, _ = store(factory, make_article(title="new"), key="url:new", fetched_at=T0)
    with session_scope(factory) as session:
        record_matches(session, old, [match("alpha"), match("beta")], "en")
        record_matches(session, new, [match("beta")], "en")

    with session_scope(factory) as session:
        everything = list_articles(session)
        assert [a.id for a, _ in everything] == [new, dated, old]
        assert [sorted(m.watchlist for m in ms) for _, ms in everything] == [
            ["beta"],
            [],
            ["alpha", "beta"],
        ]
        beta = list_articles(session, watchlist="beta")
        assert [(a.id, [m.watchlist for m in ms]) for a, ms in beta] == [
            (new, ["beta"]),
            (old, ["beta"]),
        ]
        recent = list_articles(session, since=T0 - timedelta(days=2, hours=1))
        assert [a.id for a, _ in recent] == [new, dated]
        assert [a.id for a, _ in list_articles(session, limit=1)] == [new]


# --- purge and counts -------------------------------------------------------------------


def test_purge_cascades_to_matches_and_deliveries(factory: sessionmaker[Session]) -> None:
    old, _ = store(
        factory, make_article(title="old"), key="url:old", fetched_at=T0 - timedelta(days=31)
    )
    recent, _ = store(factory, make_article(title="recent"), key="url:recent", fetched_at=T0)
    with session_scope(factory) as session:
        record_matches(session, old, [match("alpha")], "en")
        record_matches(session, recent, [match("alpha")], "en")
        for key, article_id in (("alert:old", old), ("alert:recent", recent), ("digest:d", None)):
            session.add(
                DeliveryRow(
                    key=key,
                    subscription="ops@example.com",
                    channel="email",
                    article_id=article_id,
                    payload={"k": key},
                    created_at=T0,
                    updated_at=T0,
                )
            )

    with session_scope(factory) as session:
        assert purge_older_than(session, 30, T0) == 1
    with session_scope(factory) as session:
        assert session.scalars(select(ArticleRow.id)).all() == [recent]
        assert session.scalars(select(MatchRow.article_id)).all() == [recent]
        assert sorted(session.scalars(select(DeliveryRow.key))) == ["alert:recent", "digest:d"]
        with pytest.raises(ValueError):
            purge_older_than(session, 0, T0)


def test_counts_summarise_the_store(factory: sessionmaker[Session]) -> None:
    a, _ = store(factory, make_article(title="a"), key="url:a")
    b, _ = store(factory, make_article(title="b"), key="url:b")
    store(factory, make_article(title="c"), key="url:c")
    with session_scope(factory) as session:
        record_matches(session, a, [match("alpha"), match("beta")], "en")
        record_matches(session, b, [match("alpha")], "en")
        sync_feeds(session, [feed("ok"), feed("broken"), feed("off", enabled=False)], now=T0)
        broken = {f.name: f.id for f in session.scalars(select(FeedRow))}
        for name in ("broken", "off"):
            record_fetch_failure(session, broken[name], error="timeout", now=T0, next_poll_at=T0)
        summary = counts(session)
    assert summary == {
        "articles": 3,
        "articles_by_status": {"classified": 2, "pending": 1},
        "matches": {"alpha": 2, "beta": 1},
        "feeds": 3,
        "feeds_with_errors": 1,
    }


# --- feeds ------------------------------------------------------------------------------


def test_feed_state_round_trip(factory: sessionmaker[Session]) -> None:
    later = T0 + timedelta(minutes=15)
    with session_scope(factory) as session:
        sync_feeds(session, [feed("beta"), feed("alpha")], now=T0)
        due = due_feeds(session, T0)
        assert [f.name for f in due] == ["alpha", "beta"]
        ids = {f.name: f.id for f in due}

        record_fetch_success(
            session,
            ids["alpha"],
            etag='"v1"',
            last_modified="Mon, 02 Mar 2026 11:00:00 GMT",
            final_url="https://alpha.example/feed.xml",
            status=200,
            now=T0,
            next_poll_at=later,
        )
        record_fetch_failure(
            session, ids["beta"], error="HTTP 503", now=T0, next_poll_at=T0, status=503
        )
        record_fetch_failure(session, ids["beta"], error="timeout", now=T0, next_poll_at=later)

    with session_scope(factory) as session:
        assert due_feeds(session, T0) == []
        assert [f.name for f in due_feeds(session, later)] == ["alpha", "beta"]
        alpha = session.get(FeedRow, ids["alpha"])
        beta = session.get(FeedRow, ids["beta"])
        assert alpha is not None and beta is not None
        assert (alpha.etag, alpha.last_status, alpha.failure_count) == ('"v1"', 200, 0)
        assert alpha.final_url == "https://alpha.example/feed.xml"
        assert (alpha.last_fetched_at, alpha.next_poll_at) == (T0, later)
        assert (beta.failure_count, beta.last_error, beta.last_status) == (2, "timeout", None)
        assert beta.last_fetched_at is None

        record_fetch_success(
            session,
            ids["beta"],
            etag=None,
            last_modified=None,
            final_url=None,
            status=304,
            now=later,
            next_poll_at=later + timedelta(minutes=15),
        )
        # alpha moves to a new URL; beta is no longer configured.
        sync_feeds(session, [feed("alpha", "https://alpha.example/new.xml")], now=later)

    with session_scope(factory) as session:
        alpha = session.get(FeedRow, ids["alpha"])
        beta = session.get(FeedRow, ids["beta"])
        assert alpha is not None and beta is not None
        assert (beta.enabled, beta.failure_count, beta.last_error) == (False, 0, None)
        assert alpha.enabled
        assert (alpha.url, alpha.etag, alpha.last_modified, alpha.next_poll_at) == (
            "https://alpha.example/new.xml",
            None,
            None,
            None,
        )
        assert [f.name for f in due_feeds(session, later)] == ["alpha"]
    assert count(factory, FeedRow) == 2

    with pytest.raises(RowNotFound), session_scope(factory) as session:
        record_fetch_failure(session, 999_999, error="x", now=T0, next_poll_at=T0)


def test_sync_feeds_keeps_validators_when_url_is_unchanged(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        sync_feeds(session, [feed("alpha")], now=T0)
        (feed_id,) = session.scalars(select(FeedRow.id)).all()
        record_fetch_success(
            session,
            feed_id,
            etag='"v1"',
            last_modified=None,
            final_url=None,
            status=200,
            now=T0,
            next_poll_at=T0 + timedelta(hours=1),
        )
        changed = feed("alpha")
        changed["interval_seconds"] = 60
        sync_feeds(session, [changed], now=T0)
    with session_scope(factory) as session:
        row = session.get(FeedRow, feed_id)
        assert row is not None
        assert (row.etag, row.interval_seconds) == ('"v1"', 60)
        assert row.next_poll_at == T0 + timedelta(hours=1)
        with pytest.raises(ValueError):
            sync_feeds(session, [feed("alpha"), feed("alpha")])


# --- time zones -------------------------------------------------------------------------


def test_timestamps_are_stored_as_utc_and_come_back_aware(factory: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=2))
    # 12:00+02:00 is 10:00 UTC: earlier than 11:00 UTC, although "12" > "11" as text.
    early, _ = store(
        factory,
        make_article(title="early"),
        key="url:e",
        fetched_at=datetime(2026, 3, 2, 12, tzinfo=paris),
    )
    late, _ = store(
        factory,
        make_article(title="late"),
        key="url:l",
        fetched_at=datetime(2026, 3, 2, 11, tzinfo=UTC),
    )

    row = article_row(factory, early)
    assert row.fetched_at.tzinfo == UTC
    assert row.fetched_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert row.published_at is None
    with session_scope(factory) as session:
        assert [a.id for a, _ in list_articles(session)] == [late, early]
        since = list_articles(session, since=datetime(2026, 3, 2, 12, 30, tzinfo=paris))
        assert [a.id for a, _ in since] == [late]

    with pytest.raises(StatementError, match="naive datetime"):
        store(factory, key="url:naive", fetched_at=datetime(2026, 3, 2, 12))
