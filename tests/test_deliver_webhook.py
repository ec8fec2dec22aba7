"""Signed webhooks against a real HTTP receiver: signatures, retries, errors, backoff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from tests.support.webhookreceiver import Reply, WebhookReceiver, webhook_receiver  # noqa: F401
from worker.deliver.webhook import (
    InvalidSignature,
    deliver_with_retries,
    encode_payload,
    generate_secret,
    message_id,
    parse_retry_after,
    retry_delay,
    send_webhook,
    sign,
    verify,
)
from worker.errors import PermanentError, TransientError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PAYLOAD = {"type": "newswatch.match", "data": {"article": {"title": "Leapmotor in Europe"}}}
NOW = 1_795_000_000.0


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=httpx.Timeout(2.0, connect=2.0)) as c:
        yield c


def test_the_standard_webhooks_test_vector() -> None:
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_plain_string_secrets_are_used_as_bytes() -> None:
    plain = sign("my plain secret", "msg_1", 1, b"{}")
    assert plain == sign("whsec_" + "bXkgcGxhaW4gc2VjcmV0", "msg_1", 1, b"{}")  # same bytes
    assert plain != sign("my plain secreT", "msg_1", 1, b"{}")
    with pytest.raises(ValueError):
        sign("whsec_not base64!", "msg_1", 1, b"{}")
    fresh = generate_secret()
    assert fresh.startswith("whsec_") and fresh != generate_secret()
    verify(fresh, _headers(fresh, "msg_1", int(NOW), b"{}"), b"{}", now=NOW)


def _headers(secret: str, msg_id: str, stamp: int, body: bytes) -> dict[str, str]:
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": sign(secret, msg_id, stamp, body),
    }


def test_a_delivered_webhook_verifies_on_the_receiver(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    status = send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_abc", NOW)
    assert status == 200
    [request] = webhook_receiver.requests
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_abc"
    assert request.headers["webhook-timestamp"] == str(int(NOW))
    assert json.loads(request.body) == PAYLOAD
    verify(SECRET, request.headers, request.body, now=NOW + 10)
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify(SECRET, request.headers, request.body + b" ", now=NOW)
    with pytest.raises(InvalidSignature, match="no matching signature"):
        verify("whsec_" + "AAAA" * 8, request.headers, request.body, now=NOW)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(SECRET, request.headers, request.body, now=NOW + 301)
    with pytest.raises(InvalidSignature, match="missing"):
        verify(SECRET, {"webhook-id": "msg_abc"}, request.body, now=NOW)


def test_verify_accepts_any_of_several_signatures() -> None:
    body = b'{"a":1}'
    headers = _headers(SECRET, "msg_1", int(NOW), body)
    headers["Webhook-Signature"] = "v1,bm9wZQ== " + headers["Webhook-Signature"]
    verify(SECRET, headers, body, now=NOW)
    headers["Webhook-Timestamp"] = "yesterday"
    with pytest.raises(InvalidSignature, match="not an integer"):
        verify(SECRET, headers, body, now=NOW)


def test_500_500_200_delivers_on_the_third_attempt_with_one_webhook_id(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(500, 503, 200)
    sleeps: list[float] = []
    clock = iter(NOW + 100 * i for i in range(10))
    msg_id = message_id("alert:tariff-alerts:42")
    outcome = deliver_with_retries(
        lambda: send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, msg_id, next(clock)),
        max_attempts=5,
        sleep=sleeps.append,
    )
    assert outcome.ok and outcome.value == 200 and outcome.attempts == 3
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1] <= 8
    assert [r.status for r in webhook_receiver.requests] == [500, 503, 200]
    assert {r.headers["webhook-id"] for r in webhook_receiver.requests} == {msg_id}
    stamps = [int(r.headers["webhook-timestamp"]) for r in webhook_receiver.requests]
    assert stamps == sorted(set(stamps))  # each attempt is signed anew
    for r in webhook_receiver.requests:
        verify(SECRET, r.headers, r.body, now=float(r.headers["webhook-timestamp"]))


def test_a_400_is_permanent_and_not_retried(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(400, body=b"unknown event type"))
    sleeps: list[float] = []
    outcome = deliver_with_retries(
        lambda: send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW),
        max_attempts=5,
        sleep=sleeps.append,
    )
    assert not outcome.ok and outcome.permanent and outcome.attempts == 1
    assert "400" in str(outcome.error) and "unknown event type" in str(outcome.error)
    assert sleeps == [] and len(webhook_receiver.requests) == 1


def test_429_retry_after_is_honoured(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(429, {"Retry-After": "30"}))
    with pytest.raises(TransientError) as info:
        send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW)
    assert info.value.retry_after == 30.0
    sleeps: list[float] = []
    webhook_receiver.script(Reply(429, {"Retry-After": "30"}), 200)
    outcome = deliver_with_retries(
        lambda: send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW),
        max_attempts=3,
        sleep=sleeps.append,
    )
    assert outcome.ok and outcome.attempts == 2 and sleeps and sleeps[0] >= 30.0


def test_a_retry_after_beyond_max_delay_stops_the_in_process_loop(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(503, {"Retry-After": "3600"}))
    sleeps: list[float] = []
    outcome = deliver_with_retries(
        lambda: send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW),
        max_attempts=5,
        sleep=sleeps.append,
        max_delay=60,
    )
    assert not outcome.ok and not outcome.permanent and outcome.attempts == 1 and sleeps == []
    assert isinstance(outcome.error, TransientError) and outcome.error.retry_after == 3600


def test_the_last_attempt_gives_up_with_the_transient_error(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.default = Reply(502)
    sleeps: list[float] = []
    outcome = deliver_with_retries(
        lambda: send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW),
        max_attempts=4,
        sleep=sleeps.append,
    )
    assert outcome.attempts == 4 and len(sleeps) == 3 and isinstance(outcome.error, TransientError)
    assert len(webhook_receiver.requests) == 4


def test_timeouts_and_refused_connections_are_transient(
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(200, delay=3))
    with httpx.Client(timeout=0.2) as quick:
        with pytest.raises(TransientError, match="timed out"):
            send_webhook(quick, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW)
        with pytest.raises(TransientError, match="connection failed"):
            send_webhook(quick, "http://127.0.0.1:9/hook", SECRET, PAYLOAD, "msg_1", NOW)


def test_redirects_are_not_followed(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(302, {"Location": "https://elsewhere.example/hook"}))
    with pytest.raises(PermanentError, match="not followed"):
        send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW)
    assert len(webhook_receiver.requests) == 1


def test_408_is_transient(
    client: httpx.Client,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(408)
    with pytest.raises(TransientError, match="408"):
        send_webhook(client, webhook_receiver.url(), SECRET, PAYLOAD, "msg_1", NOW)


def test_retry_delay_grows_exponentially_with_jitter_and_a_cap() -> None:
    low = [retry_delay(n, rng=lambda: 0.0) for n in range(1, 6)]
    high = [retry_delay(n, rng=lambda: 1.0) for n in range(1, 6)]
    assert low == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert high == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert retry_delay(30, rng=lambda: 1.0) == 3600.0
    assert 1.0 <= retry_delay(1) <= 2.0
    assert retry_delay(1, retry_after=120, rng=lambda: 1.0) == 120.0
    assert retry_delay(6, retry_after=5, rng=lambda: 1.0) == 64.0  # never earlier than asked
    assert retry_delay(1, retry_after=10 * 86400) == 86400.0


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(90.0)
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now=now.timestamp()) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_deliver_with_retries_needs_an_attempt() -> None:
    with pytest.raises(ValueError):
        deliver_with_retries(lambda: 1, max_attempts=0)


def test_payload_bytes_are_what_is_signed() -> None:
    body = encode_payload({"title": "Citroën ë-C3", "n": 1})
    assert body == '{"title":"Citroën ë-C3","n":1}'.encode()
    assert message_id("alert:a:1") == message_id("alert:a:1") != message_id("alert:a:2")
    assert message_id("alert:a:1").startswith("msg_")
