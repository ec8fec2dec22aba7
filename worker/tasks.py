"""Thin Celery tasks: ids in, one pipeline call, errors mapped to a retry or a record.

Each worker process builds one AppContext on first use. TransientError (network) is
retried with exponential backoff and jitter; anything else is recorded by the pipeline.
Work is handed on as events: a feed fetch or inbox scan enqueues classification of its new
articles in batches; classification enqueues delivery of the matches it found new.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from celery import Task

from worker import pipeline
from worker.celery_app import app
from worker.context import AppContext, build_context
from worker.errors import TransientError

log = logging.getLogger(__name__)

_ctx: AppContext | None = None
_ctx_lock = threading.Lock()
_prepared = False


def context() -> AppContext:
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            _ctx = build_context(app.conf.newswatch_settings)
        return _ctx


def _prepared_context() -> AppContext:
    """The context, with feeds synced from sources.yaml once per process."""
    global _prepared
    ctx = context()
    if not _prepared:
        pipeline.sync_feeds(ctx)
        _prepared = True
    return ctx


def _batches(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _enqueue_classification(ids: Sequence[int]) -> None:
    for batch in _batches(ids, context().settings.classify_batch_size):
        classify_batch.delay(batch)


RETRY = {
    "autoretry_for": (TransientError, ConnectionError, TimeoutError),
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@app.task(name="newswatch.scan_inbox")
def scan_inbox() -> dict[str, Any]:
    result = pipeline.scan_inbox(context())
    _enqueue_classification(result.to_classify)
    return {"new": len(result.new), "updated": len(result.updated), "errors": result.errors}


@app.task(name="newswatch.poll_feeds")
def poll_feeds() -> int:
    ctx = _prepared_context()
    ids = pipeline.due_feed_ids(ctx)
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    return len(ids)


@app.task(name="newswatch.fetch_feed", bind=True, **RETRY)
def fetch_feed(self: Task, feed_id: int) -> dict[str, Any]:
    result = pipeline.poll_feed(context(), feed_id)
    _enqueue_classification(result.ingest.to_classify)
    return {"feed": result.name, "status": result.status, "new": len(result.ingest.new)}


@app.task(name="newswatch.classify_batch")
def classify_batch(article_ids: list[int]) -> dict[str, Any]:
    result = pipeline.classify(context(), article_ids)
    if result.new_match_ids:
        deliver_matches.delay(result.new_match_ids)
    return {"classified": result.classified, "failed": len(result.failed)}


@app.task(name="newswatch.classify_pending")
def classify_pending() -> int:
    """Sweep: articles left pending (a lost event) are classified here."""
    ids = pipeline.pending_article_ids(context(), 10_000)
    _enqueue_classification(ids)
    return len(ids)


@app.task(name="newswatch.deliver_matches", bind=True, **RETRY)
def deliver_matches(self: Task, match_ids: list[int]) -> int:
    """Event consumed by delivery: instant alerts for matches new to their article."""
    from worker import delivery

    return delivery.deliver_new_matches(context(), match_ids)


@app.task(name="newswatch.send_due_digests", bind=True, **RETRY)
def send_due_digests(self: Task) -> int:
    from worker import delivery

    return delivery.send_due_digests(context())


@app.task(name="newswatch.purge")
def purge() -> int:
    return pipeline.purge(context())
