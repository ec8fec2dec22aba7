"""Digests: a period's matches for one subscription, grouped, ranked, deduplicated, rendered.

`build_digest` is pure. It takes the subscription, the period and the matched articles
(DigestEntry: watchlist, article fields, score, highlights, body) and returns a Digest:
one section per watchlist in the subscription's order; items ranked by score (then
newest first); near-duplicates (syndicated copies, see cluster.py) folded into their
best-ranked copy, whose other sources are listed; each item with a snippet of the body
around its densest highlights, HTML-escaped with <mark> around the matched words
(snippet.py).
Entries below the subscription's min_score or for other watchlists are left out.

`render_digest` turns a Digest into (subject, html, text) with the Jinja2 templates of
templates.py; the HTML has its CSS inlined for mail clients.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
from jinja2 import Environment
from markupsafe import Markup

from worker.deliver.cluster import DEFAULT_THRESHOLD, article_fingerprint, cluster
from worker.deliver.schedule import Period
from worker.deliver.snippet import display_date, snippet
from worker.deliver.subscriptions import Subscription
from worker.models import Highlight

__all__ = [
    "Digest",
    "DigestEntry",
    "DigestItem",
    "DigestSection",
    "OtherSource",
    "RenderedDigest",
    "build_digest",
    "display_date",
    "render_digest",
    "snippet",
]

_WS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class DigestEntry:
    """One match to consider: an article in a watchlist, with why it matched."""

    watchlist_id: str
    watchlist_name: str
    title: str
    url: str | None
    source: str | None
    published: str | None
    score: float
    highlights: tuple[Highlight, ...]
    body: str
    article_id: int | None = None
    fingerprint: str | None = None  # article_fingerprint(title, body); computed if None


@dataclass(frozen=True, slots=True)
class OtherSource:
    source: str
    url: str | None
    title: str


@dataclass(frozen=True, slots=True)
class DigestItem:
    article_id: int | None
    title: str
    url: str | None
    source: str
    date: str  # for display, in the subscription's time zone
    score: float
    snippet_html: Markup
    snippet_text: str
    terms: tuple[str, ...]  # distinct matched words, in order of appearance
    also: tuple[OtherSource, ...] = ()


@dataclass(frozen=True, slots=True)
class DigestSection:
    watchlist_id: str
    watchlist_name: str
    items: tuple[DigestItem, ...]
    more: int = 0  # stories left out by max_items

    @property
    def count(self) -> int:
        return len(self.items) + self.more


@dataclass(frozen=True, slots=True)
class Digest:
    subscription_id: str
    schedule: str
    period: Period
    timezone: str
    sections: tuple[DigestSection, ...]
    quiet: tuple[str, ...] = field(default=())  # names of watchlists with nothing new

    @property
    def item_count(self) -> int:
        return sum(s.count for s in self.sections)

    @property
    def is_empty(self) -> bool:
        return not self.sections

    @property
    def heading(self) -> str:
        return {"weekly": "Weekly digest", "daily": "Daily digest"}.get(self.schedule, "Digest")

    @property
    def period_text(self) -> str:
        """ "16 Nov 08:00 – 23 Nov 2026 08:00 CET" in the subscription's zone."""
        zone = ZoneInfo(self.timezone)
        start, end = self.period.start.astimezone(zone), self.period.end.astimezone(zone)
        first = f"{start.day} {start:%b}" + (f" {start.year}" if start.year != end.year else "")
        return f"{first} {start:%H:%M} – {end.day} {end:%b %Y %H:%M} {end.tzname()}"

    @property
    def period_short(self) -> str:
        """ "week 47" for one week, "23 Nov 2026" for one day, else a date range."""
        zone = ZoneInfo(self.timezone)
        start, end = self.period.start.astimezone(zone), self.period.end.astimezone(zone)
        days = (end.date() - start.date()).days
        if days == 7 and self.schedule == "weekly":
            return f"week {start.isocalendar().week}"
        if days == 1:
            return f"{start.day} {start:%b %Y}"
        return f"{start.day} {start:%b} – {end.day} {end:%b %Y}"


class RenderedDigest(NamedTuple):
    subject: str
    html: str
    text: str


# --- building -----------------------------------------------------------------------------


def _source_name(entry: DigestEntry) -> str:
    if entry.source:
        return entry.source
    host = urlsplit(entry.url).hostname if entry.url else None
    return (host or "unknown source").removeprefix("www.")


def _terms(highlights: Sequence[Highlight]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for h in sorted(highlights, key=lambda h: (h.field != "title", h.start)):
        seen.setdefault(h.text.casefold(), h.text)
    return tuple(seen.values())


def _published_at(published: str | None) -> float | None:
    """A sortable moment for "2026-03-02", "2025-07" or a timestamp; None if unreadable."""
    if not published:
        return None
    text = published.strip()
    text = text + "-01" if len(text) == 7 else text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _rank_key(entry: DigestEntry) -> tuple[float, bool, float, str]:
    """Highest score first, then newest (undated last), then by title for a stable order."""
    when = _published_at(entry.published)
    return (-entry.score, when is None, -(when or 0.0), entry.title.casefold())


def _item(group: list[DigestEntry], zone: ZoneInfo) -> DigestItem:
    lead = group[0]
    html, text = snippet(lead.body, lead.highlights)
    also: dict[tuple[str, str | None], OtherSource] = {}
    lead_key = (_source_name(lead), lead.url)
    for other in group[1:]:
        key = (_source_name(other), other.url)
        if key != lead_key and other.url != lead.url:
            also.setdefault(key, OtherSource(key[0], other.url, other.title))
    return DigestItem(
        article_id=lead.article_id,
        title=lead.title,
        url=lead.url,
        source=_source_name(lead),
        date=display_date(lead.published, zone),
        score=lead.score,
        snippet_html=html,
        snippet_text=text,
        terms=_terms(lead.highlights),
        also=tuple(also.values()),
    )


def build_digest(
    subscription: Subscription,
    period: Period,
    entries: Iterable[DigestEntry],
    *,
    max_items: int = 20,
    threshold: float = DEFAULT_THRESHOLD,
) -> Digest:
    """The digest of `entries` for `subscription` over `period` (see the module doc).

    At most `max_items` stories per watchlist; the rest are counted in `more`.
    """
    zone = subscription.zone
    wanted = set(subscription.watchlists)
    by_watchlist: dict[str, list[DigestEntry]] = {}
    seen: set[tuple[str, object]] = set()
    for entry in entries:
        if entry.watchlist_id not in wanted or entry.score < subscription.min_score:
            continue
        identity = (entry.watchlist_id, entry.article_id or entry.url or entry.title)
        if identity in seen:
            continue
        seen.add(identity)
        by_watchlist.setdefault(entry.watchlist_id, []).append(entry)
    sections: list[DigestSection] = []
    quiet: list[str] = []
    for wid in subscription.watchlists:
        found = sorted(by_watchlist.get(wid, []), key=_rank_key)
        if not found:
            quiet.append(wid)
            continue
        groups = cluster(
            found,
            threshold,
            key=lambda e: e.fingerprint or article_fingerprint(e.title, e.body),
        )
        items = tuple(_item(g, zone) for g in groups[:max_items])
        sections.append(
            DigestSection(wid, found[0].watchlist_name, items, more=max(0, len(groups) - max_items))
        )
    return Digest(
        subscription_id=subscription.id,
        schedule=subscription.schedule,
        period=period,
        timezone=subscription.timezone,
        sections=tuple(sections),
        quiet=tuple(quiet),
    )


# --- rendering ----------------------------------------------------------------------------

_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_digest(
    digest: Digest,
    env: Environment,
    *,
    unsubscribe_url: str | None = None,
    watchlist_names: dict[str, str] | None = None,
) -> RenderedDigest:
    """(subject, html, text) from digest.subject.j2, digest.html.j2 and digest.txt.j2.

    `watchlist_names` maps ids to names for the "nothing new in ..." line (ids otherwise).
    Template errors propagate (jinja2.TemplateError); `check_templates` finds them early.
    """
    names = watchlist_names or {}
    context = {
        "digest": digest,
        "sections": digest.sections,
        "quiet": [names.get(w, w) for w in digest.quiet],
        "unsubscribe_url": unsubscribe_url,
    }
    subject = _WS.sub(" ", env.get_template("digest.subject.j2").render(context)).strip()
    context["subject"] = subject
    html = _INLINER.inline(env.get_template("digest.html.j2").render(context))
    text = _tidy_text(env.get_template("digest.txt.j2").render(context))
    return RenderedDigest(subject[:250], html, text)
