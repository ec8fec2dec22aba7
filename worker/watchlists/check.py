"""Run the examples written in watchlists.yaml (`newswatch check`).

Pure: takes a Matcher; returns one failure message per example that does not behave as
written, each starting with file:line so editors can jump to it.
"""

from __future__ import annotations

from worker.classify import Matcher
from worker.models import Article
from worker.text import normalize
from worker.watchlists.schema import Example


def example_holds(matcher: Matcher, example: Example) -> bool:
    norm = normalize(Article(title="", body=example.text))
    ev = matcher.evaluator(norm)
    if example.kind == "watchlist":
        return matcher.match_one(ev, matcher.config.watchlists[example.id]) is not None
    return ev.ref(example.kind, example.id) is not None


def run_examples(matcher: Matcher) -> tuple[int, list[str]]:
    """(number of examples run, failure messages)."""
    failures = []
    examples = matcher.config.examples
    for example in examples:
        if example_holds(matcher, example) != example.should_match:
            expected = "match" if example.should_match else "not match"
            where = f"{example.file}:{example.line}" if example.line else example.file
            failures.append(
                f"{where}: {example.kind} {example.id!r} should {expected}: {example.text!r}"
            )
    return len(examples), failures
