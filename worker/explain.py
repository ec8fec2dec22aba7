"""Why an article matched a watchlist, or why not: each part, each term, where it was found.

Pure: takes a Matcher, a normalized article and a watchlist id; returns lines of text
(indented, one per part of the tree) and the final verdict. Uses the same evaluator as
classification, so the explanation cannot disagree with the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.classify import ALL_FIELDS, Evaluator, Hit, Matcher, score
from worker.text import FIELDS, NormalizedArticle
from worker.watchlists.query import And, Field, Lang, Near, Node, Not, Or, Phrase, Ref, Source, Term

MAX_PLACES = 5


@dataclass(slots=True)
class Explanation:
    watchlist: str
    matched: bool
    score: float | None
    lines: list[str] = field(default_factory=list)


def _places(article: NormalizedArticle, hits: list[Hit]) -> str:
    shown = []
    for f, start, end, _ in sorted(set(hits))[:MAX_PLACES]:
        tokens = article.tokens[f]
        a, b = tokens[start].start, tokens[end].end
        shown.append(f'{FIELDS[f]}@{a}-{b} "{article.fields[f][a:b]}"')
    more = len(set(hits)) - MAX_PLACES
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def _mark(held: bool) -> str:
    return "✓" if held else "✗"


class _Explainer:
    def __init__(self, ev: Evaluator) -> None:
        self.ev = ev
        self.article = ev.article

    def node(self, node: Node, depth: int, scope: int = ALL_FIELDS) -> list[str]:
        hits = self.ev.eval(node, scope)
        held = hits is not None
        pad = "  " * depth
        if isinstance(node, Term | Phrase):
            label = node.label
            where = f": {_places(self.article, hits)}" if hits else ": not found"
            return [f"{pad}{_mark(held)} {label}{where}"]
        if isinstance(node, And | Or):
            op = "all of" if isinstance(node, And) else "any of"
            lines = [f"{pad}{_mark(held)} {op}:"]
            for child in node.children:
                lines += self.node(child, depth + 1, scope)
            return lines
        if isinstance(node, Not):
            inner = self.node(node.child, depth + 1, scope)
            return [f"{pad}{_mark(held)} NOT (must be absent):", *inner]
        if isinstance(node, Near):
            lines = [f"{pad}{_mark(held)} within {node.distance} tokens of each other:"]
            return (
                lines
                + self.node(node.left, depth + 1, scope)
                + self.node(node.right, depth + 1, scope)
            )
        if isinstance(node, Field):
            bits = {"title": 0b01, "body": 0b10}[node.name]
            return [
                f"{pad}{_mark(held)} in {node.name}:",
                *self.node(node.child, depth + 1, scope & bits),
            ]
        if isinstance(node, Lang):
            return [
                f"{pad}{_mark(held)} language is {node.code} (article: {self.article.language})"
            ]
        if isinstance(node, Source):
            actual = self.article.article.source
            return [f"{pad}{_mark(held)} source is {node.pattern.label} (article: {actual})"]
        if isinstance(node, Ref):
            return self.ref(node, depth, scope)
        return [f"{pad}? {node!r}"]

    def ref(self, ref: Ref, depth: int, scope: int) -> list[str]:
        pad = "  " * depth
        held = self.ev.ref(ref.kind, ref.id, scope) is not None
        if ref.kind == "theme":
            theme = self.ev.config.themes[ref.id]
            return [
                f"{pad}{_mark(held)} theme {ref.id} ({theme.name}):",
                *self.node(theme.query, depth + 1, scope),
            ]
        brand = self.ev.config.brands[ref.id]
        report = self.ev.brand_mentions(brand, scope)
        lines = [f"{pad}{_mark(held)} brand {ref.id} ({brand.name})"]
        if report["valid"]:
            lines.append(f"{pad}    mentions: {_places(self.article, report['valid'])}")
        if report["excluded"]:
            lines.append(
                f"{pad}    not counted, inside an excluded phrase: "
                f"{_places(self.article, report['excluded'])}"
            )
        if report["not_near"]:
            lines.append(
                f"{pad}    not counted, no required word within {brand.window} tokens: "
                f"{_places(self.article, report['not_near'])}"
            )
        if not any(report.values()):
            lines.append(f"{pad}    no alias or model found")
        return lines


def explain(matcher: Matcher, article: NormalizedArticle, watchlist_id: str) -> Explanation:
    watchlist = matcher.config.watchlists[watchlist_id]
    ev = matcher.evaluator(article)
    hits = ev.eval(watchlist.root)
    value = score(hits) if hits is not None else None
    matched = value is not None and value >= watchlist.min_score
    explainer = _Explainer(ev)
    lines = [f"language: {article.language}"]
    if watchlist.brands:
        lines.append("brands (any):")
        for brand_id in watchlist.brands:
            lines += explainer.ref(Ref("brand", brand_id, 0), 1, ALL_FIELDS)
    if watchlist.themes:
        lines.append("themes (any):")
        for theme_id in watchlist.themes:
            lines += explainer.ref(Ref("theme", theme_id, 0), 1, ALL_FIELDS)
    if watchlist.query is not None:
        lines.append("query:")
        lines += explainer.node(watchlist.query, 1)
    if watchlist.languages:
        ok = article.language in watchlist.languages
        lines.append(f"{_mark(ok)} languages: {', '.join(watchlist.languages)}")
    if hits is not None:
        ok = value is not None and value >= watchlist.min_score
        lines.append(f"{_mark(ok)} score {value} (min_score {watchlist.min_score})")
    return Explanation(watchlist_id, matched, value if matched else None, lines)
