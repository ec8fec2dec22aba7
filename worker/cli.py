"""The `newswatch` command line: typer commands calling the same functions as the tasks.

Exit codes: 0 success; 1 some input failed (the rest was processed) or a check failed;
2 invalid configuration or usage.
"""

from __future__ import annotations

import json
import os
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


@app.callback()
def _setup() -> None:
    import logging

    level = os.environ.get("NEWSWATCH_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


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
    """Checks of the other config files beside the watchlists: sources.yaml,
    subscriptions.yaml (against the watchlist ids) and the templates (rendered on samples)."""
    from worker.deliver.subscriptions import check_subscriptions
    from worker.deliver.templates import check_templates, make_template_env
    from worker.sources.config import load_sources

    problems: list[str] = []
    sources_file = watchlists_file.parent / "sources.yaml"
    if sources_file.exists():
        try:
            spec = load_sources(sources_file)
            out.print(
                f"{sources_file}: {len(spec.inbox)} inbox folders, {len(spec.feeds)} feeds",
                highlight=False,
            )
        except ConfigError as exc:
            problems += str(exc).splitlines()
    subscriptions_file = watchlists_file.parent / "subscriptions.yaml"
    if subscriptions_file.exists():
        ids = load_watchlists(watchlists_file).watchlists
        problems += check_subscriptions(subscriptions_file, set(ids))
    try:
        env = make_template_env(settings().templates_dir)
        problems += check_templates(env)
    except ConfigError as exc:
        problems.append(str(exc))
    return problems


# --- the pipeline -------------------------------------------------------------------------


def _context(s: Settings | None = None) -> Any:
    from worker.context import build_context

    return build_context(s or settings())


def _print_summary(summary: Any, s: Settings) -> None:
    inbox = summary.inbox
    new = len(inbox.new) + sum(len(f.ingest.new) for f in summary.feeds)
    updated = len(inbox.updated) + sum(len(f.ingest.updated) for f in summary.feeds)
    seen = inbox.seen + sum(f.ingest.seen for f in summary.feeds)
    dupes = inbox.duplicate + sum(f.ingest.duplicate for f in summary.feeds)
    out.print(
        f"[bold]articles:[/bold] {new} new, {updated} updated, {seen} seen, "
        f"{dupes} duplicates; {summary.classified.classified} classified"
        + (f", {len(summary.classified.failed)} failed" if summary.classified.failed else "")
    )
    for message in inbox.errors:
        err.print(f"[yellow]inbox:[/yellow] {message}", highlight=False)
    if summary.feeds:
        table = Table("feed", "status", "new", "note")
        for f in summary.feeds:
            colour = {"ok": "green", "not-modified": "cyan", "failed": "red"}.get(f.status, "")
            table.add_row(
                f.name,
                f"[{colour}]{f.status}[/{colour}]" if colour else f.status,
                str(len(f.ingest.new)),
                (f.error or "")[:120],
            )
        out.print(table)
    matches = summary.classified.matches
    if matches:
        out.print(
            "[bold]new matches:[/bold] "
            + ", ".join(f"{w} {n}" for w, n in sorted(matches.items(), key=lambda x: (-x[1], x[0])))
        )
    else:
        out.print("[bold]new matches:[/bold] none")
    totals = summary.totals
    stored = ", ".join(f"{w} {n}" for w, n in sorted(totals.get("matches", {}).items()))
    out.print(
        f"[bold]stored:[/bold] {totals.get('articles', 0)} articles"
        + (f"; matches per watchlist: {stored}" if stored else "")
        + (f"; purged {summary.purged}" if summary.purged else "")
    )
    for part, label in zip(summary.delivery, ("alerts", "digests", "previews"), strict=False):
        if part:
            out.print(f"[bold]{label}:[/bold] {part}", highlight=False)
    out.print(f"[dim]database: {s.masked()['database_url']}[/dim]")


@app.command()
def run(
    watch: Annotated[bool, typer.Option("--watch", help="Keep going on the schedule")] = False,
) -> None:
    """One full pass in-process: ingest seeds and feeds, classify, record (embedded default)."""
    import time

    from worker import delivery, pipeline

    s = settings()
    ctx = _context(s)
    try:
        summary = pipeline.run_once(
            ctx, deliver=delivery.deliver_new_matches, digests=delivery.send_due_digests
        )
        if not s.smtp_host:
            previews = delivery.write_previews(ctx)
            summary.delivery.append(
                f"{len(previews)} digest previews for the period under way: {', '.join(previews)}"
                if previews
                else ""
            )
        _print_summary(summary, s)
        while watch:
            time.sleep(min(s.inbox_scan_seconds, s.poll_seconds))
            summary = pipeline.run_once(
                ctx,
                every_feed=False,
                deliver=delivery.deliver_new_matches,
                digests=delivery.send_due_digests,
            )
            if summary.classified.classified or any(f.status == "failed" for f in summary.feeds):
                _print_summary(summary, s)
    except ConfigError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass
    finally:
        ctx.close()


@app.command("config")
def show_config(
    as_json: JsonOpt = False,
) -> None:
    """Print the effective settings (secrets masked)."""
    values = settings().masked()
    if as_json:
        out.file.write(json.dumps(values, default=str) + "\n")
        return
    table = Table("setting", "environment variable", "value")
    for name, value in values.items():
        table.add_row(name, f"NEWSWATCH_{name.upper()}", str(value))
    out.print(table)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic upgrade head)."""
    from worker.store.migrate import migrate as run_migrations

    s = settings()
    run_migrations(s.effective_database_url)
    out.print(f"database at head: {s.masked()['database_url']}", highlight=False)


@app.command()
def articles(
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", "-w", help="Only matches of")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Published (or fetched, if the date is partial) since YYYY-MM-DD"
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List stored articles and their matches, newest first."""
    from datetime import UTC, datetime

    from worker import pipeline

    since_dt = None
    if since:
        try:
            since_dt = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as exc:
            err.print(f"--since: expected a date like 2026-03-01, got {since!r}")
            raise typer.Exit(2) from exc
        if since_dt.tzinfo is None:
            since_dt = since_dt.replace(tzinfo=UTC)
    ctx = _context()
    try:
        from worker.store.migrate import migrate as run_migrations

        run_migrations(ctx.settings.effective_database_url)
        records = pipeline.stored_articles(ctx, watchlist=watchlist, since=since_dt, limit=limit)
    finally:
        ctx.close()
    if as_json:
        for record in records:
            out.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    table = Table("id", "published", "source", "title", "matches")
    for r in records:
        table.add_row(
            str(r["id"]),
            r["published"] or "",
            r["source"] or "",
            (r["title"] or "")[:70],
            ", ".join(f"{m['watchlist']} ({m['score']:g})" for m in r["matches"]) or "-",
        )
    out.print(table)


@app.command()
def enqueue(
    what: Annotated[str, typer.Argument(help="scan (the inbox) or poll (all due feeds)")],
) -> None:
    """Put the inbox scan or the poll of due feeds on the broker now."""
    tasks = {
        "scan": "newswatch.scan_inbox",
        "poll": "newswatch.poll_feeds",
        "classify": "newswatch.classify_pending",
        "digests": "newswatch.send_due_digests",
    }
    if what not in tasks:
        err.print(f"unknown task {what!r}; one of: {', '.join(tasks)}")
        raise typer.Exit(2)
    from worker.celery_app import create_app

    s = settings()
    celery = create_app(s)
    # An operator's sweep takes every pending article now (beat's leaves a grace period).
    kwargs = {"grace_seconds": 0} if what == "classify" else {}
    result = celery.send_task(tasks[what], kwargs=kwargs)
    broker = celery.conf.broker_url
    out.print(f"enqueued {tasks[what]} ({result.id}) on {broker}", highlight=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(ctx: typer.Context) -> None:
    """Start a Celery worker (extra arguments go to celery worker)."""
    from worker.celery_app import app as celery

    celery.worker_main(["worker", "--loglevel", settings().log_level, *ctx.args])


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def beat(ctx: typer.Context) -> None:
    """Start Celery beat, the scheduler (extra arguments go to celery beat)."""
    from worker.celery_app import app as celery

    celery.start(["beat", "--loglevel", settings().log_level, *ctx.args])


# --- delivery -----------------------------------------------------------------------------


def _prepared(s: Settings | None = None) -> Any:
    """A context on a migrated database."""
    from worker.store.migrate import migrate as run_migrations

    ctx = _context(s)
    run_migrations(ctx.settings.effective_database_url)
    return ctx


@app.command()
def subscribe(
    email: Annotated[str, typer.Argument(help="Address that receives the digests or alerts")],
    watchlist: Annotated[
        list[str], typer.Option("--watchlist", "-w", help="Watchlist id (repeatable)")
    ],
    schedule: Annotated[
        str, typer.Option("--schedule", help="weekly | daily | instant")
    ] = "weekly",
    day: Annotated[str, typer.Option("--day", help="Weekday of a weekly digest")] = "monday",
    at: Annotated[str, typer.Option("--time", help="Local time HH:MM")] = "08:00",
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone")] = "Europe/Amsterdam",
) -> None:
    """Subscribe an address to watchlists (stored in the database beside subscriptions.yaml)."""
    from worker.deliver.subscriptions import parse_day, parse_time
    from worker.store import deliveries
    from worker.store.db import session_scope

    problems = []
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        problems.append(f"not an email address: {email!r}")
    if schedule not in ("weekly", "daily", "instant"):
        problems.append(f"--schedule: one of weekly, daily, instant (not {schedule!r})")
    try:
        parse_day(day)
        parse_time(at)
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception as exc:
        problems.append(str(exc))
    ctx = _prepared()
    try:
        known = ctx.matcher().config.watchlists
        problems += [
            f"unknown watchlist {w!r}; known: {', '.join(known)}"
            for w in watchlist
            if w not in known
        ]
        if problems:
            for problem in problems:
                err.print(problem, highlight=False)
            raise typer.Exit(2)
        with session_scope(ctx.sessions) as session:
            ids = [
                deliveries.subscribe(
                    session,
                    email=email,
                    watchlist=w,
                    schedule=schedule,
                    day=day if schedule == "weekly" else None,
                    time=at,
                    timezone=timezone,
                    now=ctx.now(),
                )
                for w in watchlist
            ]
    finally:
        ctx.close()
    out.print(
        f"subscribed {email} to {', '.join(watchlist)} ({schedule}); ids "
        + ", ".join(f"db-{i}" for i in ids),
        highlight=False,
    )


@app.command()
def unsubscribe(
    email: Annotated[str, typer.Argument(help="Address to unsubscribe from everything")],
) -> None:
    """Unsubscribe an address: its database subscriptions and those in subscriptions.yaml."""
    from worker import delivery
    from worker.store import deliveries
    from worker.store.db import session_scope

    ctx = _prepared()
    try:
        with session_scope(ctx.sessions) as session:
            count = deliveries.deactivate_email(session, email, now=ctx.now())
        for sub in delivery.subscriptions(ctx):
            if sub.origin == "yaml" and sub.target.casefold() == email.casefold():
                count += delivery.unsubscribe(ctx, sub.id, email)
    finally:
        ctx.close()
    out.print(f"{email}: {count} subscriptions ended", highlight=False)


@app.command("deliveries")
def list_deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only failed and dead ones")] = False,
    retry: Annotated[int | None, typer.Option("--retry", help="Send delivery ID again now")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Deliveries (alerts and digests) with their status; --retry ID sends one again."""
    from worker import delivery
    from worker.store import deliveries
    from worker.store.db import session_scope

    ctx = _prepared()
    try:
        if retry is not None:
            with session_scope(ctx.sessions) as session:
                reset = deliveries.reset_for_retry(session, retry, now=ctx.now())
            if not reset:
                err.print(f"delivery {retry} is not failed or dead (or does not exist)")
                raise typer.Exit(1)
            status = delivery.send_with_retries(ctx, retry)
            out.print(f"delivery {retry}: {status}", highlight=False)
            if status != "sent":
                raise typer.Exit(1)
            return
        with session_scope(ctx.sessions) as session:
            rows = [
                {
                    "id": r.id,
                    "subscription": r.subscription,
                    "channel": r.channel,
                    "key": r.key,
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                }
                for r in deliveries.list_deliveries(session, failed_only=failed, limit=limit)
            ]
    finally:
        ctx.close()
    if as_json:
        for row in rows:
            out.file.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("id", "subscription", "channel", "key", "status", "attempts", "last error")
    for r in rows:
        table.add_row(
            *(
                str(r[k] if r[k] is not None else "")
                for k in (
                    "id",
                    "subscription",
                    "channel",
                    "key",
                    "status",
                    "attempts",
                    "last_error",
                )
            )
        )
    out.print(table)


@app.command()
def digest(
    subscription: Annotated[str, typer.Option("--subscription", "-s", help="Subscription id")],
    period: Annotated[
        str,
        typer.Option("--period", help="last, last-week, last-day, current, 2026-W47, 2026-11-23"),
    ] = "last",
    send: Annotated[
        bool, typer.Option("--send", help="Send it (once: a sent period is not sent again)")
    ] = False,
    preview: Annotated[
        Path | None, typer.Option("--preview", help="Write the HTML to this file")
    ] = None,
) -> None:
    """Render or send one digest on demand (without --send or --preview: print the text)."""
    from worker import delivery
    from worker.deliver.schedule import digest_key, period_named
    from worker.store import deliveries
    from worker.store.db import session_scope

    ctx = _prepared()
    try:
        subs = {x.id: x for x in delivery.subscriptions(ctx)}
        if subscription not in subs:
            err.print(f"unknown subscription {subscription!r}; known: {', '.join(subs) or 'none'}")
            raise typer.Exit(2)
        sub = subs[subscription]
        try:
            chosen = period_named(sub, period, ctx.now())
        except ValueError as exc:
            err.print(f"--period: {exc}")
            raise typer.Exit(2) from exc
        rendered, count = delivery.render(ctx, sub, chosen)
        if preview is not None:
            preview.parent.mkdir(parents=True, exist_ok=True)
            preview.write_text(rendered.html, encoding="utf-8")
            out.print(f"{preview}: {count} items, {chosen.label}", highlight=False)
        if send:
            with session_scope(ctx.sessions) as session:
                delivery_id, _new = deliveries.plan(
                    session,
                    key=digest_key(sub.id, chosen),
                    subscription=sub.id,
                    channel=sub.channel,
                    now=ctx.now(),
                    period_start=chosen.start,
                    period_end=chosen.end,
                    payload={"label": chosen.label},
                )
            status = delivery.send_with_retries(ctx, delivery_id)
            if status == "not-claimed":
                status = "already sent (a digest is sent once per period)"
            out.print(f"digest {sub.id} {chosen.label}: {status}", highlight=False)
        if not send and preview is None:
            out.print(rendered.subject, highlight=False)
            out.print(rendered.text, markup=False, highlight=False)
    finally:
        ctx.close()


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "0.0.0.0",
    port: Annotated[int, typer.Option("--port")] = 8000,
) -> None:
    """The web app: one-click unsubscribe (RFC 8058) and /healthz, with uvicorn."""
    import uvicorn
    from sqlalchemy import text

    from worker import delivery
    from worker.web import create_web_app

    ctx = _prepared()

    def healthcheck() -> None:
        with ctx.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    web = create_web_app(
        ctx.settings,
        lambda sub, address: delivery.unsubscribe(ctx, sub, address),
        healthcheck=healthcheck,
    )
    uvicorn.run(web, host=host, port=port, log_level=ctx.settings.log_level.lower())


def main() -> Any:
    return app()


if __name__ == "__main__":
    main()
