"""Classification: an article + compiled watchlists -> matches with scores and highlights.

Pure: no I/O, no clock. The article is normalized once (worker.text); the presearcher picks
the candidate watchlists; each candidate's tree is evaluated against the article's postings.
Brand and theme references are evaluated once per article and shared by every watchlist
that uses them.

Scoring (deterministic): each distinct matched term adds its best field weight (title 3,
body 1) times 1 + ln(occurrences)/2; hits of different terms close together add a proximity
bonus of up to 1 (1 / (1 + gap/5), gap = tokens between the closest such pair).
Matches come sorted by score (highest first), then watchlist id.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from worker.models import Article, Highlight, Match
from worker.text import FIELDS, NormalizedArticle, normalize
from worker.watchlists.index import Key, PatternIndex, Presearcher, all_terms
from worker.watchlists.query import (
    And,
    Field,
    Lang,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Ref,
    Source,
    Term,
)
from worker.watchlists.schema import Brand, Watchlist, WatchlistConfig

# (field index, first token position, last token position, term label)
Hit = tuple[int, int, int, str]
Hits = list[Hit] | None  # None: the node does not hold; a list (maybe empty): it holds

ALL_FIELDS = 0b11
_FIELD_BITS = {"title": 0b01, "body": 0b10}
FIELD_WEIGHTS = (3.0, 1.0)
MAX_HIGHLIGHTS = 50


def _fits(kind: str, pattern: str, text: str) -> bool:
    """Whether `text` is `pattern` (exact), starts with it, ends with it, or holds it."""
    if kind == "exact":
        return text == pattern
    if kind == "prefix":
        return text.startswith(pattern)
    if kind == "suffix":
        return text.endswith(pattern)
    return pattern in text


def _distance(a: Hit, b: Hit) -> int:
    if a[2] < b[1]:
        return b[1] - a[2]
    if b[2] < a[1]:
        return a[1] - b[2]
    return 0


class Evaluator:
    """Evaluates query trees against one normalized article, memoizing shared parts."""

    def __init__(
        self, article: NormalizedArticle, config: WatchlistConfig, wild: dict[Key, list[str]]
    ) -> None:
        self.article = article
        self.config = config
        self.wild = wild
        self._memo: dict[tuple[object, int], Hits] = {}  # (node id or ref, scope) -> hits
        self._truth: dict[tuple[str, str, int], bool] = {}  # (ref kind, id, scope) -> holds

    # -- leaves ---------------------------------------------------------------------------
    def term(self, term: Term, scope: int) -> list[Hit]:
        # Terms are shared by the compiled trees, so their identity is a cheap memo key
        # (hashing the frozen dataclass field by field costs more than the lookup itself).
        key = (id(term), scope)
        cached = self._memo.get(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        postings = self.article.postings
        if term.kind == "exact":
            # One form: each position occurs once in its postings list.
            found = postings.get(term.value, ())
            positions = [fp for fp in found if (1 << fp[0]) & scope]
        else:
            merged: set[tuple[int, int]] = set()
            for form in self.wild.get((term.kind, term.value), ()):
                merged.update(fp for fp in postings[form] if (1 << fp[0]) & scope)
            positions = sorted(merged)
        if term.case_sensitive:
            positions = [fp for fp in positions if self._case_ok(term, fp)]
        label = term.label
        hits = [(f, p, p, label) for f, p in positions]
        self._memo[key] = hits
        return hits

    def _case_ok(self, term: Term, at: tuple[int, int]) -> bool:
        surface = self.article.tokens[at[0]][at[1]].surface
        return _fits(term.kind, term.surface, surface)

    def phrase(self, phrase: Phrase, scope: int) -> list[Hit]:
        first, rest = phrase.terms[0], phrase.terms[1:]
        later = [{(h[0], h[1]) for h in self.term(t, scope)} for t in rest]
        hits = []
        for field, pos, _, _ in self.term(first, scope):
            if all((field, pos + i + 1) in positions for i, positions in enumerate(later)):
                hits.append((field, pos, pos + len(rest), phrase.label))
        return hits

    # -- tree -----------------------------------------------------------------------------
    def eval(self, node: Node, scope: int = ALL_FIELDS) -> Hits:
        if isinstance(node, Term):
            return self.term(node, scope) or None
        if isinstance(node, Phrase):
            return self.phrase(node, scope) or None
        if isinstance(node, And):
            hits: list[Hit] = []
            # Negations last: they add no hits and usually fail less often.
            for child in sorted(node.children, key=lambda c: isinstance(c, Not)):
                child_hits = self.eval(child, scope)
                if child_hits is None:
                    return None
                hits.extend(child_hits)
            return hits
        if isinstance(node, Or):
            held = False
            hits = []
            for child in node.children:
                child_hits = self.eval(child, scope)
                if child_hits is not None:
                    held = True
                    hits.extend(child_hits)
            return hits if held else None
        if isinstance(node, Not):
            return [] if self.eval(node.child, scope) is None else None
        if isinstance(node, Near):
            return self.near(node, scope)
        if isinstance(node, Field):
            narrowed = scope & _FIELD_BITS[node.name]
            return self.eval(node.child, narrowed) if narrowed else None
        if isinstance(node, Lang):
            return [] if self.article.language == node.code else None
        if isinstance(node, Source):
            return [] if self._source_ok(node.pattern) else None
        if isinstance(node, Ref):
            return self.ref(node.kind, node.id, scope)
        raise TypeError(f"unknown node {node!r}")

    def holds(self, node: Node, scope: int = ALL_FIELDS) -> bool:
        """Whether `eval(node, scope)` is not None, without collecting hits.

        Short-circuits AND/OR and answers plain terms with one dictionary lookup, so
        candidates that do not match (most of them) cost little; hits are collected only
        for the watchlists that hold.
        """
        kind = type(node)
        if kind is Term:
            if scope == ALL_FIELDS and not node.case_sensitive:  # type: ignore[union-attr]
                if node.kind == "exact":  # type: ignore[union-attr]
                    return node.value in self.article.postings  # type: ignore[union-attr]
                return (node.kind, node.value) in self.wild  # type: ignore[union-attr]
            return bool(self.term(node, scope))  # type: ignore[arg-type]
        # Plain loops: cheaper than any()/all() over a generator on this hot path.
        if kind is Or:
            for child in node.children:  # type: ignore[union-attr]
                if self.holds(child, scope):
                    return True
            return False
        if kind is And:
            for child in node.children:  # type: ignore[union-attr]
                if not self.holds(child, scope):
                    return False
            return True
        if kind is Ref:
            return self._ref_holds(node, scope)  # type: ignore[arg-type]
        if kind is Not:
            return not self.holds(node.child, scope)  # type: ignore[union-attr]
        if kind is Phrase:
            if not all(self.holds(t, scope) for t in node.terms):  # type: ignore[union-attr]
                return False
            return bool(self.phrase(node, scope))  # type: ignore[arg-type]
        if kind is Field:
            narrowed = scope & _FIELD_BITS[node.name]  # type: ignore[union-attr]
            return bool(narrowed) and self.holds(node.child, narrowed)  # type: ignore[union-attr]
        return self.eval(node, scope) is not None

    def _ref_holds(self, ref: Ref, scope: int) -> bool:
        key = (ref.kind, ref.id, scope)
        known = self._truth.get(key)
        if known is None:
            if ref.kind == "theme":
                known = self.holds(self.config.themes[ref.id].query, scope)
            else:
                brand = self.config.brands[ref.id]
                # No alias or model present: no mention, whatever the exclusions say.
                known = any(self.holds(n, scope) for n in brand.aliases + brand.models) and (
                    self.ref("brand", ref.id, scope) is not None
                )
            self._truth[key] = known
        return known

    def near(self, node: Near, scope: int) -> Hits:
        left = self.eval(node.left, scope)
        right = self.eval(node.right, scope) if left else None
        if not left or not right:
            return None
        kept: dict[Hit, None] = {}
        for a in left:
            for b in right:
                if a[0] == b[0] and _distance(a, b) <= node.distance:
                    kept[a] = None
                    kept[b] = None
        return list(kept) or None

    def _source_ok(self, pattern: Term) -> bool:
        return _fits(pattern.kind, pattern.value, self.article.source)

    def ref(self, kind: str, ref_id: str, scope: int = ALL_FIELDS) -> Hits:
        key = ((kind, ref_id), scope)
        if key in self._memo:
            return self._memo[key]
        if kind == "brand":
            result = self.brand(self.config.brands[ref_id], scope)
        else:
            result = self.eval(self.config.themes[ref_id].query, scope)
        self._memo[key] = result
        return result

    def brand_mentions(self, brand: Brand, scope: int = ALL_FIELDS) -> dict[str, list[Hit]]:
        """Every candidate mention, sorted into valid / excluded / not near a required term."""
        aliases = [h for n in brand.aliases for h in (self.eval(n, scope) or [])]
        models = [h for n in brand.models for h in (self.eval(n, scope) or [])]
        excluded_spans = [h for n in brand.exclude for h in (self.eval(n, scope) or [])]

        def inside_exclusion(h: Hit) -> bool:
            return any(e[0] == h[0] and e[1] <= h[1] and h[2] <= e[2] for e in excluded_spans)

        report: dict[str, list[Hit]] = {"valid": [], "excluded": [], "not_near": []}
        near_terms: list[Hit] = []
        if brand.require_near:
            near_terms = [h for n in brand.require_near for h in (self.eval(n, ALL_FIELDS) or [])]
        for h in models:
            report["excluded" if inside_exclusion(h) else "valid"].append(h)
        for h in aliases:
            if inside_exclusion(h):
                report["excluded"].append(h)
            elif brand.require_near and not any(
                n[0] == h[0] and (n[1], n[2]) != (h[1], h[2]) and _distance(h, n) <= brand.window
                for n in near_terms
            ):
                report["not_near"].append(h)
            else:
                report["valid"].append(h)
        return report

    def brand(self, brand: Brand, scope: int) -> Hits:
        valid = self.brand_mentions(brand, scope)["valid"]
        return sorted(set(valid)) or None


def score(hits: Iterable[Hit]) -> float:
    best: dict[str, tuple[int, float]] = {}
    unique = sorted(set(hits))
    for field, _, _, label in unique:
        count, weight = best.get(label, (0, 0.0))
        best[label] = (count + 1, max(weight, FIELD_WEIGHTS[field]))
    total = sum(w * (1 + math.log(c) / 2) for c, w in best.values())
    gap: int | None = None
    for a, b in zip(unique, unique[1:], strict=False):
        if a[0] == b[0] and a[3] != b[3]:
            d = max(0, b[1] - a[2])
            gap = d if gap is None else min(gap, d)
    if gap is not None:
        total += 1 / (1 + gap / 5)
    return round(total, 3)


def highlights(article: NormalizedArticle, hits: Iterable[Hit]) -> tuple[Highlight, ...]:
    out: list[Highlight] = []
    seen: set[tuple[int, int, int]] = set()
    for field, start, end, label in sorted(set(hits)):
        if (field, start, end) in seen:
            continue
        seen.add((field, start, end))
        tokens = article.tokens[field]
        char_start, char_end = tokens[start].start, tokens[end].end
        text = article.fields[field][char_start:char_end]
        out.append(Highlight(FIELDS[field], char_start, char_end, text, label))
        if len(out) >= MAX_HIGHLIGHTS:
            break
    return tuple(out)


class Matcher:
    """Compiled watchlists, ready to classify articles. Build once; thread-safe to use."""

    def __init__(self, config: WatchlistConfig, *, presearch: bool = True) -> None:
        self.config = config
        self.presearch = presearch
        self.patterns = PatternIndex(all_terms(config))
        self.presearcher = Presearcher(config)

    def evaluator(self, article: NormalizedArticle) -> Evaluator:
        return Evaluator(article, self.config, self.patterns.resolve(article.vocabulary))

    def classify(self, article: Article | NormalizedArticle) -> list[Match]:
        norm = article if isinstance(article, NormalizedArticle) else normalize(article)
        ev = self.evaluator(norm)
        if self.presearch:
            ids = self.presearcher.candidates(norm, ev.wild)
        else:
            ids = list(self.config.watchlists)
        matches = []
        for wid in ids:
            match = self.match_one(ev, self.config.watchlists[wid])
            if match is not None:
                matches.append(match)
        matches.sort(key=lambda m: (-m.score, m.watchlist))
        return matches

    def match_one(self, ev: Evaluator, watchlist: Watchlist) -> Match | None:
        if not ev.holds(watchlist.root):
            return None
        hits = ev.eval(watchlist.root)
        if hits is None:
            return None
        value = score(hits)
        if value < watchlist.min_score:
            return None
        return Match(
            watchlist=watchlist.id,
            score=value,
            brands=tuple(b for b in watchlist.brands if ev.ref("brand", b) is not None),
            themes=tuple(t for t in watchlist.themes if ev.ref("theme", t) is not None),
            highlights=highlights(ev.article, hits),
        )
