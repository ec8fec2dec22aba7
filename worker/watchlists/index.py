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
from itertools import accumulate

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
_CACHE_LIMIT = 500_000  # forms remembered by a PatternIndex before it starts afresh


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
            if len(node.children) == 1:  # keep the child's set: shared sets memoize per article
                return self.keys(node.children[0])
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

    def conjunct_keys(self, node: Node) -> list[frozenset[Key]]:
        """Key sets of the parts that must all hold, cheapest first (one set unless AND)."""
        if isinstance(node, And):
            sets = [k for c in node.children if not isinstance(c, Not) and (k := self.keys(c))]
            return sorted(sets, key=_cost)
        keys = self.keys(node)
        return [keys] if keys else []

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
        self._cache: dict[str, tuple[Key, ...]] = {}
        if self.patterns:
            automaton = ahocorasick.Automaton()
            for kind, value in self.patterns:
                text = {"prefix": _START + value, "suffix": value + _END}.get(kind, value)
                existing = automaton.get(text, ())
                automaton.add_word(text, (*existing, (kind, value)))
            automaton.make_automaton()
            self._automaton = automaton

    def resolve(self, vocabulary: list[str]) -> dict[Key, list[str]]:
        """pattern -> the forms of `vocabulary` it matches (in vocabulary order).

        Which patterns a form matches does not depend on the article, and news vocabulary
        repeats, so results are cached per form: the automaton only reads new forms.
        """
        if self._automaton is None or not vocabulary:
            return {}
        cache = self._cache
        missing = [form for form in vocabulary if form not in cache]
        if missing:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            cache.update(self._scan(missing))
        found: dict[Key, list[str]] = {}
        for form in vocabulary:
            for key in cache[form]:
                forms = found.get(key)
                if forms is None:
                    found[key] = [form]
                else:
                    forms.append(form)
        return found

    def _scan(self, forms: list[str]) -> dict[str, tuple[Key, ...]]:
        """One Aho-Corasick pass over `forms`: form -> the patterns it matches."""
        assert self._automaton is not None
        haystack = _START + (_END + _START).join(forms) + _END
        # ends[i]: one past the end marker of forms[i] (its length + 2 markers each)
        ends = list(accumulate(len(form) + 2 for form in forms))
        hits: dict[str, dict[Key, None]] = {form: {} for form in forms}
        for end_index, keys in self._automaton.iter(haystack):
            found = hits[forms[bisect_left(ends, end_index + 1)]]
            for key in keys:
                found[key] = None  # an infix found twice in one form counts once
        return {form: tuple(keys) for form, keys in hits.items()}


class Presearcher:
    """Maps article keys to candidate watchlists; built once per watchlist config."""

    def __init__(self, config: WatchlistConfig) -> None:
        extractor = KeyExtractor(config)
        self.order = {wid: i for i, wid in enumerate(config.watchlists)}
        self.exact: dict[str, list[str]] = {}
        self.other: dict[Key, list[str]] = {}
        self.always: list[str] = []
        # Multipass (as Lucene Monitor's multipass presearcher): a watchlist whose root is
        # an AND is indexed by its cheapest part's keys, and must also show one key of its
        # second-cheapest part before it is evaluated.
        self.second: dict[str, _KeySplit] = {}
        splits: dict[frozenset[Key], _KeySplit] = {}
        for wid, watchlist in config.watchlists.items():
            parts = extractor.conjunct_keys(watchlist.root)
            if not parts:
                self.always.append(wid)
                continue
            if len(parts) > 1:
                split = splits.get(parts[1])
                if split is None:
                    split = splits[parts[1]] = _KeySplit(parts[1])
                self.second[wid] = split
            for kind, value in parts[0]:
                target = (
                    self.exact.setdefault(value, [])
                    if kind == "exact"
                    else (self.other.setdefault((kind, value), []))
                )
                target.append(wid)

    def candidates(self, article: NormalizedArticle, wild: dict[Key, list[str]]) -> list[str]:
        found: set[str] = set(self.always)
        exact = self.exact
        for form in exact.keys() & article.postings.keys():  # a C-level intersection
            found.update(exact[form])
        for key in self.other.keys() & wild.keys():
            found.update(self.other[key])
        lang_hit = self.other.get(("lang", article.language))
        if lang_hit:
            found.update(lang_hit)
        if self.second:
            seen: dict[int, bool] = {}  # many watchlists share a part (a brand, a theme)
            kept = []
            for wid in found:
                split = self.second.get(wid)
                if split is not None:
                    present = seen.get(id(split))
                    if present is None:
                        present = seen[id(split)] = split.any_in(article, wild)
                    if not present:
                        continue
                kept.append(wid)
            return sorted(kept, key=self.order.__getitem__)
        return sorted(found, key=self.order.__getitem__)


class _KeySplit:
    """A key set split by kind, so that "does the article have one?" runs in C."""

    __slots__ = ("exact", "langs", "other")

    def __init__(self, keys: frozenset[Key]) -> None:
        self.exact = frozenset(v for k, v in keys if k == "exact")
        self.langs = frozenset(v for k, v in keys if k == "lang")
        self.other = frozenset(key for key in keys if key[0] not in ("exact", "lang"))

    def any_in(self, article: NormalizedArticle, wild: dict[Key, list[str]]) -> bool:
        # dict views iterate the smaller side when given a set
        return (
            not article.postings.keys().isdisjoint(self.exact)
            or not wild.keys().isdisjoint(self.other)
            or article.language in self.langs
        )
