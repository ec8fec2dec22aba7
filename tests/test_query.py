from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.watchlists.query import (
    And,
    Field,
    Lang,
    Near,
    Not,
    Or,
    Phrase,
    QuerySyntaxError,
    Ref,
    Source,
    Term,
    parse,
)


def test_precedence_or_lowest_and_adjacent_is_and() -> None:
    node = parse("a b OR c")
    assert isinstance(node, Or)
    assert isinstance(node.children[0], And)
    assert [t.value for t in node.children[0].children] == ["a", "b"]  # type: ignore[union-attr]


def test_wildcards_kinds() -> None:
    node = parse("dealer* *dealer *dealer*")
    assert isinstance(node, And)
    assert [(t.kind, t.value) for t in node.children] == [  # type: ignore[union-attr]
        ("prefix", "dealer"),
        ("suffix", "dealer"),
        ("infix", "dealer"),
    ]


def test_lowercase_operators_are_terms() -> None:
    node = parse("rock and roll")
    assert isinstance(node, And)
    assert [t.value for t in node.children] == ["rock", "and", "roll"]  # type: ignore[union-attr]
    assert isinstance(parse("not"), Term)
    assert isinstance(parse("ANDROID"), Term)


def test_not_minus_near_fields_refs() -> None:
    assert parse("-a") == Not(parse("a"))
    assert parse("NOT a") == Not(parse("a"))
    near = parse("a NEAR/5 b")
    assert isinstance(near, Near) and near.distance == 5
    field = parse("title:occasion*")
    assert isinstance(field, Field) and field.name == "title"
    assert parse("lang:NL") == Lang("nl")
    assert isinstance(parse("source:autoweek"), Source)
    ref = parse("theme:eu-expansion")
    assert isinstance(ref, Ref) and (ref.kind, ref.id) == ("theme", "eu-expansion")


def test_phrase_and_case_sensitive() -> None:
    phrase = parse('"Lynk & Co"')
    assert isinstance(phrase, Phrase)
    assert [t.value for t in phrase.terms] == ["lynk", "co"]
    cs = parse("{Tesla}")
    assert isinstance(cs, Term) and cs.case_sensitive and cs.surface == "Tesla"


def test_accents_and_case_folded_in_terms() -> None:
    term = parse("Händler*")
    assert isinstance(term, Term) and term.value == "handler"


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("(Europa OR Nederland", 21, "expected ')'"),
        ("Europa OR", 10, "after 'Europa OR'"),
        ("a AND AND b", 7, "unexpected 'AND'"),
        ('dealer "open', 8, "unterminated phrase"),
        ("title:x foo:bar", 9, "unknown field 'foo'"),
        ("a ) b", 3, "unexpected ')'"),
        ("de*ler", 1, "wildcards go at the start or end"),
        ("*e*", 1, "at least 2 letters"),
        ("   ", 1, "empty query"),
        ("a NEAR/3", 9, "expected"),
    ],
)
def test_syntax_errors_point_at_the_column(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    assert info.value.column == column
    assert fragment in info.value.message


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab ()"*{}-:ANDORTNEW/5xé', max_size=30))
def test_parser_never_crashes_unexpectedly(text: str) -> None:
    try:
        parse(text)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
