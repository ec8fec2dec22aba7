"""Instant alerts as signed webhooks (Standard Webhooks, https://www.standardwebhooks.com).

Each request carries `webhook-id` (the same on every retry of one alert, so receivers
can deduplicate), `webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature` ("v1,<base64 HMAC-SHA256 of '<id>.<timestamp>.<body>'>").

Secrets: "whsec_<base64>" is decoded as the spec says (what the official standardwebhooks
libraries expect; make one with `generate_secret()`); any other string is used as its
UTF-8 bytes. Give receivers that use the official libraries the whsec_ form.

Errors are translated here: timeouts, connection errors, 408, 429 and 5xx raise
TransientError (with Retry-After, when given, as `retry_after`); other 4xx and redirects,
which are not followed, raise PermanentError. Retrying is the caller's: Celery's retry
with `retry_delay`, or `deliver_with_retries` in-process.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx

from worker.errors import NewswatchError, PermanentError, TransientError
from worker.models import Highlight

__all__ = [
    "EVENT_TYPE",
    "InvalidSignature",
    "Outcome",
    "build_payload",
    "deliver_with_retries",
    "encode_payload",
    "generate_secret",
    "message_id",
    "parse_retry_after",
    "retry_delay",
    "send_webhook",
    "sign",
    "verify",
]

T = TypeVar("T")

EVENT_TYPE = "newswatch.match"
_PREFIX = "whsec_"
_TRANSIENT_STATUSES = {408, 425, 429}


class InvalidSignature(ValueError):
    """Raised by `verify` when a request was not signed with the secret, or is too old."""


def _key(secret: str) -> bytes:
    if secret.startswith(_PREFIX):
        try:
            return base64.b64decode(secret[len(_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if not secret:
        raise ValueError("empty webhook secret")
    return secret.encode("utf-8")


def generate_secret(nbytes: int = 32) -> str:
    """A fresh random secret in the spec's form: "whsec_<base64>"."""
    return _PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def message_id(delivery_key: str) -> str:
    """A stable webhook-id for one delivery: "msg_" + 32 hex chars of its key's SHA-256."""
    return "msg_" + hashlib.sha256(delivery_key.encode("utf-8")).hexdigest()[:32]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The webhook-signature value: "v1,<base64 HMAC-SHA256 of 'id.timestamp.body'>"."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    content = f"{msg_id}.{timestamp}.".encode() + raw
    mac = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> None:
    """Receiver side: raise InvalidSignature unless `body` was signed with `secret` less
    than `tolerance` seconds from `now` (either way, against replays). Header names are
    matched case-insensitively; any one of several space-separated signatures may match.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body)
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate, expected):
            return
    raise InvalidSignature("no matching signature")


def build_payload(
    *,
    subscription: str,
    watchlist_id: str,
    watchlist_name: str,
    article_id: int | None,
    title: str,
    url: str | None,
    source: str | None,
    published: str | None,
    score: float,
    highlights: Sequence[Highlight],
    snippet: str | None,
    at: datetime,
) -> dict[str, Any]:
    """The JSON body, in the spec's envelope: {"type", "timestamp", "data": {...}}."""
    return {
        "type": EVENT_TYPE,
        "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "subscription": subscription,
            "watchlist": {"id": watchlist_id, "name": watchlist_name},
            "article": {
                "id": article_id,
                "title": title,
                "url": url,
                "source": source,
                "published": published,
            },
            "score": round(score, 4),
            "snippet": snippet,
            "highlights": [h.to_dict() for h in highlights],
        },
    }


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent
    or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def send_webhook(
    client: httpx.Client,
    url: str,
    secret: str,
    payload: Mapping[str, Any] | bytes,
    msg_id: str,
    now: datetime | float,
) -> int:
    """POST one signed attempt; the 2xx status on success. Raises Transient/PermanentError.

    `now` stamps this attempt (pass the clock's time; each retry is signed anew, with the
    same `msg_id`).
    """
    body = payload if isinstance(payload, bytes) else encode_payload(payload)
    stamp = int(now.timestamp() if isinstance(now, datetime) else now)
    headers = {
        "content-type": "application/json",
        "user-agent": "newswatch-webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }
    try:
        response = client.post(url, content=body, headers=headers, follow_redirects=False)
    except httpx.TimeoutException as exc:
        raise TransientError(f"webhook timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"webhook connection failed: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        return status
    detail = f"webhook answered {status}: {response.text[:200].strip()}".rstrip(": ")
    if status >= 500 or status in _TRANSIENT_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise TransientError(detail, retry_after=retry_after)
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        raise PermanentError(f"{detail} (redirect to {where} not followed: update the URL)")
    raise PermanentError(detail)


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    base: float = 2.0,
    cap: float = 3600.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...).

    Exponential (base · 2^(attempt-1), at most `cap`) with "equal jitter": between half
    and all of it, so retries of many alerts do not arrive together. A server's
    Retry-After is a floor (up to a day): we never come back earlier than asked.
    """
    exp = min(cap, base * 2 ** max(0, attempt - 1))
    delay = exp / 2 + rng() * exp / 2
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, 86400.0))
    return delay


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What `deliver_with_retries` ended with. `error` is None exactly when it succeeded."""

    value: T | None
    attempts: int
    error: NewswatchError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def permanent(self) -> bool:
        return isinstance(self.error, PermanentError)


def deliver_with_retries(
    send: Callable[[], T],
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
    *,
    delay: Callable[[int, float | None], float] = retry_delay,
    max_delay: float | None = None,
) -> Outcome[T]:
    """The in-process retry loop (embedded mode; Celery does its own).

    Calls `send` until it returns, raises PermanentError (not retried), or has raised
    TransientError `max_attempts` times. With `max_delay`, stops early rather than sleep
    longer than that (a Retry-After of an hour must not stall a run); the outcome then
    carries the TransientError, for the caller to record and try again later.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    attempt = 0
    while True:
        attempt += 1
        try:
            return Outcome(send(), attempt)
        except PermanentError as exc:
            return Outcome(None, attempt, exc)
        except TransientError as exc:
            if attempt >= max_attempts:
                return Outcome(None, attempt, exc)
            wait = delay(attempt, exc.retry_after)
            if max_delay is not None and wait > max_delay:
                return Outcome(None, attempt, exc)
            sleep(wait)
