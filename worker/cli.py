"""The `newswatch` command line: typer commands calling the same functions as the tasks.

Exit codes: 0 success; 1 some input failed (the rest was processed) or a check failed;
2 invalid configuration or usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from worker.classify import Matcher
from worker.errors import ConfigError, PermanentError
from worker.models import Article
from worker.settings import Settings, load_settings
from worker.sources.files import find_article_files, parse_seed, read_article_file
from worker.text import normalize
from worker.watchlists.schema import WatchlistConfig, load_watchlists

app = typer.Typer(
    help="newswatch: ingest news, classify it against YAML watchlists, deliver what matters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

WatchlistsOpt = Annotated[
    Path | None,
    typer.Option("--watchlists", help="Watchlists file (default: <config dir>/watchlists.yaml)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON Lines instead of a table")]


def settings() -> Settings:
    try:
        return load_settings()
    except Exception as exc:  # pydantic's ValidationError: a bad NEWSWATCH_* value
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def load_config(path: Path | None) -> WatchlistConfig:
    target = path or settings().watchlists_file
    try:
        return load_watchlists(target)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            err.print(line, markup=False, highlight=False)
        raise typer.Exit(2) from exc


def read_inputs(paths: list[str]) -> tuple[list[Article], list[str]]:
    """Articles from files, folders and '-' (stdin); errors are collected, never raised."""
    articles: list[Article] = []
    errors: list[str] = []
    files: list[Path] = []
    for raw in paths:
        if raw == "-":
            text = sys.stdin.read()
            if text.strip():
                articles.append(parse_seed(text, path="-"))
            else:
                errors.append("-: empty input")
            continue
        path = Path(raw)
        if not path.exists():
            errors.append(f"{raw}: no such file or folder")
            continue
        files.extend(find_article_files([path]))
    for file in files:
        try:
            articles.append(read_article_file(file))
        except PermanentError as exc:
            errors.append(str(exc))
    return articles, errors


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Files, folders (*.txt, *.md) or - for stdin")],
    watchlists: WatchlistsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify articles against the watchlists and show what matched."""
    matcher = Matcher(load_config(watchlists))
    articles, errors = read_inputs(paths)
    table = Table("file", "title", "date", "lang", "matches (score)", show_lines=False)
    for article in articles:
        try:
            norm = normalize(article)
            matches = matcher.classify(norm)
        except Exception as exc:  # one poison article never stops the batch
            errors.append(f"{article.path}: cannot classify: {exc}")
            continue
        if as_json:
            record = {
                "path": article.path,
                "title": article.title,
                "date": article.published,
                "language": norm.language,
                "matches": [m.to_dict() for m in matches],
            }
            out.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            found = ", ".join(f"{m.watchlist} ({m.score:g})" for m in matches) or "-"
            table.add_row(
                Path(article.path or "-").name,
                article.title[:60],
                article.published or "",
                norm.language,
                found,
            )
    if not as_json:
        out.print(table)
    for message in errors:
        err.print(f"[yellow]skipped:[/yellow] {message}", highlight=False)
    if errors:
        raise typer.Exit(1)


@app.command()
def explain(
    path: Annotated[str, typer.Argument(help="One article file, or - for stdin")],
    watchlist: Annotated[str, typer.Option("--watchlist", "-w", help="Watchlist id")],
    watchlists: WatchlistsOpt = None,
) -> None:
    """Explain why an article matched a watchlist, or why not."""
    from worker.explain import explain as explain_match

    config = load_config(watchlists)
    if watchlist not in config.watchlists:
        err.print(f"unknown watchlist {watchlist!r}; known: {', '.join(config.watchlists)}")
        raise typer.Exit(2)
    articles, errors = read_inputs([path])
    if not articles:
        for message in errors:
            err.print(message, highlight=False)
        raise typer.Exit(1)
    article = articles[0]
    result = explain_match(Matcher(config), normalize(article), watchlist)
    verdict = "[green]MATCH[/green]" if result.matched else "[red]NO MATCH[/red]"
    out.print(
        f"{article.path}: {verdict} {watchlist}"
        + (f" score {result.score}" if result.matched else "")
    )
    for line in result.lines:
        out.print("  " + line, markup=False, highlight=False)


@app.command()
def check(watchlists: WatchlistsOpt = None) -> None:
    """Validate the watchlists file and run every example in it."""
    from worker.watchlists.check import run_examples

    target = watchlists or settings().watchlists_file
    config = load_config(target)
    count, failures = run_examples(Matcher(config))
    extra = _check_more(target)
    for message in failures + extra:
        err.print(message, markup=False, highlight=False)
    summary = (
        f"{target}: {len(config.brands)} brands, {len(config.themes)} themes, "
        f"{len(config.watchlists)} watchlists; {count - len(failures)}/{count} examples pass"
    )
    out.print(summary, highlight=False)
    if failures or extra:
        raise typer.Exit(1)


def _check_more(watchlists_file: Path) -> list[str]:
    """Hook for checks of the other config files (sources, subscriptions, templates)."""
    return []


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
