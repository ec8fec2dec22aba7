"""Normalize text once per article: tokens with offsets, folded forms, lemmas, language.

Takes an Article (title and body); returns a NormalizedArticle that every watchlist is
evaluated against, so the cost of normalization is paid once whatever the number of
watchlists. Guarantees:

- token offsets index the original field text (highlights quote the article as written);
- `form` is the token folded: Unicode NFKC, case-folded, accents stripped ("Händler" -> "handler");
- `lemma` is simplemma's lemma of the token in the detected language, folded the same way
  (simplemma sometimes errs, e.g. Dutch "merk" -> "merken", so matching checks both form and lemma);
- `postings` maps every form and lemma to the positions where it occurs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import simplemma

from worker.language import SUPPORTED_LANGUAGES, detect_language
from worker.models import Article

FIELDS: tuple[str, ...] = ("title", "body")
TITLE, BODY = 0, 1

# Letters and digits; apostrophes and hyphens split words ("auto's" -> auto, s;
# "Xiaomi-dealers" -> xiaomi, dealers), which is what queries on the parts expect.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@lru_cache(maxsize=200_000)
def fold(text: str) -> str:
    """Case- and accent-insensitive form: NFKC, casefold, combining marks removed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", stripped)


def tokenize(text: str) -> list[tuple[int, int, str]]:
    """(start, end, surface) for every word in `text`, offsets into `text`."""
    return [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]


@lru_cache(maxsize=400_000)
def lemma_of(lower: str, language: str) -> str:
    """Folded lemma of a lower-cased token; the folded token itself outside nl/en/de/fr."""
    if language in SUPPORTED_LANGUAGES and not lower.isdigit():
        try:
            return fold(simplemma.lemmatize(lower, lang=language))
        except (ValueError, KeyError):  # simplemma rejects a few odd inputs
            pass
    return fold(lower)


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    surface: str
    form: str
    lemma: str


@dataclass(slots=True)
class NormalizedArticle:
    """An article ready for matching. `fields[i]` is the text of FIELDS[i]."""

    article: Article
    language: str
    fields: tuple[str, str]
    tokens: tuple[list[Token], list[Token]]
    # form or lemma -> [(field index, token position)], in text order per field
    postings: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    source: str = ""

    @property
    def vocabulary(self) -> list[str]:
        return list(self.postings)


def detect(article: Article) -> str:
    """Language of the article: the detector on title and body (a feed's hint is only a hint)."""
    sample = f"{article.title}\n{article.body[:4000]}"
    return detect_language(sample)


def tokens_of(text: str, language: str) -> list[Token]:
    tokens = []
    for start, end, surface in tokenize(text):
        lower = surface.lower()
        tokens.append(Token(start, end, surface, fold(surface), lemma_of(lower, language)))
    return tokens


def normalize(article: Article, language: str | None = None) -> NormalizedArticle:
    """Tokenize, lemmatize and index an article. `language` skips detection when known."""
    lang = language or detect(article)
    fields = (article.title or "", article.body or "")
    tokens = (tokens_of(fields[0], lang), tokens_of(fields[1], lang))
    postings: dict[str, list[tuple[int, int]]] = {}
    for field_index, field_tokens in enumerate(tokens):
        for position, token in enumerate(field_tokens):
            postings.setdefault(token.form, []).append((field_index, position))
            if token.lemma != token.form:
                postings.setdefault(token.lemma, []).append((field_index, position))
    return NormalizedArticle(
        article=article,
        language=lang,
        fields=fields,
        tokens=tokens,
        postings=postings,
        source=fold(article.source or ""),
    )
