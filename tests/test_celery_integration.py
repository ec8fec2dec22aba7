"""The pipeline as deployed: a real redis-server, real `newswatch worker` and `newswatch beat`.

Every test starts its own redis-server on a free port and its worker (prefork, two pool
processes) with only NEWSWATCH_* settings, and checks the outcome in the database and
through `newswatch articles --json`:

- feeds served from 127.0.0.1 are polled by beat, stored, classified and matched exactly as
  the embedded `run_once` does, on SQLite and PostgreSQL; the next polls get 304s and store
  nothing new;
- a worker killed with SIGKILL in the middle of a batch loses and duplicates nothing: killed
  pool processes have their batches re-queued at once; a whole worker killed leaves its
  batches unacknowledged, and once it is restarted the pending-article sweep finishes them;
- a Redis restart in the middle of a run: worker and beat reconnect and the work completes;
- `newswatch enqueue scan` puts a task on the broker that a worker then runs.

Waits poll the database or the broker against a deadline and fail with the processes' logs.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.articles import seed_paragraphs, write_seed_articles
from tests.support.celeryworker import (  # noqa: F401
    CeleryProcess,
    Pipeline,
    make_pipeline,
    wait_for,
)
from tests.support.databases import db_url, postgres_database  # noqa: F401
from tests.support.feedserver import FeedServer
from tests.support.redisserver import RedisServer, redis_server  # noqa: F401
from worker.classify import Matcher
from worker.settings import Settings
from worker.sources.files import read_article_file
from worker.store.db import make_engine
from worker.text import normalize
from worker.watchlists.schema import load_watchlists

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MakePipeline = Callable[..., Pipeline]
Listing = dict[str, dict[str, Any]]

# Feeds of the corpus served to beat: several formats and encodings, a malformed feed, a feed
# repeating a story; plus a generated feed of seed-like stories that match the watchlists.
CORPUS_FEEDS = [
    "rss2-guardian-en.xml",
    "atom-heise-developer-de.xml",
    "jsonfeed-v1-daringfireball-en.json",
    "rss2-washingtonpost-wellness-en.xml",
    "broken-rss2-missing-close-tag-en.xml",
    "rss-uol-noticias-pt-cp1252-nodecl.xml",
]
QUEUE = "celery"


# --- looking at the database and the broker -------------------------------------------------


class Store:
    """Read-only views of the pipeline's database, for probes and final checks."""

    def __init__(self, url: str):
        self.engine: Engine = make_engine(url)
        if self.engine.dialect.name == "sqlite":  # a deferred BEGIN: never block the writers
            self.engine = self.engine.execution_options(newswatch_sqlite_read_only=True)

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, sql: str) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(text(sql)))
        except Exception:  # not migrated yet, or briefly locked: no data this time
            return []

    def statuses(self) -> Counter[str]:
        return Counter(dict(self._rows("SELECT status, count(*) FROM articles GROUP BY status")))

    def status_by_id(self) -> dict[int, str]:
        return dict(self._rows("SELECT id, status FROM articles"))

    def pending_ids(self) -> set[int]:
        return {row[0] for row in self._rows("SELECT id FROM articles WHERE status = 'pending'")}

    def classified_paths(self) -> set[str]:
        rows = self._rows("SELECT path FROM articles WHERE status = 'classified'")
        return {row[0] for row in rows}

    def match_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM matches")[0][0])

    def feeds(self) -> dict[str, tuple[str | None, int | None, str | None]]:
        rows = self._rows("SELECT name, etag, last_status, last_error FROM feeds")
        return {name: (etag, status, error) for name, etag, status, error in rows}


@pytest.fixture
def store_of() -> Iterator[Callable[[Pipeline], Store]]:
    stores: list[Store] = []

    def make(pipeline: Pipeline) -> Store:
        stores.append(Store(pipeline.database_url))
        return stores[-1]

    yield make
    for store in stores:
        store.close()


class Broker:
    """The Celery queue and the Redis transport's unacknowledged messages."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)

    def queued(self) -> int:
        return int(self.client.llen(QUEUE))

    def queued_tasks(self) -> list[str]:
        return [
            json.loads(raw)["headers"]["task"]
            for raw in self.client.lrange(QUEUE, 0, -1)  # type: ignore[union-attr]
        ]

    def unacked_article_ids(self) -> set[int]:
        """Ids in classify_batch messages delivered to a worker but not acknowledged."""
        ids: set[int] = set()
        for raw in self.client.hvals("unacked"):  # type: ignore[union-attr]
            message = json.loads(raw)[0]
            if message["headers"].get("task") != "newswatch.classify_batch":
                continue
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args = json.loads(body)[0]
            ids.update(args[0])
        return ids


# --- what the results must be ----------------------------------------------------------------


def expected_matches(paths: list[Path], config_dir: Path) -> Listing:
    """Article path -> {watchlist: score}, computed in this process by the engine itself."""
    matcher = Matcher(load_watchlists(config_dir / "watchlists.yaml"))
    expected: Listing = {}
    for path in paths:
        article = read_article_file(path, source="inbox")
        expected[str(path)] = {m.watchlist: m.score for m in matcher.classify(normalize(article))}
    return expected


def stored_matches(pipeline: Pipeline) -> Listing:
    """The same mapping from `newswatch articles --json`; a path stored twice fails."""
    records = pipeline.articles()
    paths = [r["path"] for r in records]
    duplicated = [p for p, n in Counter(paths).items() if n > 1]
    assert not duplicated, f"articles stored more than once: {duplicated[:5]}"
    return {r["path"]: {m["watchlist"]: m["score"] for m in r["matches"]} for r in records}


def assert_same_matches(stored: Listing, expected: Listing) -> None:
    missing = sorted(set(expected) - set(stored))
    extra = sorted(set(stored) - set(expected))
    wrong = sorted(k for k in set(expected) & set(stored) if expected[k] != stored[k])
    assert not (missing or extra or wrong), (
        f"{len(missing)} articles lost {missing[:3]}, {len(extra)} unexpected {extra[:3]}, "
        f"{len(wrong)} with other matches "
        + "; ".join(f"{k}: {stored[k]} != {expected[k]}" for k in wrong[:3])
    )


def listing_key(record: dict[str, Any]) -> str:
    return record["url"] or record["path"] or record["title"]


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """What must be identical between the Celery and the embedded pipeline."""
    keys = ("title", "source", "published", "language")
    return {k: record[k] for k in keys} | {
        "matches": sorted((m["watchlist"], m["score"]) for m in record["matches"])
    }


def embedded_listing(pipeline: Pipeline, root: Path) -> Listing:
    """The embedded default (pipeline.run_once in-process) on the same config, fresh SQLite."""
    from worker import pipeline as embedded
    from worker.context import build_context

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        config_dir=pipeline.config_dir,
        data_dir=root,
        database_url=f"sqlite:///{root / 'embedded.db'}",
    )
    ctx = build_context(settings)
    try:
        summary = embedded.run_once(ctx)
        assert not [f for f in summary.feeds if f.status == "failed"], summary.feeds
        records = embedded.stored_articles(ctx)
    finally:
        ctx.close()
    return {listing_key(r): describe(r) for r in records}


def seed_feed(items: int, *, seed: int = 7) -> bytes:
    """An RSS 2.0 feed of seed-like stories (HTML paragraphs, tracking parameters in links)."""
    rng = random.Random(seed)
    pool = seed_paragraphs()
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    entries = []
    for number in range(items):
        paragraphs = rng.sample(pool, k=rng.randint(2, 5))
        html = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
        entries.append(
            "<item>"
            f"<title>{escape(rng.choice(pool)[:80])} ({number})</title>"
            f"<link>https://news.example/seed/{number}?utm_source=rss&amp;utm_medium=feed</link>"
            f"<pubDate>{format_datetime(start + timedelta(hours=number))}</pubDate>"
            f"<description>{escape(html)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        "<title>Seed news</title><link>https://news.example/</link>"
        + "".join(entries)
        + "</channel></rss>"
    ).encode()


# --- (a) + (b): beat polls feeds; the next polls are 304s ------------------------------------


def test_beat_polls_feeds_stores_classifies_matches_then_gets_304s(
    redis_server: RedisServer,  # noqa: F811
    make_pipeline: MakePipeline,  # noqa: F811
    store_of: Callable[[Pipeline], Store],
    db_url: str,  # noqa: F811
    corpus_dir: Path,
    tmp_path: Path,
) -> None:
    with FeedServer(corpus_dir) as feeds:
        feeds.add_bytes("seed-news.xml", seed_feed(30))
        names = [*CORPUS_FEEDS, "seed-news.xml"]
        pipeline = make_pipeline(redis_server.url, db_url, inbox_scan_seconds="1", poll_seconds="1")
        # Each feed is due again 2 s after a poll, so beat keeps polling it conditionally.
        pipeline.write_sources([(n.split(".")[0], feeds.url(n)) for n in names], interval="2s")
        pipeline.migrate()
        store = store_of(pipeline)
        pipeline.worker().start().wait_ready()
        beat = pipeline.beat().start()

        # First poll: every feed fetched, its entries stored and classified.
        def first_poll_done() -> bool:
            state = store.feeds()
            polled = len(state) == len(names) and all(s[1] in (200, 304) for s in state.values())
            statuses = store.statuses()
            return polled and statuses["pending"] == 0 and statuses["classified"] > 0

        wait_for(first_poll_done, "every feed polled and its articles classified",
                 diagnostics=pipeline.log_tails)  # fmt: skip
        first = {listing_key(r): describe(r) for r in pipeline.articles()}
        matched = [k for k, v in first.items() if v["matches"]]
        assert len([k for k in matched if k.startswith("https://news.example/seed/")]) >= 20
        assert all("utm_" not in k for k in first), "tracking parameters kept in stored URLs"
        assert store.feeds()["broken-rss2-missing-close-tag-en"][2], "bozo error not recorded"

        # Next polls: conditional GETs answered 304 for every feed, nothing new stored.
        def every_feed_not_modified() -> bool:
            not_modified = {r.path for r in list(feeds.requests) if r.status == 304}
            return all("/" + n in not_modified for n in names) and all(
                s[1] == 304 for s in store.feeds().values()
            )

        wait_for(every_feed_not_modified, "a 304 for every feed",
                 diagnostics=pipeline.log_tails)  # fmt: skip
        beat.stop()
        requests = list(feeds.requests)
        for name in names:
            statuses = [r.status for r in requests if r.path == "/" + name]
            assert statuses[0] == 200 and set(statuses[1:]) == {304}, (name, statuses)
        again = {listing_key(r): describe(r) for r in pipeline.articles()}
        assert again == first, "the conditional polls changed the stored articles"
        assert store.statuses()["pending"] == 0
        # A 304 means the document is unchanged: still malformed, its error still recorded.
        assert store.feeds()["broken-rss2-missing-close-tag-en"][2], "bozo error lost on 304"

        # The same feeds through the embedded default give exactly the same articles.
        assert embedded_listing(pipeline, tmp_path / "embedded") == first


# --- (c): SIGKILL in the middle of a batch ----------------------------------------------------


def _partial_batch(status: dict[int, str], batch_size: int) -> bool:
    """A classification batch (ids are enqueued in ascending chunks) half done right now."""
    done: Counter[int] = Counter()
    size: Counter[int] = Counter()
    for article_id, state in status.items():
        batch = (article_id - 1) // batch_size
        size[batch] += 1
        done[batch] += state == "classified"
    return any(0 < done[b] < size[b] for b in size)


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (the prefork pool of a worker), from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


@pytest.mark.parametrize("victim", ["worker", "pool-process"])
def test_sigkill_mid_batch_loses_and_duplicates_nothing(
    victim: str,
    redis_server: RedisServer,  # noqa: F811
    make_pipeline: MakePipeline,  # noqa: F811
    store_of: Callable[[Pipeline], Store],
) -> None:
    articles, batch_size = 500, 25
    pipeline = make_pipeline(redis_server.url, classify_batch_size=str(batch_size))
    paths = write_seed_articles(pipeline.inbox_dir, articles)
    pipeline.migrate()
    store, broker = store_of(pipeline), Broker(redis_server.url)
    worker = pipeline.worker().start().wait_ready()
    pipeline.newswatch("enqueue", "scan")

    # Kill while a batch is half classified (articles are committed one by one), after a
    # few batches are done.
    def mid_batch() -> bool:
        status = store.status_by_id()
        if len(status) < articles or Counter(status.values())["classified"] < 2 * batch_size:
            return False
        return _partial_batch(status, batch_size)

    wait_for(
        mid_batch,
        "a classification batch in progress",
        interval=0.005,
        diagnostics=worker.log_tail,
    )
    if victim == "worker":
        worker.kill()  # the main process and its pool, as when the container dies
    else:
        assert worker.pid is not None
        children = _children(worker.pid)
        assert children, "the worker has no pool processes"
        for child in children:  # both pool processes are busy with a batch
            os.kill(child, signal.SIGKILL)
    at_kill = store.statuses()
    assert 0 < at_kill["classified"] < articles, f"not killed mid-run: {at_kill}"

    expected = expected_matches(paths, pipeline.config_dir)
    if victim == "worker":
        in_flight = broker.unacked_article_ids()
        assert in_flight, "the killed worker held no unacknowledged batch"
        worker.start().wait_ready()
        # The restarted worker runs what was still queued. The killed worker's own batches
        # are redelivered by Redis only after the visibility timeout (an hour); until then
        # only their articles may still be pending ...
        wait_for(
            lambda: broker.queued() == 0 and store.pending_ids() <= in_flight,
            "the queue to drain, leaving at most the killed worker's batches pending",
            diagnostics=worker.log_tail,
        )
        # ... and the sweep beat runs every minute (classify_pending) classifies them now.
        pipeline.newswatch("enqueue", "classify")
    else:
        # The main process saw its pool processes die: the batches are re-queued at once
        # (task_reject_on_worker_lost) and run again by the new pool processes.
        wait_for(lambda: "WorkerLostError" in worker.log_text(), "the worker to see the loss",
                 diagnostics=worker.log_tail)  # fmt: skip

    wait_for(
        lambda: store.statuses() == Counter(classified=articles) and broker.queued() == 0,
        f"all {articles} articles classified",
        diagnostics=lambda: f"{store.statuses()}\n{worker.log_tail()}",
    )
    assert_same_matches(stored_matches(pipeline), expected)
    assert store.match_count() == sum(len(m) for m in expected.values())


# --- (d): Redis restarted in the middle of a run ----------------------------------------------


def _beat_sends(beat: CeleryProcess) -> int:
    return beat.log_text().count("Sending due task")


def test_worker_and_beat_reconnect_after_redis_restart(
    redis_server: RedisServer,  # noqa: F811
    make_pipeline: MakePipeline,  # noqa: F811
    store_of: Callable[[Pipeline], Store],
) -> None:
    articles = 300
    pipeline = make_pipeline(redis_server.url, classify_batch_size="20", inbox_scan_seconds="1")
    paths = write_seed_articles(pipeline.inbox_dir, articles)
    pipeline.migrate()
    store, broker = store_of(pipeline), Broker(redis_server.url)
    worker = pipeline.worker().start().wait_ready()
    beat = pipeline.beat().start()

    wait_for(lambda: store.statuses()["classified"] > 0, "classification under way",
             interval=0.01, diagnostics=pipeline.log_tails)  # fmt: skip
    redis_server.stop()  # SIGTERM: Redis writes its append-only file and exits
    sent = _beat_sends(beat)
    wait_for(lambda: "Connection to broker lost" in worker.log_text(),
             "the worker to see the broker gone", diagnostics=worker.log_tail)  # fmt: skip
    wait_for(lambda: _beat_sends(beat) > sent, "beat to try sending while Redis is down",
             diagnostics=beat.log_tail)  # fmt: skip
    redis_server.start()  # same port, the queue restored from the append-only file

    # Both reconnect: files added now are found by beat's scan and classified by the worker.
    sent = _beat_sends(beat)
    later = write_seed_articles(pipeline.inbox_dir, 10, prefix="after-restart")
    wait_for(
        lambda: store.classified_paths() >= {str(p) for p in later},
        "articles added after the restart to be stored and classified",
        diagnostics=pipeline.log_tails,
    )
    wait_for(lambda: _beat_sends(beat) >= sent + 2, "beat to keep sending",
             diagnostics=beat.log_tail)  # fmt: skip
    wait_for(lambda: worker.ping(timeout=1.0), "the worker to answer a ping again",
             diagnostics=worker.log_tail)  # fmt: skip

    # Batches in flight when Redis went away stay unacknowledged until the visibility
    # timeout; the sweep beat runs every minute (classify_pending) picks their articles up.
    wait_for(lambda: broker.queued() == 0, "the queue to drain", diagnostics=pipeline.log_tails)
    pipeline.newswatch("enqueue", "classify")
    total = articles + len(later)
    wait_for(
        lambda: store.statuses() == Counter(classified=total),
        f"all {total} articles classified",
        diagnostics=lambda: f"{store.statuses()}\n{pipeline.log_tails()}",
    )
    beat.stop()
    assert_same_matches(
        stored_matches(pipeline), expected_matches(paths + later, pipeline.config_dir)
    )


# --- (e): `newswatch enqueue scan` -------------------------------------------------------------


def test_enqueue_scan_puts_a_task_on_the_broker_that_the_worker_runs(
    redis_server: RedisServer,  # noqa: F811
    make_pipeline: MakePipeline,  # noqa: F811
    store_of: Callable[[Pipeline], Store],
) -> None:
    pipeline = make_pipeline(redis_server.url)
    paths = write_seed_articles(pipeline.inbox_dir, 12)
    pipeline.migrate()
    store, broker = store_of(pipeline), Broker(redis_server.url)

    out = pipeline.newswatch("enqueue", "scan")
    assert "newswatch.scan_inbox" in out and redis_server.url in out
    assert broker.queued_tasks() == ["newswatch.scan_inbox"]  # waiting for a worker
    assert store.statuses() == Counter()

    worker = pipeline.worker().start().wait_ready()
    wait_for(
        lambda: store.statuses() == Counter(classified=len(paths)) and broker.queued() == 0,
        "the scan and its classification to run",
        diagnostics=worker.log_tail,
    )
    assert "newswatch.scan_inbox" in worker.log_text()
    assert_same_matches(stored_matches(pipeline), expected_matches(paths, pipeline.config_dir))
