"""`newswatch run`, `articles`, `config` as a user runs them (subprocesses, embedded default)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env.update(
        NEWSWATCH_CONFIG_DIR=str(tmp_path / "config"),
        NEWSWATCH_DATA_DIR=str(tmp_path / "var"),
        COLUMNS="200",
        **extra,
    )
    return env


def newswatch(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env_for(tmp_path, **extra),
        timeout=180,
    )


def setup_project(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "config").mkdir()
    shutil.copy(repo_root / "config" / "watchlists.yaml", tmp_path / "config")
    shutil.copytree(repo_root / "seeds", tmp_path / "seeds")
    (tmp_path / "config" / "sources.yaml").write_text(
        "version: 1\ninbox:\n  - path: seeds\nfeeds:\n"
        "  - name: offline\n    url: http://127.0.0.1:9/feed.xml\n"
    )


def test_run_twice_then_list_articles(tmp_path: Path, repo_root: Path) -> None:
    setup_project(tmp_path, repo_root)
    first = newswatch(tmp_path, "run")
    assert first.returncode == 0, first.stderr
    assert "4 new" in first.stdout
    assert "offline" in first.stdout and "failed" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr
    assert (tmp_path / "var" / "newswatch.db").exists()

    second = newswatch(tmp_path, "run")
    assert second.returncode == 0
    assert "0 new" in second.stdout and "4 seen" in second.stdout

    listed = newswatch(tmp_path, "articles", "--json")
    records = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(records) == 4
    for r in records:
        assert set(r) == {
            "id",
            "url",
            "path",
            "title",
            "source",
            "published",
            "language",
            "matches",
        }
        for m in r["matches"]:
            assert set(m) == {"watchlist", "score"}
    tesla = newswatch(tmp_path, "articles", "--json", "--watchlist", "tesla")
    titles = {json.loads(line)["title"] for line in tesla.stdout.splitlines()}
    assert "Reparatie op mijn oprit" in titles and len(titles) == 2
    since = newswatch(tmp_path, "articles", "--json", "--since", "2026-01-01")
    # published since, or fetched since when the date is missing or partial ("2025-07")
    kept = {Path(json.loads(line)["path"]).name[:3] for line in since.stdout.splitlines()}
    assert kept == {"000", "002", "003"}
    bad = newswatch(tmp_path, "articles", "--since", "yesterday")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_config_masks_secrets(tmp_path: Path) -> None:
    result = newswatch(
        tmp_path,
        "config",
        "--json",
        NEWSWATCH_SMTP_PASSWORD="hunter2",
        NEWSWATCH_SECRET_KEY="s3cr3t",
        NEWSWATCH_DATABASE_URL="postgresql+psycopg://app:dbpass@db:5432/news",
        NEWSWATCH_BROKER_URL="redis://:redispass@redis:6379/0",
    )
    assert result.returncode == 0, result.stderr
    for secret in ("hunter2", "s3cr3t", "dbpass", "redispass"):
        assert secret not in result.stdout
    values = json.loads(result.stdout)
    assert values["smtp_password"] == "**********"
    assert values["database_url"] == "postgresql+psycopg://app:****@db:5432/news"
    assert values["data_dir"] == str(tmp_path / "var")


def test_run_with_a_bad_watchlists_file_says_where(tmp_path: Path, repo_root: Path) -> None:
    setup_project(tmp_path, repo_root)
    (tmp_path / "config" / "watchlists.yaml").write_text(
        "version: 1\nwatchlists:\n  w: {query: 'a OR'}\n"
    )
    result = newswatch(tmp_path, "run")
    assert result.returncode == 2
    assert "watchlists.yaml:3:" in result.stderr
    assert "Traceback" not in result.stderr
