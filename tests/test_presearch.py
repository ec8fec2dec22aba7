"""The presearcher only skips work: it never changes a result."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.classify import Matcher
from worker.models import Article
from worker.text import normalize
from worker.watchlists.index import PatternIndex
from worker.watchlists.query import Term
from worker.watchlists.schema import load_watchlists

WORDS = [
    "auto",
    "autos",
    "dealer",
    "dealers",
    "merkdealer",
    "europa",
    "europese",
    "tesla",
    "byd",
    "showroom",
    "service",
    "händler",
    "voiture",
    "nikola",
    "model",
    "y",
]
PATTERNS = [
    "auto",
    "dealer*",
    "*dealer",
    "*dealer*",
    "europ*",
    "{Tesla}",
    '"model y"',
    "showroom",
    "handler",
    "voiture*",
    "lang:nl",
    "lang:en",
    "title:byd",
    "body:auto*",
    "source:feed*",
    "*ice",
]

words = st.sampled_from(WORDS)
caps = st.sampled_from([str.lower, str.capitalize, str.upper])


def text_st() -> st.SearchStrategy[str]:
    return st.lists(st.tuples(words, caps).map(lambda wc: wc[1](wc[0])), max_size=25).map(" ".join)


def query_st() -> st.SearchStrategy[str]:
    leaf = st.sampled_from(PATTERNS)
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]} AND {p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]} {p[1]})"),
            inner.map(lambda q: f"(NOT {q})"),
            inner.map(lambda q: f"-{q}" if not q.startswith(("-", "(")) else f"(NOT {q})"),
            st.tuples(inner, inner, st.integers(1, 6)).map(
                lambda p: f"({p[0]} NEAR/{p[2]} {p[1]})"
            ),
        ),
        max_leaves=6,
    )


def build(queries: list[str], brand_first: bool) -> Matcher:
    lines = [
        "version: 1",
        "brands:",
        "  t:",
        "    aliases: ['{Tesla}']",
        "    exclude: ['Nikola Tesla']",
        "  d:",
        "    aliases: [dealer*]",
        "    require_near: [europ*]",
        "    window: 3",
        "themes:",
        "  th: {query: 'showroom OR *dealer*'}",
        "watchlists:",
    ]
    for i, q in enumerate(queries):
        lines.append(f"  w{i}:")
        lines.append(f"    query: {q!r}")
        if brand_first and i % 2:
            lines.append("    brands: [t, d]")
        if i % 3 == 0:
            lines.append("    themes: [th]")
    return Matcher(load_watchlists("prop.yaml", "\n".join(lines) + "\n"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(query_st(), min_size=1, max_size=8),
    st.lists(st.tuples(text_st(), text_st()), min_size=1, max_size=4),
    st.booleans(),
    st.sampled_from([None, "feedA", "other"]),
)
def test_presearch_never_changes_a_result(
    queries: list[str], texts: list[tuple[str, str]], brands: bool, source: str | None
) -> None:
    fast = build(queries, brands)
    slow = Matcher(fast.config, presearch=False)
    for title, body in texts:
        norm = normalize(Article(title=title, body=body, source=source))
        assert [m.to_dict() for m in fast.classify(norm)] == [
            m.to_dict() for m in slow.classify(norm)
        ]


def naive(kind: str, value: str, vocabulary: list[str]) -> list[str]:
    test = {
        "prefix": str.startswith,
        "suffix": str.endswith,
        "infix": lambda form, v: v in form,
    }[kind]
    return [f for f in vocabulary if test(f, value)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text("abcdé", min_size=1, max_size=6), min_size=1, max_size=30, unique=True),
    st.lists(
        st.tuples(
            st.sampled_from(["prefix", "suffix", "infix"]), st.text("abcdé", min_size=1, max_size=3)
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_pattern_index_equals_naive_scan(
    vocabulary: list[str], patterns: list[tuple[str, str]]
) -> None:
    index = PatternIndex([Term(v, k) for k, v in patterns])
    found = index.resolve(vocabulary)
    for kind, value in patterns:
        assert found.get((kind, value), []) == naive(kind, value, vocabulary)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query_st(), text_st(), text_st())
def test_fast_truth_test_agrees_with_full_evaluation(query: str, title: str, body: str) -> None:
    matcher = build([query], True)
    ev = matcher.evaluator(normalize(Article(title=title, body=body, source="feedA")))
    for watchlist in matcher.config.watchlists.values():
        assert ev.holds(watchlist.root) == (ev.eval(watchlist.root) is not None)
