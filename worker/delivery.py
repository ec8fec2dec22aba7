"""Delivery orchestration: matches and periods in, alerts and digests out, exactly once.

    deliver_new_matches(ctx, match_ids)   instant alerts for matches new to their article
    plan_due_digests(ctx)                 plan the digest periods that have ended
    send(ctx, delivery_id)                one attempt at one planned delivery
    send_due_digests(ctx)                 plan and send due digests (embedded default)
    unsubscribe(ctx, subscription_id, email)

Every delivery is planned under its natural key before anything is sent, claimed by one
sender, and its outcome recorded (worker.store.deliveries). A near-duplicate of an article
already alerted to a subscription within `alert_dedup_hours` is folded into the earlier
alert's record instead of being sent. Transient failures are retried with exponential
backoff and jitter (Celery in the stack, an in-process loop in the embedded default);
after `webhook_max_attempts` the delivery is dead, visible in `newswatch deliveries --failed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from worker.context import AppContext
from worker.deliver import chat, email, webhook
from worker.deliver.alert import Alert, alert_key, alert_payload, build_alert, render_alert
from worker.deliver.cluster import best_match
from worker.deliver.digest import DigestEntry, build_digest, render_digest
from worker.deliver.schedule import Period, current_period, digest_key, due_period
from worker.deliver.snippet import display_date
from worker.deliver.subscriptions import Subscription, load_subscriptions, subscription_from_row
from worker.deliver.templates import make_template_env
from worker.deliver.tokens import make_token, unsubscribe_url
from worker.errors import PermanentError, TransientError
from worker.models import Highlight
from worker.store import deliveries as store
from worker.store import repo
from worker.store.db import session_scope
from worker.store.tables import DeliveryRow

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=15)


@dataclass
class DeliverySummary:
    sent: int = 0
    folded: int = 0
    skipped: int = 0
    failed: int = 0
    dead: int = 0
    outbox: list[str] = field(default_factory=list)

    def count(self, status: str) -> None:
        if hasattr(self, status) and status != "outbox":
            setattr(self, status, getattr(self, status) + 1)

    def __str__(self) -> str:
        parts = [f"{n} {k}" for k, n in vars(self).items() if k != "outbox" and n]
        text = ", ".join(parts) or "nothing to send"
        if self.outbox:
            text += "; written to " + ", ".join(self.outbox)
        return text


# --- subscriptions ------------------------------------------------------------------------


def subscriptions(ctx: AppContext, *, include_disabled: bool = False) -> list[Subscription]:
    """Subscriptions from subscriptions.yaml and the database, minus unsubscribed ones."""
    watchlist_ids = set(ctx.matcher().config.watchlists)
    found = load_subscriptions(ctx.settings.subscriptions_file, watchlist_ids=watchlist_ids)
    with session_scope(ctx.sessions) as session:
        for row in store.active_subscription_rows(session):
            try:
                found.append(subscription_from_row(row))
            except ValueError as exc:
                log.warning("ignoring subscription: %s", exc)
        opted_out = store.opted_out(session)
    return [
        s
        for s in found
        if (include_disabled or s.enabled) and (s.id, s.target.casefold()) not in opted_out
    ]


def unsubscribe(ctx: AppContext, subscription_id: str, address: str) -> bool:
    """The unsubscribe endpoint's action; idempotent. False if no such subscription."""
    now = ctx.now()
    with session_scope(ctx.sessions) as session:
        if subscription_id.startswith("db-") and subscription_id[3:].isdigit():
            return store.deactivate_row(session, int(subscription_id[3:]), address, now=now)
        known = {s.id: s for s in subscriptions(ctx, include_disabled=True)}
        sub = known.get(subscription_id)
        if sub is None or sub.target.casefold() != address.casefold():
            return False
        store.opt_out(session, subscription_id, address, now=now)
        return True


def _unsubscribe_link(ctx: AppContext, sub: Subscription) -> str | None:
    if sub.channel != "email":
        return None
    token = make_token(ctx.settings.secret_key, sub.id, sub.target)
    return unsubscribe_url(ctx.settings.public_url, token)


def _entry(ctx: AppContext, match: Any, article: Any) -> DigestEntry:
    names = ctx.matcher().config.watchlists
    return DigestEntry(
        watchlist_id=match.watchlist,
        watchlist_name=names[match.watchlist].name if match.watchlist in names else match.watchlist,
        title=article.title,
        url=article.url,
        source=article.source,
        published=article.published,
        score=match.score,
        highlights=tuple(Highlight(**h) for h in match.highlights or []),
        body=article.body,
        article_id=article.id,
    )


# --- instant alerts -----------------------------------------------------------------------


def plan_alerts(ctx: AppContext, match_ids: list[int]) -> tuple[list[int], int]:
    """Plan one alert per (instant subscription, article); returns (ids to send, folded)."""
    instant = [s for s in subscriptions(ctx) if s.schedule == "instant"]
    if not match_ids:
        return [], 0
    if not instant:
        _mark_planned(ctx, match_ids)
        return [], 0
    with session_scope(ctx.sessions) as session:
        pairs = store.matches_with_articles(session, match_ids)
        entries = [_entry(ctx, m, a) for m, a in pairs]
    to_send: list[int] = []
    folded = 0
    now = ctx.now()
    window = now - timedelta(hours=ctx.settings.alert_dedup_hours)
    for sub in instant:
        best: dict[int, DigestEntry] = {}
        for entry in entries:  # the best-scoring watchlist of the subscription per article
            if entry.watchlist_id in sub.watchlists and entry.score >= sub.min_score:
                assert entry.article_id is not None
                current = best.get(entry.article_id)
                if current is None or entry.score > current.score:
                    best[entry.article_id] = entry
        for article_id, entry in sorted(best.items()):
            alert = build_alert(sub, entry)
            with session_scope(ctx.sessions) as session:
                earlier = best_match(
                    alert.fingerprint, store.recent_alerts(session, sub.id, window)
                )
                payload = alert_payload(alert, now)
                if earlier:  # folded into that alert's record: kept, never sent
                    payload["folded_into"] = earlier[0]
                    payload["similarity"] = round(earlier[1], 3)
                delivery_id, new = store.plan(
                    session,
                    key=alert_key(sub.id, article_id),
                    subscription=sub.id,
                    channel=sub.channel,
                    now=now,
                    article_id=article_id,
                    payload=payload,
                    fingerprint=alert.fingerprint,
                    status="folded" if earlier else "pending",
                )
            if not new:
                continue  # planned before: its own send (and retries) take care of it
            if earlier:
                folded += 1
            else:
                to_send.append(delivery_id)
    _mark_planned(ctx, match_ids)
    return to_send, folded


def _mark_planned(ctx: AppContext, match_ids: list[int]) -> None:
    with session_scope(ctx.sessions) as session:
        repo.mark_alerts_planned(session, match_ids, ctx.now())


def plan_unplanned_alerts(ctx: AppContext, *, grace: timedelta = timedelta(minutes=2)) -> list[int]:
    """The sweep: plan alerts for matches whose hand-over to delivery was lost (e.g. the
    broker was down when classification published it). Returns delivery ids to send."""
    with session_scope(ctx.sessions) as session:
        ids = repo.unplanned_match_ids(session, created_before=ctx.now() - grace, limit=5000)
    return plan_alerts(ctx, ids)[0] if ids else []


def _alert_from_payload(payload: dict[str, Any], sub: Subscription) -> Alert:
    """Rebuild what the channel needs from the planned payload (no re-classification)."""
    data = payload["data"]
    from markupsafe import Markup

    return Alert(
        subscription_id=data["subscription"],
        watchlist_id=data["watchlist"]["id"],
        watchlist_name=data["watchlist"]["name"],
        article_id=data["article"]["id"],
        title=data["article"]["title"],
        url=data["article"]["url"],
        source=data["article"]["source"],
        published=data["article"]["published"],
        date=display_date(data["article"]["published"], sub.zone),
        score=data["score"],
        highlights=tuple(Highlight(**h) for h in data["highlights"]),
        snippet_text=data.get("snippet") or "",
        snippet_html=Markup.escape(data.get("snippet") or ""),
        fingerprint="",
    )


def _send_alert(ctx: AppContext, sub: Subscription, row: Any) -> str | None:
    payload = dict(row.payload or {})
    if sub.channel == "webhook":
        assert sub.secret is not None
        webhook.send_webhook(
            ctx.http, sub.target, sub.secret, payload, webhook.message_id(row.key), ctx.now()
        )
        return None
    title, text = render_alert(
        _alert_from_payload(payload, sub), make_template_env(ctx.settings.templates_dir)
    )
    if sub.channel == "apprise":
        chat.send_apprise(sub.target, title, text)
        return None
    return _send_email(ctx, sub, row.key, title, text, None)


# --- digests ------------------------------------------------------------------------------


def plan_due_digests(ctx: AppContext) -> list[int]:
    """Plan the digest of every period that has ended; returns the ids planned now."""
    now = ctx.now()
    planned = []
    for sub in subscriptions(ctx):
        if sub.schedule not in ("daily", "weekly"):
            continue
        with session_scope(ctx.sessions) as session:
            period = due_period(sub, now, store.last_period_end(session, sub.id))
            if period is None:
                continue
            delivery_id, new = store.plan(
                session,
                key=digest_key(sub.id, period),
                subscription=sub.id,
                channel=sub.channel,
                now=now,
                period_start=period.start,
                period_end=period.end,
                payload={"label": period.label},
            )
        if new:
            planned.append(delivery_id)
    return planned


def render(ctx: AppContext, sub: Subscription, period: Period) -> tuple[Any, int]:
    """(RenderedDigest, number of items) of `sub` over `period`."""
    with session_scope(ctx.sessions) as session:
        pairs = store.matches_in_period(session, sub.watchlists, period.start, period.end)
        entries = [_entry(ctx, m, a) for m, a in pairs]
    digest = build_digest(sub, period, entries)
    names = {w.id: w.name for w in ctx.matcher().config.watchlists.values()}
    rendered = render_digest(
        digest,
        make_template_env(ctx.settings.templates_dir),
        unsubscribe_url=_unsubscribe_link(ctx, sub),
        watchlist_names=names,
    )
    # Stories, not matches: entries below min_score or repeated are not in the digest.
    return rendered, digest.item_count


def _send_digest(ctx: AppContext, sub: Subscription, row: Any) -> str | None:
    period = Period(row.period_start, row.period_end, (row.payload or {}).get("label", ""))
    rendered, count = render(ctx, sub, period)
    if count == 0 and not ctx.settings.send_empty_digests:
        return "skipped"
    if sub.channel == "email":
        return _send_email(ctx, sub, row.key, rendered.subject, rendered.text, rendered.html)
    if sub.channel == "apprise":
        chat.send_apprise(sub.target, rendered.subject, rendered.text)
        return None
    assert sub.secret is not None
    body = {
        "type": "newswatch.digest",
        "subscription": sub.id,
        "period": period.label,
        "subject": rendered.subject,
        "text": rendered.text,
    }
    webhook.send_webhook(
        ctx.http, sub.target, sub.secret, body, webhook.message_id(row.key), ctx.now()
    )
    return None


def _send_email(
    ctx: AppContext, sub: Subscription, key: str, subject: str, text: str, html: str | None
) -> str | None:
    """SMTP when configured; otherwise the outbox (returns the path written)."""
    s = ctx.settings
    msg = email.build_message(
        key=key,
        mail_from=s.mail_from,
        to=sub.target,
        subject=subject,
        text=text,
        html=html,
        date=ctx.now(),
        unsubscribe_url=_unsubscribe_link(ctx, sub),
    )
    if s.smtp_host:
        email.send_message(msg, s, timeout=s.http_timeout)
        return None
    eml, html_path = email.write_outbox(msg, html, s.data_dir / "outbox", key)
    return str(html_path or eml)


# --- sending ------------------------------------------------------------------------------


def send(ctx: AppContext, delivery_id: int) -> str:
    """One attempt at a planned delivery; returns its new status.

    Raises TransientError when the attempt failed and may be retried (the failure is
    recorded first); after the last allowed attempt the delivery is dead instead.
    """
    now = ctx.now()
    with session_scope(ctx.sessions) as session:
        row = store.claim(session, delivery_id, now=now, stale_after=STALE_CLAIM)
        if row is None:
            return "not-claimed"
        session.expunge(row)
    sub = {s.id: s for s in subscriptions(ctx)}.get(row.subscription)
    try:
        if sub is None:
            raise PermanentError(f"subscription {row.subscription!r} is gone or unsubscribed")
        if row.article_id is not None:
            result = _send_alert(ctx, sub, row)
        else:
            result = _send_digest(ctx, sub, row)
    except PermanentError as exc:
        _record(ctx, delivery_id, "dead", str(exc))
        return "dead"
    except TransientError as exc:
        dead = row.attempts >= ctx.settings.webhook_max_attempts
        _record(ctx, delivery_id, "dead" if dead else "failed", str(exc))
        if dead:
            return "dead"
        raise
    except Exception as exc:  # a broken template or a bug: record it, do not retry blindly
        log.exception("delivery %s failed", delivery_id)
        _record(ctx, delivery_id, "dead", f"{type(exc).__name__}: {exc}")
        return "dead"
    status = "skipped" if result == "skipped" else "sent"
    payload = dict(row.payload or {})
    if result and result != "skipped":
        payload["outbox"] = result
    with session_scope(ctx.sessions) as session:
        store.finish(session, delivery_id, status, now=ctx.now(), payload=payload)
    return status


def _record(ctx: AppContext, delivery_id: int, status: str, error: str) -> None:
    with session_scope(ctx.sessions) as session:
        store.finish(session, delivery_id, status, now=ctx.now(), error=error)


def send_with_retries(
    ctx: AppContext, delivery_id: int, sleep: Callable[[float], None] = time.sleep
) -> str:
    """The embedded default's retry loop around `send` (Celery retries in the stack)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return send(ctx, delivery_id)
        except TransientError as exc:
            delay = webhook.retry_delay(
                attempt, exc.retry_after, base=ctx.settings.retry_base_seconds
            )
            if delay > ctx.settings.max_inline_retry_seconds:
                return "failed"  # left for the next run rather than stalling this one
            sleep(delay)


def _outbox_of(ctx: AppContext, delivery_id: int) -> str | None:
    with session_scope(ctx.sessions) as session:
        row = session.get(DeliveryRow, delivery_id)
        return (row.payload or {}).get("outbox") if row is not None else None


def deliver_new_matches(ctx: AppContext, match_ids: list[int]) -> DeliverySummary:
    """Embedded default: plan the alerts of new matches and send them in-process."""
    ids, folded = plan_alerts(ctx, match_ids)
    summary = DeliverySummary(folded=folded)
    for delivery_id in ids:
        summary.count(send_with_retries(ctx, delivery_id))
    return summary


def send_due_digests(ctx: AppContext, *, retry_open: bool = True) -> DeliverySummary:
    """Embedded default: plan due digests, then send every open one (catching up once)."""
    plan_due_digests(ctx)
    plan_unplanned_alerts(ctx)
    summary = DeliverySummary()
    with session_scope(ctx.sessions) as session:
        open_ids = store.open_deliveries(session, digests=True)
        if retry_open:
            open_ids += store.open_deliveries(session, digests=False)
    for delivery_id in open_ids:
        status = send_with_retries(ctx, delivery_id)
        summary.count(status)
        path = _outbox_of(ctx, delivery_id) if status == "sent" else None
        if path:
            summary.outbox.append(path)
    return summary


def write_previews(ctx: AppContext) -> list[str]:
    """Embedded default without SMTP: the digest each email subscriber will get for the
    period under way, as var/outbox/preview-*.eml and .html (not a delivery: nothing is
    recorded, the real digest is still sent when its period ends)."""
    paths = []
    now = ctx.now()
    for sub in subscriptions(ctx):
        if sub.channel != "email" or sub.schedule == "instant":
            continue
        period = current_period(sub, now)
        rendered, count = render(ctx, sub, period)
        if count == 0:
            continue
        key = f"preview:{sub.id}"
        msg = email.build_message(
            key=key,
            mail_from=ctx.settings.mail_from,
            to=sub.target,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            date=now,
            unsubscribe_url=_unsubscribe_link(ctx, sub),
        )
        eml, html_path = email.write_outbox(
            msg, rendered.html, ctx.settings.data_dir / "outbox", key
        )
        paths.append(str(html_path or eml))
    return paths
