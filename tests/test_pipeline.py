"""The pipeline in-process (the embedded default), against real files, a real HTTP feed
server on 127.0.0.1, and SQLite or PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.support import databases, feedserver
from tests.support.feedserver import FeedServer
from worker import pipeline
from worker.context import AppContext, build_context
from worker.errors import ConfigError
from worker.settings import Settings
from worker.sources.config import load_sources
from worker.store.db import session_scope
from worker.store.tables import ArticleRow, FeedRow, MatchRow

db_url = databases.db_url
postgres_database = databases.postgres_database
feed_server = feedserver.feed_server


def make_ctx(tmp_path: Path, repo_root: Path, url: str, feeds: list[tuple[str, str]]) -> AppContext:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    shutil.copy(repo_root / "config" / "watchlists.yaml", config / "watchlists.yaml")
    inbox = tmp_path / "inbox"
    if not inbox.exists():
        shutil.copytree(repo_root / "seeds", inbox)
    lines = ["version: 1", "inbox:", f"  - path: {inbox}", "    pattern: '*.txt'", "feeds:"]
    for name, feed_url in feeds:
        lines += [f"  - name: {name}", f"    url: {feed_url}", "    interval: 15m"]
    if not feeds:
        lines[-1] = "feeds: []"
    (config / "sources.yaml").write_text("\n".join(lines) + "\n")
    settings = Settings(config_dir=config, data_dir=tmp_path / "var", database_url=url)
    return build_context(settings)


def article_count(ctx: AppContext) -> int:
    with session_scope(ctx.sessions) as s:
        return s.scalar(select(func.count()).select_from(ArticleRow)) or 0


def matches_of(ctx: AppContext) -> dict[str, set[str]]:
    with session_scope(ctx.sessions) as s:
        rows = s.execute(select(ArticleRow.path, ArticleRow.url, MatchRow.watchlist).join(MatchRow))
        out: dict[str, set[str]] = {}
        for path, url, watchlist in rows:
            out.setdefault(Path(path).name[:3] if path else url, set()).add(watchlist)
        return out


def test_run_twice_stores_once_and_second_poll_is_304(
    tmp_path: Path, repo_root: Path, db_url: str, feed_server: FeedServer
) -> None:
    feeds = [
        ("guardian", feed_server.url("/rss2-guardian-en.xml")),
        ("heise", feed_server.url("/atom-heise-developer-de.xml")),
        ("inessential", feed_server.url("/jsonfeed-v1-inessential-en.json")),
    ]
    ctx = make_ctx(tmp_path, repo_root, db_url, feeds)
    try:
        first = pipeline.run_once(ctx)
        assert len(first.inbox.new) == 4
        assert {f.name: f.status for f in first.feeds} == {
            "guardian": "ok",
            "heise": "ok",
            "inessential": "ok",
        }
        from_feeds = sum(len(f.ingest.new) for f in first.feeds)
        assert from_feeds == 55 + 15 + 20
        assert first.classified.classified == 4 + from_feeds
        assert article_count(ctx) == 4 + from_feeds
        found = matches_of(ctx)
        assert {"leapmotor", "eu-expansion"} <= found["000"]
        assert {"tesla", "after-sales"} <= found["003"]

        second = pipeline.run_once(ctx)
        assert second.inbox.new == [] and second.inbox.seen == 4
        assert {f.status for f in second.feeds} == {"not-modified"}
        assert feed_server.not_modified_count == 3
        assert second.classified.classified == 0
        assert article_count(ctx) == 4 + from_feeds
    finally:
        ctx.close()


def test_edited_file_updates_its_article_and_reclassifies(tmp_path: Path, repo_root: Path) -> None:
    ctx = make_ctx(tmp_path, repo_root, f"sqlite:///{tmp_path}/db.sqlite", [])
    try:
        pipeline.run_once(ctx)
        assert "byd" not in matches_of(ctx)["003"]
        path = next((tmp_path / "inbox").glob("003_*.txt"))
        with session_scope(ctx.sessions) as s:
            before = s.scalar(select(ArticleRow.id).where(ArticleRow.path == str(path)))
        path.write_text(path.read_text() + "\nOok BYD biedt nu mobiele service aan.\n")
        result = pipeline.run_once(ctx)
        assert result.inbox.updated == [before] and result.inbox.new == []
        assert article_count(ctx) == 4
        assert "byd" in matches_of(ctx)["003"]
    finally:
        ctx.close()


def test_same_story_in_two_files_is_stored_once(tmp_path: Path, repo_root: Path) -> None:
    ctx = make_ctx(tmp_path, repo_root, f"sqlite:///{tmp_path}/db.sqlite", [])
    try:
        src = next((tmp_path / "inbox").glob("000_*.txt"))
        (tmp_path / "inbox" / "copy-of-000.txt").write_text(src.read_text().replace(" ", "  "))
        result = pipeline.run_once(ctx)
        assert len(result.inbox.new) == 4 and result.inbox.duplicate == 1
        assert article_count(ctx) == 4
    finally:
        ctx.close()


def test_bad_file_and_bad_feeds_never_stop_the_rest(
    tmp_path: Path, repo_root: Path, feed_server: FeedServer
) -> None:
    feed_server.add_status("/gone.xml", 404)
    feed_server.add_status("/down.xml", 503)
    feeds = [
        ("gone", feed_server.url("/gone.xml")),
        ("down", feed_server.url("/down.xml")),
        ("truncated", feed_server.url("/broken-rss2-missing-close-tag-en.xml")),
        ("closed-port", "http://127.0.0.1:9/feed.xml"),
        ("good", feed_server.url("/rss2-bbc-inourtime-en.xml")),
    ]
    ctx = make_ctx(tmp_path, repo_root, f"sqlite:///{tmp_path}/db.sqlite", feeds)
    (tmp_path / "inbox" / "empty.txt").write_text("")
    try:
        result = pipeline.run_once(ctx)
        status = {f.name: f for f in result.feeds}
        assert status["gone"].status == "failed" and "404" in (status["gone"].error or "")
        assert status["down"].status == "failed" and "503" in (status["down"].error or "")
        assert status["closed-port"].status == "failed"
        assert status["truncated"].status == "ok" and status["truncated"].error  # bozo, kept
        assert len(status["truncated"].ingest.new) == 2
        assert status["good"].status == "ok" and status["good"].ingest.new
        assert any("empty.txt: empty file" in e for e in result.inbox.errors)
        assert len(result.inbox.new) == 4
        with session_scope(ctx.sessions) as s:
            rows = {f.name: f for f in s.scalars(select(FeedRow))}
            assert rows["gone"].failure_count == 1 and "404" in (rows["gone"].last_error or "")
            assert rows["down"].next_poll_at > rows["down"].updated_at  # backed off
            assert rows["truncated"].last_error and rows["truncated"].failure_count == 0
            assert rows["good"].last_error is None and rows["good"].etag
    finally:
        ctx.close()


def test_poison_article_is_recorded_and_the_rest_classified(
    tmp_path: Path, repo_root: Path
) -> None:
    ctx = make_ctx(tmp_path, repo_root, f"sqlite:///{tmp_path}/db.sqlite", [])
    real = ctx.matcher()

    class PoisonMatcher:
        """Fault injection: a classifier that fails on one article (cannot be made to
        happen with real input on demand)."""

        def classify(self, norm):  # type: ignore[no-untyped-def]
            if "Reparatie" in norm.article.title:
                raise RuntimeError("boom")
            return real.classify(norm)

    ctx.matcher = lambda: PoisonMatcher()  # type: ignore[method-assign,assignment,return-value]
    try:
        result = pipeline.run_once(ctx)
        assert result.classified.classified == 3
        assert [err for _, err in result.classified.failed] == ["boom"]
        with session_scope(ctx.sessions) as s:
            failed = s.scalars(select(ArticleRow).where(ArticleRow.status == "failed")).all()
            assert [a.title for a in failed] == ["Reparatie op mijn oprit"]
            assert "RuntimeError: boom" in (failed[0].error or "")
        # a failed article is not retried forever by the pending sweep
        again = pipeline.classify_pending(ctx)
        assert again.classified == 0 and again.failed == []
    finally:
        ctx.close()


def test_purge_drops_old_articles_with_their_matches(tmp_path: Path, repo_root: Path) -> None:
    ctx = make_ctx(tmp_path, repo_root, f"sqlite:///{tmp_path}/db.sqlite", [])
    try:
        pipeline.run_once(ctx)
        later = datetime.now(UTC) + timedelta(days=ctx.settings.retention_days + 1)
        ctx.clock = lambda: later
        assert pipeline.purge(ctx) == 4
        with session_scope(ctx.sessions) as s:
            assert s.scalar(select(func.count()).select_from(MatchRow)) == 0
    finally:
        ctx.close()


def test_sources_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("version: 1\nfeeds:\n  - name: a\n    url: ftp://x\n  - name: b\n    urll: x\n")
    with pytest.raises(ConfigError) as info:
        load_sources(path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{path}:4:") and "http" in lines[0]
    assert any(line.startswith(f"{path}:6:") and "unknown key 'urll'" in line for line in lines)
    path.write_text(
        "version: 1\nfeeds:\n  - {name: a, url: 'http://x/', interval: 10m}\n"
        "  - {name: a, url: 'http://y/'}\n"
    )
    with pytest.raises(ConfigError, match=r":4:.*duplicate feed name 'a'"):
        load_sources(path)
    path.write_text("version: 1\nfeeds:\n  - {name: a, url: 'http://x/', interval: 2h}\n")
    assert load_sources(path).feeds[0].interval == 7200
