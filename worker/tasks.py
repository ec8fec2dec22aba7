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
from celery.signals import worker_ready

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
def classify_pending(grace_seconds: float = 120.0) -> int:
    """Sweep: articles left pending (a lost event, a killed worker) are classified here.

    Articles changed within `grace_seconds` are left alone: their own task is probably
    still queued, and sweeping them too would classify a backlog twice.
    """
    ids = pipeline.pending_article_ids(context(), 10_000, grace_seconds=grace_seconds)
    _enqueue_classification(ids)
    return len(ids)


@worker_ready.connect
def _sweep_on_start(sender: Any = None, **_: Any) -> None:
    """A restarted worker recovers a killed worker's batches now, not after the broker's
    visibility timeout (an hour): articles are idempotent, so re-queueing them is safe."""
    try:
        classify_pending.apply_async(kwargs={"grace_seconds": 0})
    except Exception:  # a broker hiccup at start-up must not stop the worker
        log.warning("could not enqueue the start-up sweep", exc_info=True)


@app.task(name="newswatch.deliver_matches")
def deliver_matches(match_ids: list[int]) -> int:
    """Event consumed by delivery: plan instant alerts for new matches, send each."""
    from worker import delivery

    ids, _folded = delivery.plan_alerts(context(), match_ids)
    for delivery_id in ids:
        send_delivery.delay(delivery_id)
    return len(ids)


@app.task(name="newswatch.send_due_digests")
def send_due_digests() -> int:
    """Beat: plan the digests whose period ended, and (re)send every open delivery."""
    from worker import delivery
    from worker.store import deliveries
    from worker.store.db import session_scope

    ctx = context()
    delivery.plan_due_digests(ctx)
    alerts = delivery.plan_unplanned_alerts(ctx)  # hand-overs lost while the broker was down
    with session_scope(ctx.sessions) as session:
        ids = deliveries.open_deliveries(session, digests=True)
    for delivery_id in [*ids, *alerts]:
        send_delivery.delay(delivery_id)
    return len(ids) + len(alerts)


@app.task(name="newswatch.send_delivery", bind=True, max_retries=None)
def send_delivery(self: Task, delivery_id: int) -> str:
    """One attempt; a transient failure is retried with backoff, jitter and Retry-After.

    `delivery.send` records every attempt and turns the last allowed one into "dead",
    so the retry count lives in the database, not in the task.
    """
    from worker import delivery
    from worker.deliver.webhook import retry_delay

    try:
        return delivery.send(context(), delivery_id)
    except TransientError as exc:
        countdown = retry_delay(
            self.request.retries + 1, exc.retry_after, base=context().settings.retry_base_seconds
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@app.task(name="newswatch.purge")
def purge() -> int:
    return pipeline.purge(context())
