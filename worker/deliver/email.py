"""Digest emails: build the MIME message, send it over SMTP, or write it to the outbox.

`build_message` is pure: the same delivery key gives the same Message-ID (<hash@domain of
mail_from>), so a receiving system can spot a resend; the message carries the RFC 8058
one-click unsubscribe headers and `Auto-Submitted: auto-generated` (RFC 3834) so
vacation responders stay quiet.

`send_message` translates SMTP trouble into the error tree: connection failures,
timeouts, a dropped connection and 4xx replies are TransientError; 5xx replies
(rejected sender or recipient, failed login), a server without STARTTLS when it is
required, and a certificate that does not verify are PermanentError (retrying does not
fix configuration; `newswatch deliveries --retry` does, once it is fixed).

`write_outbox` is the embedded default without SMTP: <key>.eml and <key>.html files.
"""

from __future__ import annotations

import hashlib
import os
import re
import smtplib
import ssl
import tempfile
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from worker.errors import PermanentError, TransientError
from worker.settings import Settings

__all__ = ["build_message", "message_id", "outbox_name", "send_message", "write_outbox"]


def _domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    return domain or "newswatch.invalid"


def message_id(key: str, mail_from: str) -> str:
    """ "<sha256(key)[:32]@domain-of-mail_from>": stable per delivery key."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_domain(mail_from)}>"


def build_message(
    *,
    key: str,
    mail_from: str,
    to: str,
    subject: str,
    text: str,
    html: str | None,
    date: datetime,
    unsubscribe_url: str | None,
) -> EmailMessage:
    """multipart/alternative (text, then html) or text/plain when `html` is None.

    `date` is the Date header (pass the clock's time; aware). `key` is the delivery's
    natural key; it makes the Message-ID and is kept in X-Newswatch-Key for support.
    """
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id(key, mail_from)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Newswatch-Key"] = key
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text, subtype="plain", charset="utf-8")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def _connect(settings: Settings, timeout: float) -> smtplib.SMTP:
    host = settings.smtp_host
    if not host:
        raise PermanentError("no SMTP host configured (NEWSWATCH_SMTP_HOST)")
    context = ssl.create_default_context()
    if settings.smtp_tls == "tls":
        return smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_tls == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise PermanentError(
                    f"{host} does not offer STARTTLS (set NEWSWATCH_SMTP_TLS=tls or none)"
                )
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def _reply_error(code: int, text: bytes | str, what: str) -> Exception:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    message = f"SMTP {what}: {code} {reply}".strip()
    return PermanentError(message) if code >= 500 else TransientError(message)


def send_message(msg: EmailMessage, settings: Settings, *, timeout: float = 30.0) -> None:
    """Send over SMTP (settings.smtp_*): none, STARTTLS or implicit TLS; login when
    smtp_user is set. Returns when the server accepted it for every recipient."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
    try:
        with _connect(settings, timeout) as smtp:
            if settings.smtp_user:
                smtp.login(settings.smtp_user, password)
            refused = smtp.send_message(msg)
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(f"SMTP TLS certificate does not verify: {exc}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        # Permanent only if every refusal is; one 4xx means "try again later".
        replies = list(exc.recipients.values()) or [(550, b"refused")]
        code, text = ([r for r in replies if r[0] < 500] or replies)[0]
        raise _reply_error(code, text, "recipient refused") from exc
    except smtplib.SMTPResponseException as exc:
        raise _reply_error(exc.smtp_code, exc.smtp_error, "error") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise PermanentError(f"SMTP: {exc}") from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise TransientError(f"SMTP connection closed: {exc}") from exc
    except smtplib.SMTPException as exc:
        raise TransientError(f"SMTP: {exc}") from exc
    except (TimeoutError, OSError) as exc:
        raise TransientError(f"SMTP connection failed: {exc}") from exc
    if refused:
        raise PermanentError(f"SMTP refused recipients: {', '.join(refused)}")


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def outbox_name(key: str) -> str:
    """A file name (no extension) for a delivery key: "digest:a:2026-..." -> "digest_a_2026-..."."""
    return _UNSAFE.sub("_", key).strip("._") or "message"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outbox(
    msg: EmailMessage, html: str | None, outbox_dir: Path, key: str
) -> tuple[Path, Path | None]:
    """Write <outbox>/<key>.eml (the full message) and <key>.html (the HTML part, to open
    in a browser). Atomic and idempotent: the same key overwrites the same files."""
    outbox_dir.mkdir(parents=True, exist_ok=True)
    name = outbox_name(key)
    eml_path = outbox_dir / f"{name}.eml"
    _write_atomic(eml_path, bytes(msg))
    html_path = None
    if html is not None:
        html_path = outbox_dir / f"{name}.html"
        _write_atomic(html_path, html.encode("utf-8"))
    return eml_path, html_path
