"""Value types that flow through the pipeline: sources -> normalize -> classify -> store -> deliver.

Plain frozen dataclasses: no I/O, no database, safe to pass between processes as dicts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Article:
    """One article as ingested, before classification.

    `published` keeps the precision the source gave: "2026-03-02", "2025-07" (a partial
    date is never invented into a day) or a full ISO-8601 UTC timestamp from a feed.
    """

    title: str
    body: str
    url: str | None = None
    path: str | None = None
    source: str | None = None
    published: str | None = None
    language: str | None = None  # a hint from the source (feed <language>), not the detection
    lede: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Highlight:
    """Where a term matched: field ("title" or "body"), character offsets into that field."""

    field: str
    start: int
    end: int
    text: str
    term: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Match:
    """A watchlist an article matched, how strongly and why."""

    watchlist: str
    score: float
    brands: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    highlights: tuple[Highlight, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "watchlist": self.watchlist,
            "score": self.score,
            "brands": list(self.brands),
            "themes": list(self.themes),
            "highlights": [h.to_dict() for h in self.highlights],
        }
