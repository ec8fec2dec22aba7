"""Delivery end to end with real parts: the pipeline stores and classifies the seeds, then
digests go to a real SMTP server (aiosmtpd), alerts to a real HTTP receiver, and the
unsubscribe link of a received email is followed on the real web app (uvicorn)."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support import smtpserver, webhookreceiver
from tests.support.smtpserver import SMTPServer
from tests.support.webhookreceiver import WebhookReceiver
from worker import delivery, pipeline
from worker.context import AppContext, build_context
from worker.deliver.webhook import verify
from worker.settings import Settings
from worker.store import deliveries as store
from worker.store.db import session_scope
from worker.web import create_web_app

smtp_server = smtpserver.smtp_server
webhook_receiver = webhookreceiver.webhook_receiver

SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLW5ld3N3YXRjaC10ZXN0cw=="
# Monday 16 November 2026, 10:00 in Amsterdam (CET, UTC+1)
MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_ctx(
    tmp_path: Path, repo_root: Path, subscriptions: str, clock: Clock, **settings: Any
) -> AppContext:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    shutil.copy(repo_root / "config" / "watchlists.yaml", config)
    inbox = tmp_path / "inbox"
    if not inbox.exists():
        shutil.copytree(repo_root / "seeds", inbox)
    (config / "sources.yaml").write_text(f"version: 1\ninbox:\n  - path: {inbox}\nfeeds: []\n")
    (config / "subscriptions.yaml").write_text(subscriptions)
    values: dict[str, Any] = dict(
        config_dir=config,
        data_dir=tmp_path / "var",
        database_url=f"sqlite:///{tmp_path}/db.sqlite",
        retry_base_seconds=0.01,
        secret_key="test-secret-key",
        public_url="http://127.0.0.1:1",
    )
    values.update(settings)
    return build_context(Settings(**values), clock=clock)


def weekly(address: str = "analyst@example.com") -> str:
    return (
        "version: 1\nsubscriptions:\n  - id: weekly\n    watchlists: [eu-expansion, tesla]\n"
        f"    email: {address}\n    schedule: weekly\n    day: monday\n    time: '08:00'\n"
        "    timezone: Europe/Amsterdam\n"
    )


def smtp_settings(server: SMTPServer) -> dict[str, Any]:
    return {"smtp_host": server.host, "smtp_port": server.port, "smtp_tls": "none"}


def test_weekly_digest_arrives_once_with_both_parts(
    tmp_path: Path, repo_root: Path, smtp_server: SMTPServer
) -> None:
    clock = Clock(MONDAY)
    ctx = make_ctx(tmp_path, repo_root, weekly(), clock, **smtp_settings(smtp_server))
    try:
        pipeline.run_once(ctx, deliver=delivery.deliver_new_matches)
        first = delivery.send_due_digests(ctx)  # last week's period: nothing was found in it
        assert first.sent == 0 and first.skipped == 1
        assert smtp_server.messages == []

        clock.now = MONDAY + timedelta(days=7, minutes=1)  # the week with the seeds has ended
        result = delivery.send_due_digests(ctx)
        assert result.sent == 1
        assert len(smtp_server.messages) == 1
        msg = smtp_server.messages[0].message
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        assert msg["To"] == "analyst@example.com"
        assert re.fullmatch(r"<[0-9a-f]{32}@[^>]+>", msg["Message-ID"])
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:1/unsubscribe?token=")
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "<mark" in html and "Reparatie op mijn oprit" in html
        assert "Reparatie op mijn oprit" in text

        again = delivery.send_due_digests(ctx)
        assert again.sent == 0
        assert len(smtp_server.messages) == 1  # re-running sends nothing new
    finally:
        ctx.close()


def test_smtp_outage_then_recovery_delivers_exactly_once(
    tmp_path: Path, repo_root: Path, smtp_server: SMTPServer
) -> None:
    clock = Clock(MONDAY)
    ctx = make_ctx(
        tmp_path,
        repo_root,
        weekly(),
        clock,
        max_inline_retry_seconds=0,
        webhook_max_attempts=10,
        **smtp_settings(smtp_server),
    )
    try:
        pipeline.run_once(ctx)
        delivery.send_due_digests(ctx)
        clock.now = MONDAY + timedelta(days=7, minutes=1)
        smtp_server.stop()
        down = delivery.send_due_digests(ctx)
        assert down.sent == 0 and down.failed == 1
        with session_scope(ctx.sessions) as s:
            failed = store.list_deliveries(s, failed_only=True)
            assert [d.status for d in failed] == ["failed"] and failed[0].last_error

        smtp_server.start()
        clock.now += timedelta(minutes=5)
        up = delivery.send_due_digests(ctx)
        assert up.sent == 1
        delivery.send_due_digests(ctx)
        assert len(smtp_server.messages) == 1
    finally:
        ctx.close()


def instant_webhook(url: str) -> str:
    return (
        "version: 1\nsubscriptions:\n  - id: hook\n    watchlists: [tesla]\n"
        f"    webhook: {{url: '{url}', secret: '{SECRET}'}}\n    schedule: instant\n"
    )


def test_webhook_retried_after_500s_and_signed(
    tmp_path: Path, repo_root: Path, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.script(500, 500, 200, 200)
    ctx = make_ctx(tmp_path, repo_root, instant_webhook(webhook_receiver.url()), Clock(MONDAY))
    try:
        run = pipeline.run_once(ctx, deliver=delivery.deliver_new_matches)
        assert run.delivery[0].sent == 2  # two seeds mention Tesla
        statuses = [r.status for r in webhook_receiver.requests]
        assert statuses == [500, 500, 200, 200]
        first_ids = {r.headers["webhook-id"] for r in webhook_receiver.requests[:3]}
        assert len(first_ids) == 1  # the same message id on every retry
        for post in webhook_receiver.requests:
            verify(SECRET, post.headers, post.body, now=MONDAY.timestamp())
        with pytest.raises(ValueError):
            verify(SECRET, post.headers, post.body + b" ", now=MONDAY.timestamp())
        pipeline.run_once(ctx, deliver=delivery.deliver_new_matches)
        assert len(webhook_receiver.requests) == 4  # nothing sent twice
    finally:
        ctx.close()


def test_webhook_400_is_not_retried_and_can_be_retried_by_hand(
    tmp_path: Path, repo_root: Path, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.script(400, 400)
    ctx = make_ctx(tmp_path, repo_root, instant_webhook(webhook_receiver.url()), Clock(MONDAY))
    try:
        pipeline.run_once(ctx, deliver=delivery.deliver_new_matches)
        assert [r.status for r in webhook_receiver.requests] == [400, 400]  # one per alert
        with session_scope(ctx.sessions) as s:
            dead = store.list_deliveries(s, failed_only=True)
            assert {d.status for d in dead} == {"dead"} and len(dead) == 2
            assert all("400" in (d.last_error or "") for d in dead)
            target = dead[0].id
        with session_scope(ctx.sessions) as s:
            assert store.reset_for_retry(s, target, now=MONDAY)
        assert delivery.send_with_retries(ctx, target) == "sent"
        assert webhook_receiver.requests[-1].status == 200
    finally:
        ctx.close()


def test_near_duplicate_story_alerts_once(
    tmp_path: Path, repo_root: Path, webhook_receiver: WebhookReceiver
) -> None:
    ctx = make_ctx(tmp_path, repo_root, instant_webhook(webhook_receiver.url()), Clock(MONDAY))
    original = next((repo_root / "seeds").glob("003_*.txt")).read_text()
    syndicated = original.replace("Reparatie op mijn oprit", "Tesla komt naar je oprit", 1)
    syndicated += "\nDit artikel verscheen eerder op een partnersite.\n"
    (tmp_path / "inbox" / "syndicated.txt").write_text(syndicated)
    try:
        run = pipeline.run_once(ctx, deliver=delivery.deliver_new_matches)
        assert run.delivery[0].sent == 2 and run.delivery[0].folded == 1
        assert len(webhook_receiver.requests) == 2
        with session_scope(ctx.sessions) as s:
            folded = [d for d in store.list_deliveries(s) if d.status == "folded"]
            assert len(folded) == 1 and folded[0].payload["folded_into"]
    finally:
        ctx.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web_port() -> int:
    return _free_port()


def _serve(ctx: AppContext, port: int) -> Iterator[None]:
    app = create_web_app(ctx.settings, lambda sub, email: delivery.unsubscribe(ctx, sub, email))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def test_unsubscribe_link_from_received_email_ends_digests(
    tmp_path: Path, repo_root: Path, smtp_server: SMTPServer, web_port: int
) -> None:
    clock = Clock(MONDAY)
    ctx = make_ctx(
        tmp_path,
        repo_root,
        weekly(),
        clock,
        public_url=f"http://127.0.0.1:{web_port}",
        **smtp_settings(smtp_server),
    )
    serving = _serve(ctx, web_port)
    next(serving)
    try:
        pipeline.run_once(ctx)
        delivery.send_due_digests(ctx)
        clock.now = MONDAY + timedelta(days=7, minutes=1)
        delivery.send_due_digests(ctx)
        assert len(smtp_server.messages) == 1
        link = smtp_server.messages[0].message["List-Unsubscribe"].strip("<>")
        html = smtp_server.messages[0].message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert link.replace("&", "&amp;") in html or link in html  # the footer link too

        page = httpx.get(link)
        assert page.status_code == 200 and "<form" in page.text  # GET only confirms
        forged = httpx.post(link[:-3] + "xyz", data={"List-Unsubscribe": "One-Click"})
        assert forged.status_code == 400
        done = httpx.post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200
        assert httpx.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200

        pipeline.run_once(ctx)  # new matches arrive, but nobody is subscribed any more
        clock.now += timedelta(days=7)
        result = delivery.send_due_digests(ctx)
        assert result.sent == 0
        assert len(smtp_server.messages) == 1
        assert httpx.get(f"http://127.0.0.1:{web_port}/healthz").status_code == 200
    finally:
        next(serving, None)
        ctx.close()


def test_lost_hand_over_is_swept_into_alerts(
    tmp_path: Path, repo_root: Path, webhook_receiver: WebhookReceiver
) -> None:
    clock = Clock(MONDAY)
    ctx = make_ctx(tmp_path, repo_root, instant_webhook(webhook_receiver.url()), clock)
    try:
        run = pipeline.run_once(ctx)  # classification ran, the hand-over to delivery did not
        assert run.classified.new_match_ids and webhook_receiver.requests == []
        assert delivery.plan_unplanned_alerts(ctx) == []  # within the grace period: not yet
        clock.now += timedelta(minutes=3)
        swept = delivery.send_due_digests(ctx)
        assert swept.sent == 2 and len(webhook_receiver.requests) == 2
        assert delivery.plan_unplanned_alerts(ctx) == []  # planned once, never again
        clock.now += timedelta(minutes=3)
        delivery.send_due_digests(ctx)
        assert len(webhook_receiver.requests) == 2
    finally:
        ctx.close()


def test_digest_with_only_low_scoring_matches_is_not_sent(
    tmp_path: Path, repo_root: Path, smtp_server: SMTPServer
) -> None:
    clock = Clock(MONDAY)
    strict = weekly() + "    min_score: 1000\n"
    ctx = make_ctx(tmp_path, repo_root, strict, clock, **smtp_settings(smtp_server))
    try:
        pipeline.run_once(ctx)
        delivery.send_due_digests(ctx)
        clock.now = MONDAY + timedelta(days=7, minutes=1)  # matches exist, none scores 1000
        result = delivery.send_due_digests(ctx)
        assert result.sent == 0 and result.skipped == 1
        assert smtp_server.messages == []
    finally:
        ctx.close()
