"""Articles from files: the loose seed format, and finding article files in folders.

Seed format (as dropped in the inbox):

    " date 2026-03-02 <lede>"   optional first line, leading space optional; the date may be
                                 partial ("2025-07") and is kept as given, never invented into a day
    <title>                      first non-empty line after the date line (or the first line)
    <text>

Markdown files may start their title with "#". Guarantees: parsing never raises on text;
reading raises PermanentError (one clear line) for an unreadable, undecodable or empty file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from worker.errors import PermanentError
from worker.models import Article

_DATE_LINE = re.compile(r"^\s*date\s+(\d{4}-\d{2}(?:-\d{2})?)\b[ \t]*(.*)$")
ARTICLE_SUFFIXES = (".txt", ".md")


def parse_seed(text: str, *, path: str | None = None, source: str | None = None) -> Article:
    """Parse the seed format into an Article; body = lede, then the text after the title."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    published: str | None = None
    lede: str | None = None
    first = 0
    if lines and (m := _DATE_LINE.match(lines[0])):
        published = m.group(1)
        lede = m.group(2).strip() or None
        first = 1
    title = ""
    rest_start = len(lines)
    for i in range(first, len(lines)):
        if lines[i].strip():
            title = lines[i].strip().lstrip("#").strip()
            rest_start = i + 1
            break
    rest = "\n".join(lines[rest_start:]).strip()
    body = "\n\n".join(part for part in (lede, rest) if part)
    return Article(
        title=title,
        body=body,
        path=path,
        source=source,
        published=published,
        lede=lede,
    )


def read_article_file(path: Path, *, source: str | None = None) -> Article:
    """Read and parse one article file; PermanentError if it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PermanentError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Files dropped by hand are sometimes saved as Windows-1252; better that than nothing.
        text = raw.decode("cp1252", errors="replace")
    if not text.strip():
        raise PermanentError(f"{path}: empty file")
    article = parse_seed(text, path=str(path), source=source)
    if not article.title and not article.body:
        raise PermanentError(f"{path}: no text")
    return article


def find_article_files(
    paths: Iterable[Path], patterns: Iterable[str] = ("*.txt", "*.md")
) -> Iterator[Path]:
    """Files named directly, and matching files under folders (recursively, sorted)."""
    patterns = tuple(patterns)
    for path in paths:
        if path.is_dir():
            found: set[Path] = set()
            for pattern in patterns:
                found.update(p for p in path.rglob(pattern) if p.is_file())
            yield from sorted(found)
        else:
            yield path
