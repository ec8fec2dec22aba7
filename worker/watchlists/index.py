"""The presearcher: which watchlists could possibly match this article?

Like Lucene's Monitor, each watchlist is indexed by a set of keys such that, if the watchlist
matches an article, at least one key occurs in the article:

- a term gives its own key (an exact folded form, or a prefix/suffix/infix pattern);
- OR needs all of its children's keys; AND (and NEAR, phrases) needs only one child's keys,
  and we pick the cheapest child (fewest, longest, exact rather than wildcard);
- NOT, source: and anything without keys make a watchlist "always a candidate".

The article side costs one dictionary lookup per distinct form plus one Aho-Corasick pass
over the article's vocabulary, however many watchlists there are. Wildcard patterns of every
term (not only the keys) go into the automaton, so the same pass tells the evaluator which
forms each wildcard matched. The presearcher never changes a result, only skips work
(checked by a hypothesis property test against evaluating every watchlist).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

import ahocorasick

from worker.text import NormalizedArticle
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
    Term,
    terms_of,
)
from worker.watchlists.schema import WatchlistConfig

Key = tuple[str, str]  # ("exact"|"prefix"|"suffix"|"infix"|"lang", value)
Keys = frozenset[Key] | None  # None: cannot be keyed, always a candidate

_START, _END = "\x02", "\x03"


def _term_key(term: Term) -> Key:
    return (term.kind, term.value)


def _cost(keys: frozenset[Key]) -> float:
    """Expected number of candidate hits: prefer few, long, exact keys."""
    total = 0.0
    for kind, value in keys:
        if kind == "lang":
            total += 50.0  # every article has a language: nearly useless as a filter
        else:
            total += (1.0 if kind == "exact" else 3.0) / min(len(value), 8)
    return total


class KeyExtractor:
    """Computes presearch keys of query trees, resolving brand: and theme: references."""

    def __init__(self, config: WatchlistConfig) -> None:
        self.config = config
        self._refs: dict[tuple[str, str], Keys] = {}

    def keys(self, node: Node) -> Keys:
        if isinstance(node, Term):
            return frozenset((_term_key(node),))
        if isinstance(node, Phrase):
            return min((frozenset((_term_key(t),)) for t in node.terms), key=_cost)
        if isinstance(node, Or):
            union: set[Key] = set()
            for child in node.children:
                keys = self.keys(child)
                if keys is None:
                    return None
                union |= keys
            return frozenset(union)
        if isinstance(node, And | Near):
            children = node.children if isinstance(node, And) else (node.left, node.right)
            options = [k for c in children if not isinstance(c, Not) and (k := self.keys(c))]
            return min(options, key=_cost) if options else None
        if isinstance(node, Field):
            return self.keys(node.child)
        if isinstance(node, Lang):
            return frozenset((("lang", node.code),))
        if isinstance(node, Ref):
            return self._ref_keys(node)
        return None  # Not, Source

    def _ref_keys(self, ref: Ref) -> Keys:
        cache_key = (ref.kind, ref.id)
        if cache_key not in self._refs:
            self._refs[cache_key] = None  # a cycle (rejected at load) can never loop here
            if ref.kind == "brand":
                brand = self.config.brands[ref.id]
                self._refs[cache_key] = self.keys(Or(brand.aliases + brand.models))
            else:
                self._refs[cache_key] = self.keys(self.config.themes[ref.id].query)
        return self._refs[cache_key]


def all_terms(config: WatchlistConfig) -> list[Term]:
    """Every term pattern used anywhere in the config."""
    terms: list[Term] = []
    for brand in config.brands.values():
        for node in brand.aliases + brand.models + brand.exclude + brand.require_near:
            terms.extend(terms_of(node))
    for theme in config.themes.values():
        terms.extend(terms_of(theme.query))
    for watchlist in config.watchlists.values():
        terms.extend(terms_of(watchlist.root))
    return terms


class PatternIndex:
    """One Aho-Corasick automaton over every wildcard pattern; resolves them per article."""

    def __init__(self, terms: Iterable[Term]) -> None:
        self.patterns = sorted({_term_key(t) for t in terms if t.kind != "exact"})
        self._automaton: ahocorasick.Automaton | None = None
        if self.patterns:
            automaton = ahocorasick.Automaton()
            for kind, value in self.patterns:
                text = {"prefix": _START + value, "suffix": value + _END}.get(kind, value)
                existing = automaton.get(text, ())
                automaton.add_word(text, (*existing, (kind, value)))
            automaton.make_automaton()
            self._automaton = automaton

    def resolve(self, vocabulary: list[str]) -> dict[Key, list[str]]:
        """pattern -> the forms of `vocabulary` it matches (in vocabulary order)."""
        if self._automaton is None or not vocabulary:
            return {}
        haystack = "".join(f"{_START}{form}{_END}" for form in vocabulary)
        ends, position = [], -1
        for form in vocabulary:
            position += len(form) + 2
            ends.append(position)
        found: dict[Key, list[str]] = {}
        seen: set[tuple[Key, int]] = set()
        for end_index, keys in self._automaton.iter(haystack):
            form_index = bisect_left(ends, end_index)
            for key in keys:
                if (key, form_index) not in seen:
                    seen.add((key, form_index))
                    found.setdefault(key, []).append(vocabulary[form_index])
        return found


class Presearcher:
    """Maps article keys to candidate watchlists; built once per watchlist config."""

    def __init__(self, config: WatchlistConfig) -> None:
        extractor = KeyExtractor(config)
        self.order = {wid: i for i, wid in enumerate(config.watchlists)}
        self.exact: dict[str, list[str]] = {}
        self.other: dict[Key, list[str]] = {}
        self.always: list[str] = []
        for wid, watchlist in config.watchlists.items():
            keys = extractor.keys(watchlist.root)
            if keys is None:
                self.always.append(wid)
                continue
            for kind, value in keys:
                target = (
                    self.exact.setdefault(value, [])
                    if kind == "exact"
                    else (self.other.setdefault((kind, value), []))
                )
                target.append(wid)

    def candidates(self, article: NormalizedArticle, wild: dict[Key, list[str]]) -> list[str]:
        found: set[str] = set(self.always)
        exact = self.exact
        for form in article.postings:
            hit = exact.get(form)
            if hit:
                found.update(hit)
        for key in wild:
            hit = self.other.get(key)
            if hit:
                found.update(hit)
        lang_hit = self.other.get(("lang", article.language))
        if lang_hit:
            found.update(lang_hit)
        return sorted(found, key=self.order.__getitem__)
