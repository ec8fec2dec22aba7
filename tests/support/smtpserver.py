"""A real SMTP server (aiosmtpd) on 127.0.0.1 for delivery tests.

`SMTPServer()` listens on a free port and keeps every accepted message (`messages`, parsed
with the default policy). `stop()` and `start()` simulate an outage on the same port;
`script_replies("451 4.3.0 try later", "550 5.7.1 no")` makes the next DATA commands
fail with those replies; `credentials=(user, password)` requires AUTH (without TLS, as a
test server may). Tests use the `smtp_server` fixture.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["ReceivedMessage", "SMTPServer", "smtp_server"]


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return message_from_bytes(self.raw, policy=policy.default)  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, owner: SMTPServer) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        scripted = self.owner._next_reply()
        if scripted is not None:
            return scripted
        self.owner._keep(
            ReceivedMessage(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 OK"


class SMTPServer:
    """Context manager; `host`, `port`, `messages`, `stop()`, `start()`."""

    host = "127.0.0.1"

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.port = free_port()
        self.credentials = credentials
        self.messages: list[ReceivedMessage] = []
        self._replies: list[str] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    def __enter__(self) -> SMTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {}
        if self.credentials is not None:
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        controller = Controller(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        # Right after stop() the port may linger briefly; retry rather than flake.
        for attempt in range(50):
            try:
                controller.start()
                break
            except (OSError, RuntimeError):
                if attempt == 49:
                    raise
                time.sleep(0.05)
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def script_replies(self, *replies: str) -> None:
        """Answer the next len(replies) DATA commands with these replies instead of 250."""
        with self._lock:
            self._replies.extend(replies)

    def _next_reply(self) -> str | None:
        with self._lock:
            return self._replies.pop(0) if self._replies else None

    def _keep(self, message: ReceivedMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.credentials is not None
            and (data.login.decode(), data.password.decode()) == self.credentials
        )
        # handled=False: let aiosmtpd answer 535 itself (handled=True means "already replied").
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    with SMTPServer() as server:
        yield server
