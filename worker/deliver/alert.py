"""Instant alerts: one matched article for one subscription, as a value and as messages.

Pure. `build_alert` turns a matched article (a DigestEntry) into an Alert with its
snippet and near-duplicate fingerprint; `alert_payload` gives the webhook JSON,
`render_alert` the (title, text) for chat channels and plain-text emails (alert.txt.j2).
`alert_key` is the natural key of the delivery: one alert per (subscription, article).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from worker.deliver.cluster import article_fingerprint
from worker.deliver.digest import DigestEntry
from worker.deliver.snippet import display_date, snippet
from worker.deliver.subscriptions import Subscription
from worker.deliver.webhook import build_payload
from worker.models import Highlight

__all__ = ["Alert", "alert_key", "alert_payload", "build_alert", "render_alert"]


@dataclass(frozen=True, slots=True)
class Alert:
    subscription_id: str
    watchlist_id: str
    watchlist_name: str
    article_id: int | None
    title: str
    url: str | None
    source: str | None
    published: str | None
    date: str  # for display, in the subscription's time zone
    score: float
    highlights: tuple[Highlight, ...]
    snippet_text: str
    snippet_html: Markup
    fingerprint: str  # store it on the delivery row: later near-duplicates fold into it


def alert_key(subscription_id: str, article_id: int) -> str:
    """ "alert:<subscription>:<article id>": planned once, sent at most once."""
    return f"alert:{subscription_id}:{article_id}"


def build_alert(subscription: Subscription, entry: DigestEntry) -> Alert:
    html, text = snippet(entry.body, entry.highlights)
    return Alert(
        subscription_id=subscription.id,
        watchlist_id=entry.watchlist_id,
        watchlist_name=entry.watchlist_name,
        article_id=entry.article_id,
        title=entry.title,
        url=entry.url,
        source=entry.source,
        published=entry.published,
        date=display_date(entry.published, subscription.zone),
        score=entry.score,
        highlights=entry.highlights,
        snippet_text=text,
        snippet_html=html,
        fingerprint=entry.fingerprint or article_fingerprint(entry.title, entry.body),
    )


def alert_payload(alert: Alert, at: datetime) -> dict[str, Any]:
    """The webhook body (Standard Webhooks envelope, see webhook.build_payload)."""
    return build_payload(
        subscription=alert.subscription_id,
        watchlist_id=alert.watchlist_id,
        watchlist_name=alert.watchlist_name,
        article_id=alert.article_id,
        title=alert.title,
        url=alert.url,
        source=alert.source,
        published=alert.published,
        score=alert.score,
        highlights=alert.highlights,
        snippet=alert.snippet_text,
        at=at,
    )


def render_alert(alert: Alert, env: Environment) -> tuple[str, str]:
    """(title, text): "<watchlist>: <article title>" and alert.txt.j2 rendered."""
    title = f"{alert.watchlist_name}: {alert.title}"
    text = env.get_template("alert.txt.j2").render(alert=alert).strip() + "\n"
    return title[:250], text
