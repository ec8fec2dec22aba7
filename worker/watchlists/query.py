"""The query language of themes and watchlists: text in, an immutable syntax tree out.

    term         token surface or lemma, case- and accent-insensitive
    {Term}       case-sensitive
    "a phrase"   consecutive tokens
    dealer*  *dealer  *dealer*   prefix, suffix, infix wildcards (merkdealers, Händlernetz)
    a AND b, a b (adjacent = AND), a OR b,
    NOT a, -a, ( ... )
    a NEAR/5 b   within 5 tokens, either order
    title:x body:x lang:nl source:NAME brand:ID theme:ID

Operators are upper case; lower-case "and", "or", "not", "near" are ordinary terms (as in
Lucene). Precedence, tightest first: NOT/-, NEAR, AND (explicit or adjacent), OR.
A syntax error raises QuerySyntaxError with the 1-based column and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
from lark.exceptions import VisitError

from worker.text import fold, tokenize

FIELDS = ("title", "body", "lang", "source", "brand", "theme")
MIN_WILDCARD_LETTERS = 2
DEFAULT_NEAR = 10


class QuerySyntaxError(ValueError):
    """An invalid query; `column` is 1-based within the query text."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.column = column

    def __str__(self) -> str:
        return f"column {self.column}: {self.message}"


# --- syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """One token pattern. kind: exact | prefix | suffix | infix. `value` is folded."""

    value: str
    kind: str = "exact"
    case_sensitive: bool = False
    surface: str = ""  # as written (without braces/stars), for case-sensitive checks
    label: str = ""  # as written in the query, for highlights and explanations


@dataclass(frozen=True, slots=True)
class Phrase:
    terms: tuple[Term, ...]
    label: str


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    left: Node
    right: Node
    distance: int


@dataclass(frozen=True, slots=True)
class Field:
    """Restrict the child to "title" or "body"."""

    name: str
    child: Node


@dataclass(frozen=True, slots=True)
class Lang:
    code: str


@dataclass(frozen=True, slots=True)
class Source:
    pattern: Term


@dataclass(frozen=True, slots=True)
class Ref:
    """brand:ID or theme:ID, resolved against the watchlist file when compiled."""

    kind: str  # "brand" | "theme"
    id: str
    column: int


Node = Term | Phrase | And | Or | Not | Near | Field | Lang | Source | Ref


# --- parsing -----------------------------------------------------------------------------

_END = r'(?![^\s()"{}:])'
_GRAMMAR = rf"""
?start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: near_expr (AND? near_expr)*
?near_expr: unary (NEAR unary)*
?unary: NOT unary          -> negate
      | MINUS unary        -> negate
      | FIELD unary        -> field
      | atom
?atom: TERM                -> term
     | PHRASE              -> phrase
     | CSTERM              -> csterm
     | "(" or_expr ")"

OR.3: /OR{_END}/
AND.3: /AND{_END}/
NOT.3: /NOT{_END}/
NEAR.3: /NEAR(\/[0-9]+)?{_END}/
FIELD.2: /[A-Za-z_]+:(?=\S)/
MINUS: "-"
PHRASE: /"[^"]*"/
CSTERM: /\{{[^{{}}]*\}}/
TERM: /[^\s()"{{}}:\-][^\s()"{{}}:]*/

%import common.WS
%ignore WS
"""

_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "TERM": "a term",
    "PHRASE": "a phrase",
    "CSTERM": "a {Term}",
    "OR": "OR",
    "AND": "AND",
    "NOT": "NOT",
    "NEAR": "NEAR/n",
    "MINUS": "'-'",
    "FIELD": "a field",
    "$END": "end of query",
}


def _term(text: str, column: int, case_sensitive: bool = False) -> Node:
    """A written term: one token, or a phrase if it holds several ("after-sales")."""
    label = text
    kind = "exact"
    starts, ends = text.startswith("*"), text.endswith("*") and len(text) > 1
    core = text[1 if starts else 0 : len(text) - 1 if ends else len(text)]
    if "*" in core:
        raise QuerySyntaxError(f"wildcards go at the start or end of a term: {text!r}", column)
    parts = [surface for _, _, surface in tokenize(core)]
    if not parts:
        raise QuerySyntaxError(f"{text!r} has no letters or digits to match", column)
    if starts or ends:
        letters = sum(len(p) for p in parts)
        if letters < MIN_WILDCARD_LETTERS:
            raise QuerySyntaxError(
                f"a wildcard needs at least {MIN_WILDCARD_LETTERS} letters: {text!r}", column
            )
    terms = []
    for i, surface in enumerate(parts):
        first, last = i == 0, i == len(parts) - 1
        if first and starts and last and ends:
            kind = "infix"
        elif first and starts:
            kind = "suffix"  # "*dealer": the token ends with "dealer"
        elif last and ends:
            kind = "prefix"
        else:
            kind = "exact"
        terms.append(Term(fold(surface), kind, case_sensitive, surface, label))
    if len(terms) == 1:
        return terms[0]
    return Phrase(tuple(terms), label)


def _phrase(inner: str, column: int, case_sensitive: bool, label: str) -> Node:
    terms: list[Term] = []
    for word in inner.split():
        if not tokenize(word.replace("*", "")):
            continue  # "&" in "Lynk & Co": the tokenizer skips it in text too
        node = _term(word, column, case_sensitive)
        terms.extend(node.terms if isinstance(node, Phrase) else [node])  # type: ignore[list-item]
    if not terms:
        raise QuerySyntaxError(f"{label} is empty", column)
    if len(terms) == 1:
        return Term(terms[0].value, terms[0].kind, case_sensitive, terms[0].surface, label)
    return Phrase(
        tuple(Term(t.value, t.kind, t.case_sensitive, t.surface, label) for t in terms), label
    )


def _col(token: Token) -> int:
    return token.column or 1


class _Build(Transformer):  # type: ignore[type-arg]
    def term(self, items: list[Token]) -> Node:
        token = items[0]
        return _term(str(token), _col(token))

    def phrase(self, items: list[Token]) -> Node:
        token = items[0]
        return _phrase(str(token)[1:-1], _col(token), False, str(token))

    def csterm(self, items: list[Token]) -> Node:
        token = items[0]
        return _phrase(str(token)[1:-1], _col(token), True, str(token))

    def negate(self, items: list[object]) -> Node:
        return Not(items[-1])  # type: ignore[arg-type]

    def or_expr(self, items: list[object]) -> Node:
        return Or(tuple(i for i in items if not isinstance(i, Token)))  # type: ignore[misc]

    def and_expr(self, items: list[object]) -> Node:
        return And(tuple(i for i in items if not isinstance(i, Token)))  # type: ignore[misc]

    def near_expr(self, items: list[object]) -> Node:
        node = items[0]
        for i in range(1, len(items), 2):
            op = str(items[i])
            distance = int(op.split("/", 1)[1]) if "/" in op else DEFAULT_NEAR
            node = Near(node, items[i + 1], distance)  # type: ignore[arg-type]
        return node  # type: ignore[return-value]

    def field(self, items: list[object]) -> Node:
        token = items[0]
        assert isinstance(token, Token)
        name = str(token)[:-1].lower()
        child = items[1]
        if name not in FIELDS:
            raise QuerySyntaxError(
                f"unknown field {name!r} (fields: {', '.join(FIELDS)})", _col(token)
            )
        if name in ("title", "body"):
            return Field(name, child)  # type: ignore[arg-type]
        value_column = _col(token) + len(token)
        if name in ("brand", "theme") and isinstance(child, Term | Phrase) and child.label:
            # ids may hold hyphens ("eu-expansion"): take the word as written
            return Ref(name, child.label.strip('{}"'), value_column)
        if not isinstance(child, Term) or child.kind != "exact" and name != "source":
            raise QuerySyntaxError(f"{name}: takes a single word", value_column)
        if name == "lang":
            return Lang(child.value)
        return Source(child)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # The basic lexer, not the contextual one: "a AND AND b" must be an error, not a search
    # for the word "and".
    return Lark(_GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def _describe(expected: set[str]) -> str:
    names = sorted({_NAMES.get(e, e) for e in expected if e not in ("WS",)})
    if "a term" in names:
        return "a term, phrase or '('"
    return " or ".join(names) if names else "something else"


def parse(text: str) -> Node:
    """Parse a query; QuerySyntaxError with a column and what was expected on error."""
    if not text or not text.strip():
        raise QuerySyntaxError("empty query", 1)
    try:
        tree = _parser().parse(text)
        return _Build().transform(tree)  # type: ignore[no-any-return]
    except VisitError as exc:
        if isinstance(exc.orig_exc, QuerySyntaxError):
            raise exc.orig_exc from None
        raise
    except UnexpectedEOF as exc:
        raise QuerySyntaxError(
            f"expected {_describe(set(exc.expected))} after {text.strip()!r}", len(text) + 1
        ) from None
    except UnexpectedToken as exc:
        at_end = exc.token.type == "$END"
        column = len(text.rstrip()) + 1 if at_end or not isinstance(exc.column, int) else exc.column
        before = text[: column - 1].strip()
        if exc.token.type == "$END":
            what = f"expected {_describe(exc.expected)} after {before!r}"
        else:
            what = f"unexpected {str(exc.token)!r}, expected {_describe(exc.expected)}"
            if before:
                what += f" after {before!r}"
        raise QuerySyntaxError(what, column) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            message = "unterminated phrase: missing closing '\"'"
        elif char == "{":
            message = "unterminated {Term}: missing closing '}'"
        elif char in "})":
            message = f"unexpected {char!r} with nothing to close"
        else:
            message = f"unexpected character {char!r}"
        raise QuerySyntaxError(message, exc.column or 1) from None


def terms_of(node: Node) -> list[Term]:
    """Every Term in a tree, in order (for indexing wildcard patterns)."""
    out: list[Term] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Term):
            out.append(n)
        elif isinstance(n, Phrase):
            out.extend(n.terms)
        elif isinstance(n, And | Or):
            stack.extend(reversed(n.children))
        elif isinstance(n, Not | Field):
            stack.append(n.child)
        elif isinstance(n, Near):
            stack.extend((n.right, n.left))
        elif isinstance(n, Source):
            out.append(n.pattern)
    return out


def refs_of(node: Node) -> list[Ref]:
    out: list[Ref] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Ref):
            out.append(n)
        elif isinstance(n, And | Or):
            stack.extend(reversed(n.children))
        elif isinstance(n, Not | Field):
            stack.append(n.child)
        elif isinstance(n, Near):
            stack.extend((n.right, n.left))
    return out


def literal(text: str, column: int = 1) -> Node:
    """A brand alias, model or exclusion as written: words to match in order, no operators.

    "{Tesla}" is case-sensitive, and so is a single word in braces ("{MG} Motor"); a word may
    carry a leading or trailing "*"; words without letters or digits ("&" in "Lynk & Co")
    are skipped, as the tokenizer skips them in text.
    """
    label = text.strip()
    whole = label.startswith("{") and label.endswith("}") and label.count("{") == 1
    inner = label[1:-1] if whole else label
    terms: list[Term] = []
    for word in inner.split():
        braced = word.startswith("{") and word.endswith("}")
        bare = word[1:-1] if braced else word
        if not tokenize(bare.replace("*", "")):
            continue
        node = _term(bare, column, whole or braced)
        terms.extend(node.terms if isinstance(node, Phrase) else [node])  # type: ignore[list-item]
    if not terms:
        raise QuerySyntaxError(f"{label!r} has no letters or digits to match", column)
    terms = [Term(t.value, t.kind, t.case_sensitive, t.surface, label) for t in terms]
    return terms[0] if len(terms) == 1 else Phrase(tuple(terms), label)
