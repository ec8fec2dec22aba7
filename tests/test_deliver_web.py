"""The unsubscribe web app, served by a real uvicorn on 127.0.0.1: the page, one-click POST,
bad tokens, health; end to end from the List-Unsubscribe header of a real email."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from tests.support.smtpserver import SMTPServer, free_port, smtp_server  # noqa: F401
from worker.deliver.digest import render_digest
from worker.deliver.email import build_message, send_message
from worker.deliver.sample import sample_digest
from worker.deliver.templates import make_template_env
from worker.deliver.tokens import make_token, unsubscribe_url
from worker.settings import Settings
from worker.web import create_web_app

SETTINGS = Settings(secret_key="web-test-secret-key")


class Subscriptions:
    """The unsubscribe callback's stand-in for the database: who is still subscribed."""

    def __init__(self, *active: tuple[str, str]) -> None:
        self.active = set(active)
        self.calls: list[tuple[str, str]] = []

    def unsubscribe(self, subscription_id: str, email: str) -> bool:
        self.calls.append((subscription_id, email))
        if (subscription_id, email) in self.active:
            self.active.remove((subscription_id, email))
            return True
        return False


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run `app` with uvicorn on a free port of 127.0.0.1; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _Current:
    subs: Subscriptions


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[str, _Current]]:
    """One server for the module (starting uvicorn per test costs 0.2 s); each test puts
    its own Subscriptions behind the callback."""
    current = _Current()
    app = create_web_app(SETTINGS, lambda sub, email: current.subs.unsubscribe(sub, email))
    with serve(app) as base:
        yield base, current


@pytest.fixture
def subs(_served: tuple[str, _Current]) -> Subscriptions:
    fresh = Subscriptions(("sales-team-weekly", "analyst@example.com"))
    _served[1].subs = fresh
    return fresh


@pytest.fixture
def base_url(_served: tuple[str, _Current], subs: Subscriptions) -> str:
    return _served[0]


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as c:
        yield c


def token(email: str = "analyst@example.com", sub: str = "sales-team-weekly") -> str:
    return make_token(SETTINGS.secret_key, sub, email)


def test_get_shows_a_confirmation_page_and_changes_nothing(
    client: httpx.Client, subs: Subscriptions
) -> None:
    response = client.get("/unsubscribe", params={"token": token()})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "analyst@example.com" in response.text and "sales-team-weekly" in response.text
    assert '<form method="post"' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert subs.calls == []


def test_one_click_post_unsubscribes_once(client: httpx.Client, subs: Subscriptions) -> None:
    url = f"/unsubscribe?token={token()}"
    first = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert first.status_code == 200 and "You are unsubscribed" in first.text
    assert subs.calls == [("sales-team-weekly", "analyst@example.com")]
    assert subs.active == set()
    again = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "already unsubscribed" in again.text


def test_the_page_form_posts_to_the_same_address(client: httpx.Client, subs: Subscriptions) -> None:
    page = client.get("/unsubscribe", params={"token": token()})
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = client.post(f"/unsubscribe{action}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and subs.active == set()


def test_a_token_in_the_form_body_is_accepted(client: httpx.Client, subs: Subscriptions) -> None:
    response = client.post("/unsubscribe", data={"token": token()})
    assert response.status_code == 200 and subs.active == set()


@pytest.mark.parametrize("bad", ["", "garbage", token()[:-2] + "xx"])
def test_a_bad_token_is_a_400_page_and_unsubscribes_nobody(
    client: httpx.Client, subs: Subscriptions, bad: str
) -> None:
    for response in (
        client.get("/unsubscribe", params={"token": bad}),
        client.post("/unsubscribe", params={"token": bad}, data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == 400
        assert "This link does not work" in response.text
    assert subs.calls == []


def test_a_token_signed_with_another_key_is_refused(
    client: httpx.Client, subs: Subscriptions
) -> None:
    forged = make_token("another-key", "sales-team-weekly", "analyst@example.com")
    assert client.post(f"/unsubscribe?token={forged}").status_code == 400
    assert subs.calls == []


def test_the_page_escapes_what_the_token_carries(client: httpx.Client) -> None:
    response = client.get("/unsubscribe", params={"token": token("<b>x</b>@example.com")})
    assert "&lt;b&gt;x&lt;/b&gt;@example.com" in response.text and "<b>x</b>" not in response.text


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}

    def broken() -> None:
        raise RuntimeError("database is down")

    with serve(create_web_app(SETTINGS, lambda s, e: True, healthcheck=broken)) as base:
        response = httpx.get(f"{base}/healthz")
        assert response.status_code == 503 and "database is down" in response.json()["error"]


def test_other_methods_are_refused(client: httpx.Client) -> None:
    assert client.delete(f"/unsubscribe?token={token()}").status_code == 405


# --- end to end: email -> List-Unsubscribe -> real server -> no further digests ------------


def send_digests(subs: Subscriptions, smtp: SMTPServer, base: str, settings: Settings) -> int:
    """What the pipeline does: send the digest to every subscription still active."""
    sent = 0
    for sub_id, email in sorted(subs.active):
        link = unsubscribe_url(base, make_token(settings.secret_key, sub_id, email))
        subject, html, text = render_digest(
            sample_digest(), make_template_env(), unsubscribe_url=link
        )
        msg = build_message(
            key=f"digest:{sub_id}:{sent}",
            mail_from=settings.mail_from,
            to=email,
            subject=subject,
            text=text,
            html=html,
            date=datetime(2026, 11, 23, 7, tzinfo=UTC),
            unsubscribe_url=link,
        )
        send_message(msg, settings)
        sent += 1
    return sent


def test_unsubscribing_from_a_received_email_stops_the_digests(
    base_url: str,
    subs: Subscriptions,
    smtp_server: SMTPServer,  # noqa: F811
) -> None:
    settings = Settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_tls="none",
        secret_key=SETTINGS.secret_key,
        mail_from="newswatch <digests@news.example.org>",
    )
    assert send_digests(subs, smtp_server, base_url, settings) == 1
    [received] = smtp_server.messages
    header = received.message["List-Unsubscribe"]
    assert header.startswith(f"<{base_url}/unsubscribe?token=") and header.endswith(">")
    link = header[1:-1]
    html = received.message.get_body(("html",))
    assert html is not None and link in html.get_content()  # the footer link is the same
    # A mail client's one-click unsubscribe (RFC 8058): POST the fixed body to the link.
    response = httpx.post(
        link,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert subs.calls == [("sales-team-weekly", "analyst@example.com")]
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    assert send_digests(subs, smtp_server, base_url, settings) == 0
    assert len(smtp_server.messages) == 1
