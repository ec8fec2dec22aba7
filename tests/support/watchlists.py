"""Build a Matcher from YAML text in tests."""

from __future__ import annotations

import textwrap

from worker.classify import Matcher
from worker.models import Article
from worker.watchlists.schema import WatchlistConfig, load_watchlists


def config_from(yaml_text: str, name: str = "test.yaml") -> WatchlistConfig:
    return load_watchlists(name, textwrap.dedent(yaml_text))


def matcher_from(yaml_text: str) -> Matcher:
    return Matcher(config_from(yaml_text))


def query_matcher(query: str) -> Matcher:
    """A matcher with one watchlist `q` holding only `query`."""
    return matcher_from(f"version: 1\nwatchlists:\n  q:\n    query: {query!r}\n")


def matches(matcher: Matcher, body: str, title: str = "", source: str | None = None) -> list[str]:
    return [m.watchlist for m in matcher.classify(Article(title=title, body=body, source=source))]
