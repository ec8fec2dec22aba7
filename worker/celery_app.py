"""The Celery application: Redis as broker, beat as scheduler.

    celery -A worker.celery_app worker      (or: newswatch worker)
    celery -A worker.celery_app beat        (or: newswatch beat)

`create_app(settings)` builds it; the module-level `app` (for `celery -A`) reads Settings
once, without connecting to anything. Reliability settings: tasks are acknowledged after
they finish (acks_late) and re-queued if the worker dies mid-task (reject_on_worker_lost),
one task prefetched at a time, so a killed worker loses nothing; all tasks are idempotent.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Celery

from worker.settings import Settings, load_settings

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def create_app(settings: Settings) -> Celery:
    app = Celery("newswatch", include=["worker.tasks"])
    broker = settings.broker_url or DEFAULT_BROKER
    app.conf.update(
        broker_url=broker,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting to a restarted Redis
        # Redis redelivers unacknowledged tasks after this; longer than any task may run.
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        # With acks_late, a task running when the broker connection drops is redelivered;
        # cancelling it avoids running it twice at once (Celery 5.x advice; silences a warning).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        beat_schedule={
            "scan-inbox": {
                "task": "newswatch.scan_inbox",
                "schedule": timedelta(seconds=settings.inbox_scan_seconds),
            },
            "poll-feeds": {
                "task": "newswatch.poll_feeds",
                "schedule": timedelta(seconds=settings.poll_seconds),
            },
            "classify-pending": {
                "task": "newswatch.classify_pending",
                "schedule": timedelta(seconds=max(settings.inbox_scan_seconds, 60)),
            },
            "send-due-digests": {
                "task": "newswatch.send_due_digests",
                "schedule": timedelta(seconds=settings.digest_check_seconds),
            },
            "purge": {"task": "newswatch.purge", "schedule": timedelta(hours=6)},
        },
    )
    app.conf.newswatch_settings = settings
    return app


app = create_app(load_settings())
