"""Snippets and dates for people: why an article matched, and when it was published.

Pure. `snippet(body, highlights)` picks the stretch of the body, about 280 characters,
with the most distinct matched terms (the opening when they are near it), begins it at a
sentence or word and never cuts a highlight; it returns HTML (escaped, each highlight in
<mark>) and plain text, whitespace collapsed, an ellipsis where text was cut.
`display_date` shows the precision the source gave, in the reader's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from worker.models import Highlight

__all__ = ["SNIPPET_WIDTH", "display_date", "snippet"]

SNIPPET_WIDTH = 280
_LEAD = 70  # characters of context before the first highlight in the snippet
_WS = re.compile(r"\s+")


def _valid(body: str, highlights: Iterable[Highlight]) -> list[tuple[int, int, str]]:
    spans = sorted(
        (h.start, h.end, h.term)
        for h in highlights
        if h.field == "body" and 0 <= h.start < h.end <= len(body)
    )
    merged: list[tuple[int, int, str]] = []
    for start, end, term in spans:
        if merged and start <= merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, term))
    return merged


def _window(body: str, spans: list[tuple[int, int, str]], width: int) -> tuple[int, int]:
    """The [start, end) of `body`, about `width` long, showing the most distinct terms."""
    anchor = 0
    if spans:
        best: tuple[int, int, int] | None = None  # (distinct terms, hits, earliest)
        for s, _, _ in spans:
            lo = max(0, s - _LEAD)
            inside = [sp for sp in spans if sp[0] >= lo and sp[1] <= lo + width]
            rank = (len({sp[2].casefold() for sp in inside}), len(inside), -s)
            if best is None or rank > best:
                best, anchor = rank, s
    # The opening of an article reads best, so keep it when the anchor is near enough.
    start = 0 if anchor <= width // 2 else max(0, anchor - _LEAD)
    if start > 0:  # begin at a sentence when one starts shortly before, else at a word
        ends = [body.rfind(mark, max(0, start - 40), anchor) for mark in (". ", "! ", "? ", "\n")]
        boundary = max(ends)
        start = boundary + 1 if boundary >= 0 else _word_start(body, start)
        while start < anchor and body[start].isspace():
            start += 1
    end = min(len(body), start + width)
    end = max([end, *(e for s, e, _ in spans if s < end < e)])  # never cut a highlight
    if end < len(body):
        last_mark = max([start, *(e for s, e, _ in spans if start <= s and e <= end)])
        space = body.rfind(" ", max(last_mark, start + width // 2), end)
        end = space if space > 0 else end
    return start, end


def _word_start(body: str, index: int) -> int:
    while index > 0 and not body[index - 1].isspace():
        index -= 1
    return index


def snippet(
    body: str, highlights: Iterable[Highlight], width: int = SNIPPET_WIDTH
) -> tuple[Markup, str]:
    """(HTML, plain text) of the part of `body` that best shows why it matched.

    The HTML is escaped, with each highlight in <mark>; whitespace is collapsed; an
    ellipsis marks text cut at either end. Highlights outside `body` are ignored.
    """
    spans = _valid(body, highlights)
    start, end = _window(body, spans, width)
    pieces: list[tuple[str, bool]] = []
    cursor = start
    for s, e, _ in spans:
        if s < start or e > end:
            continue
        pieces += [(body[cursor:s], False), (body[s:e], True)]
        cursor = e
    pieces.append((body[cursor:end], False))
    html_parts: list[str] = []
    text_parts: list[str] = []
    for piece, marked in pieces:
        flat = _WS.sub(" ", piece)
        if not flat:
            continue
        html_parts.append(f"<mark>{escape(flat)}</mark>" if marked else str(escape(flat)))
        text_parts.append(flat)
    text = "".join(text_parts).strip()
    html = "".join(html_parts).strip()
    if start > 0:
        text, html = "… " + text, "… " + html
    if end < len(body.rstrip()):
        text, html = text + " …", html + " …"
    return Markup(html), text


def display_date(published: str | None, zone: ZoneInfo) -> str:
    """ "2026-03-02" -> "2 Mar 2026"; "2025-07" -> "Jul 2025"; a timestamp -> its local day."""
    if not published:
        return ""
    text = published.strip()
    try:
        if len(text) == 7:
            d = date.fromisoformat(text + "-01")
            return f"{d:%b %Y}"
        if len(text) == 10:
            d = date.fromisoformat(text)
            return f"{d.day} {d:%b %Y}"
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %Y}"
