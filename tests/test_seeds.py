"""The default watchlists on the seed articles, and the classify/explain/check commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worker.classify import Matcher
from worker.sources.files import read_article_file
from worker.watchlists.schema import load_watchlists

SIX = {"eu-expansion", "after-sales", "leapmotor", "xiaomi-auto", "byd", "tesla"}
EXPECTED = {
    "000": {"leapmotor", "eu-expansion"},
    "001": {"xiaomi-auto", "tesla", "eu-expansion"},
    "002": {"xiaomi-auto", "eu-expansion"},
    "003": {"tesla", "after-sales"},
}


@pytest.fixture(scope="module")
def default_matcher() -> Matcher:
    root = Path(__file__).resolve().parent.parent
    return Matcher(load_watchlists(root / "config" / "watchlists.yaml"))


@pytest.mark.parametrize("seed", sorted(EXPECTED))
def test_seed_expectations(seed: str, default_matcher: Matcher, repo_root: Path) -> None:
    (path,) = (repo_root / "seeds").glob(f"{seed}_*.txt")
    found = {m.watchlist for m in default_matcher.classify(read_article_file(path))}
    assert found & SIX == EXPECTED[seed]


def run_cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        timeout=120,
    )


def test_classify_json_contract(repo_root: Path) -> None:
    result = run_cli("classify", "seeds", "--json", cwd=repo_root)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 4
    for record in records:
        assert set(record) == {"path", "title", "date", "language", "matches"}
        for match in record["matches"]:
            assert set(match) == {"watchlist", "score", "brands", "themes", "highlights"}
            for h in match["highlights"]:
                assert set(h) >= {"field", "start", "end", "text", "term"}
    by_seed = {Path(r["path"]).name[:3]: r for r in records}
    assert by_seed["002"]["date"] == "2025-07"
    assert by_seed["003"]["date"] is None
    assert by_seed["000"]["language"] == "nl"
    leap = next(m for m in by_seed["000"]["matches"] if m["watchlist"] == "leapmotor")
    body = read_article_file(next((repo_root / "seeds").glob("000_*.txt"))).body
    for h in leap["highlights"]:
        assert h["field"] in ("title", "body")
        if h["field"] == "body":
            assert body[h["start"] : h["end"]] == h["text"]


def test_classify_bad_files_do_not_stop_the_batch(tmp_path: Path, repo_root: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "good.txt").write_text("BYD opent showroom\n\nBYD opent een showroom in Utrecht.")
    result = run_cli(
        "classify",
        str(tmp_path),
        str(tmp_path / "missing.txt"),
        "--json",
        "--watchlists",
        str(repo_root / "config" / "watchlists.yaml"),
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(r["path"]).name for r in records] == ["good.txt"]
    assert "byd" in {m["watchlist"] for m in records[0]["matches"]}
    assert "empty.txt: empty file" in result.stderr
    assert "missing.txt: no such file" in result.stderr


def test_classify_stdin(repo_root: Path) -> None:
    result = run_cli(
        "classify",
        "-",
        "--json",
        cwd=repo_root,
        stdin="Tesla opent servicecentrum\n\nTesla opent een servicecentrum.",
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["path"] == "-"
    assert "tesla" in {m["watchlist"] for m in record["matches"]}


def test_table_output(repo_root: Path) -> None:
    result = run_cli("classify", "seeds/003_9f3a143c2e07feb5.txt", cwd=repo_root)
    assert result.returncode == 0
    assert "after-sales" in result.stdout and "Reparatie" in result.stdout


def test_explain_says_why_and_why_not(repo_root: Path) -> None:
    yes = run_cli(
        "explain", "seeds/003_9f3a143c2e07feb5.txt", "--watchlist", "after-sales", cwd=repo_root
    )
    assert yes.returncode == 0
    assert "MATCH after-sales" in yes.stdout and "NO MATCH" not in yes.stdout
    assert "✓ brand tesla" in yes.stdout
    no = run_cli("explain", "seeds/002_7eb873c15f51cd05.txt", "--watchlist", "tesla", cwd=repo_root)
    assert "NO MATCH tesla" in no.stdout
    assert "no alias or model found" in no.stdout


def test_check_passes_on_default_and_fails_on_bad_example(tmp_path: Path, repo_root: Path) -> None:
    ok = run_cli("check", cwd=repo_root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "examples pass" in ok.stdout
    bad = tmp_path / "w.yaml"
    bad.write_text(
        "version: 1\nthemes:\n  t:\n    query: dealer\n    examples:\n"
        '      match: ["Een showroom in Gent."]\n'
    )
    result = run_cli("check", "--watchlists", str(bad))
    assert result.returncode == 1
    assert f"{bad}:6: theme 't' should match" in result.stderr


def test_check_reports_config_errors_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "w.yaml"
    bad.write_text("version: 1\nwatchlists:\n  w:\n    query: 'a AND'\n")
    result = run_cli("check", "--watchlists", str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{bad}:4:")
    assert "Traceback" not in result.stderr
