"""Pipeline throughput: articles per second through Redis and a 2-process Celery worker,
side by side with the same pipeline functions called in-process.

    python benchmarks/bench_pipeline.py [--json] [--articles 2000] [--batch-size 200]
                                        [--concurrency 2] [--database sqlite|postgresql]

The articles are N seed-derived files (tests/support/articles.py: mixes of the paragraphs of
seeds/*.txt, all distinct) in an inbox folder, classified against config/watchlists.yaml.
Both sides store everything, each in an identical fresh database: SQLite files (WAL, busy
timeout; the default) or two new PostgreSQL databases, dropped afterwards:

- celery:     its own redis-server on a free port, a real `newswatch worker --pool prefork
              --concurrency 2`; the `newswatch.scan_inbox` task is enqueued (as `newswatch
              enqueue scan` does) and the time runs from the enqueue to the last article's
              classified_at. The scan stores the files and enqueues classification batches
              of --batch-size, which the two pool processes classify and record.
- in-process: pipeline.scan_inbox then pipeline.classify_pending in this process, what
              `newswatch run` does for an inbox (without its schema and feed steps).
- engine:     for reference, normalize + Matcher.classify alone on the same articles
              (no store, no broker).

Both sides are warmed up first (watchlists compiled, lemmatizer loaded: in the worker by a
few single-article tasks). Reports the rates and their ratio, celery / in-process (target at
least 0.7), and where the worker's time went (scan task, classification tasks). Everything
runs in a temporary folder and stops by itself: every wait has a deadline (--deadline).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.support.articles import write_seed_articles  # noqa: E402
from tests.support.celeryworker import Pipeline  # noqa: E402
from tests.support.redisserver import RedisServer  # noqa: E402
from worker import pipeline as steps  # noqa: E402
from worker.celery_app import create_app  # noqa: E402
from worker.classify import Matcher  # noqa: E402
from worker.context import build_context  # noqa: E402
from worker.models import Article  # noqa: E402
from worker.settings import Settings  # noqa: E402
from worker.sources.files import read_article_file  # noqa: E402
from worker.store.db import make_engine  # noqa: E402
from worker.store.migrate import migrate  # noqa: E402
from worker.text import normalize  # noqa: E402
from worker.watchlists.schema import load_watchlists  # noqa: E402

TARGET = 0.7
WARMUP_ARTICLES = 8
_TASK_TIME = re.compile(r"Task (newswatch\.\w+)\[[^\]]+\] succeeded in ([0-9.e-]+)s")


class Timeout(Exception):
    pass


def wait_until(probe: Any, what: str, deadline: float, interval: float = 0.02) -> Any:
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise Timeout(f"gave up waiting for {what}")
        time.sleep(interval)
    return value


def settings_for(root: Path, inbox: Path, database_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        config_dir=ROOT / "config",
        data_dir=root,
        database_url=database_url,
        inbox_dirs=[inbox],
        **extra,
    )


@contextmanager
def databases(kind: str, root: Path, admin_url: str) -> Iterator[tuple[str, str]]:
    """Two identical empty databases (in-process, celery): SQLite files or PostgreSQL."""
    if kind == "sqlite":
        yield (f"sqlite:///{root / 'in-process.db'}", f"sqlite:///{root / 'celery.db'}")
        return
    import psycopg
    from psycopg import sql

    names = [f"bench_pipeline_{secrets.token_hex(4)}_{side}" for side in ("inproc", "celery")]
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            urls = []
            for name in names:
                url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
                urls.append(url.render_as_string(hide_password=False))
            yield urls[0], urls[1]
        finally:
            for name in names:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


# --- in-process ----------------------------------------------------------------------------


def run_engine_only(paths: list[Path]) -> dict[str, Any]:
    articles = [read_article_file(p, source="inbox") for p in paths]
    matcher = Matcher(load_watchlists(ROOT / "config" / "watchlists.yaml"))
    matcher.classify(normalize(articles[0]))  # warm-up
    start = time.perf_counter()
    matches = sum(len(matcher.classify(normalize(a))) for a in articles)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "articles_per_second": len(articles) / seconds, "matches": matches}


def run_in_process(
    root: Path, inbox: Path, database_url: str, n: int, batch_size: int
) -> dict[str, Any]:
    ctx = build_context(settings_for(root, inbox, database_url, classify_batch_size=batch_size))
    try:
        steps.prepare(ctx)
        ctx.matcher()
        normalize(Article(title="warm-up", body="De elektrische auto rijdt."))
        start = time.perf_counter()
        scanned = steps.scan_inbox(ctx)
        scan_seconds = time.perf_counter() - start
        classified = steps.classify_pending(ctx)
        seconds = time.perf_counter() - start
    finally:
        ctx.close()
    if len(scanned.new) != n or classified.classified != n:
        raise RuntimeError(f"in-process: {len(scanned.new)} stored, {classified.classified} done")
    return {
        "seconds": seconds,
        "articles_per_second": n / seconds,
        "scan_seconds": scan_seconds,
        "classify_seconds": seconds - scan_seconds,
        "matches": sum(classified.matches.values()),
    }


# --- through Redis and Celery ---------------------------------------------------------------


def _classified(engine: Engine) -> tuple[int, datetime | None, int]:
    """Articles classified, the last classified_at, matches stored (a read that never blocks)."""
    with engine.connect() as conn:
        done, last = conn.execute(
            text("SELECT count(*), max(classified_at) FROM articles WHERE status='classified'")
        ).one()
        matches = conn.execute(text("SELECT count(*) FROM matches")).scalar_one()
    if isinstance(last, str):  # SQLite: naive UTC text
        last = datetime.fromisoformat(last)
    if isinstance(last, datetime):
        last = last.astimezone(UTC) if last.tzinfo else last.replace(tzinfo=UTC)
    return int(done), last, int(matches)


def _task_count(log: str, task: str = "newswatch.classify_batch") -> int:
    return sum(1 for name, _ in _TASK_TIME.findall(log) if name == task)


def run_celery(
    root: Path,
    inbox: Path,
    database_url: str,
    n: int,
    batch_size: int,
    concurrency: int,
    deadline: float,
) -> dict[str, Any]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found on PATH; install it to run this benchmark")
    redis = RedisServer(root / "redis", binary=binary)
    redis.start()
    pipeline = Pipeline(
        root / "celery",
        broker_url=redis.url,
        database_url=database_url,
        settings={
            "NEWSWATCH_CLASSIFY_BATCH_SIZE": str(batch_size),
            "NEWSWATCH_INBOX_DIRS": str(inbox),
        },
    )
    worker = pipeline.worker(concurrency=concurrency)
    settings = settings_for(root / "celery" / "data", inbox, database_url, broker_url=redis.url)
    app = create_app(settings)
    db = make_engine(pipeline.database_url).execution_options(newswatch_sqlite_read_only=True)
    try:
        migrate(pipeline.database_url)
        worker.start()
        wait_until(lambda: worker.ping() or not worker.running, "the worker to start", deadline)
        if not worker.running:
            raise RuntimeError(f"the worker exited\n{worker.log_tail()}")

        # Warm-up on other articles: both pool processes load the watchlists and lemmatizer.
        warmup = root / "warmup"
        write_seed_articles(warmup, WARMUP_ARTICLES, seed=99, prefix="warmup")
        ctx = build_context(settings)
        try:
            ids = steps.ingest(
                ctx, [read_article_file(p) for p in sorted(warmup.iterdir())], now=ctx.now()
            ).new
        finally:
            ctx.close()
        for article_id in ids:
            app.send_task("newswatch.classify_batch", args=[[article_id]])
        wait_until(lambda: _classified(db)[0] >= len(ids), "warm-up", deadline)
        # The log line of a task comes after its commit: wait for all of them, then cut there.
        wait_until(lambda: _task_count(worker.log_text()) >= len(ids), "warm-up log", deadline)
        warm_log = len(worker.log_text())
        warm_matches = _classified(db)[2]

        start_wall, start = datetime.now(UTC), time.perf_counter()
        app.send_task("newswatch.scan_inbox")  # what `newswatch enqueue scan` sends
        total = n + len(ids)
        _, last, _ = wait_until(
            lambda: (r := _classified(db))[0] >= total and r,
            f"{n} articles classified",
            deadline,
        )
        waited = time.perf_counter() - start
        seconds = (last - start_wall).total_seconds()
        matches = _classified(db)[2] - warm_matches
    finally:
        db.dispose()
        app.close()
        worker.stop(timeout=10)
        redis.stop()
    times: dict[str, list[float]] = {}
    for task, took in _TASK_TIME.findall(worker.log_text()[warm_log:]):
        times.setdefault(task, []).append(float(took))
    classify_times = times.get("newswatch.classify_batch", [])
    return {
        "seconds": seconds,
        "articles_per_second": n / seconds,
        "observed_seconds": waited,
        "scan_task_seconds": sum(times.get("newswatch.scan_inbox", [])),
        "classify_tasks": len(classify_times),
        "classify_task_seconds_sum": sum(classify_times),
        "pool_busy": sum(classify_times) / (concurrency * seconds) if seconds else 0.0,
        "matches_stored": matches,
    }


# --- report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--articles", type=int, default=2000, help="articles (default 2000)")
    parser.add_argument("--batch-size", type=int, default=200, help="classify batch size")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="store of both sides (postgresql: two fresh databases on --postgres-url)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="admin URL for --database postgresql",
    )
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after seconds")
    args = parser.parse_args(argv)
    if not 1 <= args.articles <= 100_000:
        parser.error("--articles must be between 1 and 100000")
    deadline = time.monotonic() + args.deadline

    try:
        report = run(args, deadline)
    except (Timeout, RuntimeError) as exc:
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0


def run(args: argparse.Namespace, deadline: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        root = Path(tmp)
        inbox = root / "inbox"
        paths = write_seed_articles(inbox, args.articles)
        engine = run_engine_only(paths)
        with databases(args.database, root, args.postgres_url) as (in_process_db, celery_db):
            in_process = run_in_process(
                root / "in-process", inbox, in_process_db, args.articles, args.batch_size
            )
            celery = run_celery(
                root, inbox, celery_db, args.articles, args.batch_size, args.concurrency, deadline
            )

    ratio = celery["articles_per_second"] / in_process["articles_per_second"]
    return {
        "articles": args.articles,
        "database": args.database,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "engine_only": engine,
        "in_process": in_process,
        "celery": celery,
        "same_matches": celery["matches_stored"] == in_process["matches"],
        "ratio": ratio,
        "target": TARGET,
        "meets_target": ratio >= TARGET,
    }


def print_report(report: dict[str, Any]) -> None:
    engine, in_process, celery = report["engine_only"], report["in_process"], report["celery"]
    print(
        f"{report['articles']} articles, classification batches of {report['batch_size']}, "
        f"stored in {report['database']}"
    )
    print(f"  engine only (no store)      {engine['articles_per_second']:8.1f} articles/s")
    print(
        f"  in-process (scan+classify)  {in_process['articles_per_second']:8.1f} articles/s"
        f"  (scan {in_process['scan_seconds']:.2f} s, classify "
        f"{in_process['classify_seconds']:.2f} s)"
    )
    print(
        f"  celery, {report['concurrency']} processes          "
        f"{celery['articles_per_second']:8.1f} articles/s"
        f"  (scan task {celery['scan_task_seconds']:.2f} s, {celery['classify_tasks']} "
        f"classify tasks {celery['classify_task_seconds_sum']:.2f} s, "
        f"pool busy {celery['pool_busy']:.0%})"
    )
    print(f"  ratio celery / in-process   {report['ratio']:8.2f}  (target >= {report['target']})")
    if not report["same_matches"]:
        print(
            f"  warning: celery stored {celery['matches_stored']} matches, "
            f"in-process {in_process['matches']}"
        )


if __name__ == "__main__":
    sys.exit(main())
