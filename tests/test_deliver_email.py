"""Digest emails: MIME structure and headers, a real SMTP server, outages, the outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support.smtpserver import SMTPServer, free_port, smtp_server  # noqa: F401
from worker.deliver.digest import render_digest
from worker.deliver.email import build_message, message_id, outbox_name, send_message, write_outbox
from worker.deliver.sample import sample_digest
from worker.deliver.templates import make_template_env
from worker.errors import PermanentError, TransientError
from worker.settings import Settings

KEY = "digest:sales-team-weekly:2026-11-16T07:00Z"
UNSUBSCRIBE = "https://news.example.org/unsubscribe?token=abc.def"
WHEN = datetime(2026, 11, 23, 7, 0, 5, tzinfo=UTC)


def make_message(key: str = KEY, **kw: Any) -> EmailMessage:
    subject, html, text = render_digest(
        sample_digest(), make_template_env(), unsubscribe_url=UNSUBSCRIBE
    )
    values: dict[str, Any] = {
        "key": key,
        "mail_from": "newswatch <digests@news.example.org>",
        "to": "analyst@example.com",
        "subject": subject,
        "text": text,
        "html": html,
        "date": WHEN,
        "unsubscribe_url": UNSUBSCRIBE,
    }
    values.update(kw)
    return build_message(**values)


def settings_for(server: SMTPServer, **kw: Any) -> Settings:
    return Settings(smtp_host=server.host, smtp_port=server.port, smtp_tls="none", **kw)


def test_the_message_has_a_text_and_an_html_part_and_the_headers() -> None:
    msg = make_message()
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert "1. Leapmotor to double European sales points" in text.get_content()
    assert "<mark" in html.get_content()
    assert msg["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"] == "Mon, 23 Nov 2026 07:00:05 +0000"
    assert msg["Subject"].startswith("Weekly digest, week 47")
    assert msg["To"] == "analyst@example.com"


def test_message_ids_are_deterministic_per_delivery_key() -> None:
    first, again, other = make_message(), make_message(), make_message(key=KEY + "x")
    assert first["Message-ID"] == again["Message-ID"]
    assert first["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@news.example.org>")
    assert message_id(KEY, "bare@host.example") == message_id(KEY, "X <bare@host.example>")
    assert message_id(KEY, "no address").endswith("@newswatch.invalid>")


def test_a_text_only_message_without_unsubscribe_headers() -> None:
    msg = make_message(html=None, unsubscribe_url=None)
    assert msg.get_content_type() == "text/plain"
    assert "List-Unsubscribe" not in msg and "List-Unsubscribe-Post" not in msg


def test_a_digest_arrives_over_smtp_with_both_parts(smtp_server: SMTPServer) -> None:  # noqa: F811
    send_message(make_message(), settings_for(smtp_server))
    [received] = smtp_server.messages
    assert received.mail_from == "digests@news.example.org"
    assert received.rcpt_tos == ["analyst@example.com"]
    msg = received.message
    assert msg["Message-ID"] == make_message()["Message-ID"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    html = msg.get_body(("html",))
    assert html is not None and UNSUBSCRIBE in html.get_content()


def test_an_smtp_outage_is_transient_and_recovery_delivers_once(
    smtp_server: SMTPServer,  # noqa: F811
) -> None:
    settings = settings_for(smtp_server)
    smtp_server.stop()
    with pytest.raises(TransientError, match="SMTP connection failed"):
        send_message(make_message(), settings)
    smtp_server.start()
    send_message(make_message(), settings)
    assert len(smtp_server.messages) == 1


def test_4xx_replies_are_transient_and_5xx_permanent(smtp_server: SMTPServer) -> None:  # noqa: F811
    smtp_server.script_replies("451 4.3.0 Try again later", "550 5.7.1 Message rejected")
    settings = settings_for(smtp_server)
    with pytest.raises(TransientError, match="451"):
        send_message(make_message(), settings)
    with pytest.raises(PermanentError, match="550 5.7.1 Message rejected"):
        send_message(make_message(), settings)
    assert smtp_server.messages == []
    send_message(make_message(), settings)
    assert len(smtp_server.messages) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_when_a_user_is_set() -> None:
    with SMTPServer(credentials=("newswatch", "s3cret")) as server:
        good = settings_for(server, smtp_user="newswatch", smtp_password=SecretStr("s3cret"))
        send_message(make_message(), good)
        assert len(server.messages) == 1
        bad = settings_for(server, smtp_user="newswatch", smtp_password=SecretStr("wrong"))
        with pytest.raises(PermanentError, match="535"):
            send_message(make_message(), bad)
        anonymous = settings_for(server)
        with pytest.raises(PermanentError, match="530"):  # authentication required
            send_message(make_message(), anonymous)
        assert len(server.messages) == 1


def test_starttls_required_but_not_offered_is_permanent(smtp_server: SMTPServer) -> None:  # noqa: F811
    settings = Settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_tls="starttls")
    with pytest.raises(PermanentError, match="does not offer STARTTLS"):
        send_message(make_message(), settings)
    assert smtp_server.messages == []


def test_implicit_tls_against_a_plain_server_fails_as_transient(
    smtp_server: SMTPServer,  # noqa: F811
) -> None:
    settings = Settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_tls="tls")
    with pytest.raises(TransientError):
        send_message(make_message(), settings, timeout=5)


def test_no_smtp_host_is_permanent() -> None:
    with pytest.raises(PermanentError, match="no SMTP host"):
        send_message(make_message(), Settings())


def test_nothing_listening_is_transient() -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none")
    with pytest.raises(TransientError):
        send_message(make_message(), settings, timeout=5)


def test_the_outbox_holds_the_message_and_its_html(tmp_path: Path) -> None:
    msg = make_message()
    html = msg.get_body(("html",))
    assert html is not None
    outbox = tmp_path / "var" / "outbox"
    eml, page = write_outbox(msg, html.get_content(), outbox, KEY)
    assert eml == outbox / "digest_sales-team-weekly_2026-11-16T07_00Z.eml"
    assert page == eml.with_suffix(".html")
    again = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert again["Message-ID"] == msg["Message-ID"]
    assert page.read_text(encoding="utf-8") == html.get_content()
    # Idempotent: the same key writes the same files, and no temporary files remain.
    write_outbox(msg, html.get_content(), outbox, KEY)
    assert sorted(p.name for p in outbox.iterdir()) == sorted([eml.name, page.name])
    text_only, none = write_outbox(make_message(html=None), None, outbox, "alert:x:1")
    assert none is None and text_only.name == "alert_x_1.eml"


def test_outbox_names_are_safe() -> None:
    assert outbox_name("digest:a/../b:2026") == "digest_a_.._b_2026"
    assert "/" not in outbox_name("../../etc/passwd")
    assert outbox_name("...") == "message"
