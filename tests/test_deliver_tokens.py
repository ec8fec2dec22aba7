"""Unsubscribe tokens: signed, bound to subscription and address, unforgeable."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import SecretStr

from worker.deliver.tokens import make_token, read_token, unsubscribe_url
from worker.errors import PermanentError

KEY = SecretStr("a-long-random-secret-key")


def test_a_token_reads_back_to_its_subscription_and_address() -> None:
    token = make_token(KEY, "sales-team-weekly", "analyst@example.com")
    found = read_token(KEY, token)
    assert (found.subscription_id, found.email) == ("sales-team-weekly", "analyst@example.com")
    assert read_token(KEY, token, email="Analyst@Example.com ") == found
    assert make_token(KEY, "sales-team-weekly", "analyst@example.com") == token
    assert (
        make_token("a-long-random-secret-key", "sales-team-weekly", "analyst@example.com") == token
    )


def test_a_token_cannot_be_used_for_another_address() -> None:
    token = make_token(KEY, "sales-team-weekly", "analyst@example.com")
    with pytest.raises(PermanentError, match="another address"):
        read_token(KEY, token, email="boss@example.com")


def test_a_token_with_an_edited_payload_is_rejected() -> None:
    token = make_token(KEY, "sales-team-weekly", "analyst@example.com")
    payload, signature = token.rsplit(".", 1)
    forged_payload = (
        base64.urlsafe_b64encode(
            json.dumps(["sales-team-weekly", "boss@example.com"], separators=(",", ":")).encode()
        )
        .decode()
        .rstrip("=")
    )
    assert forged_payload != payload
    with pytest.raises(PermanentError, match="invalid unsubscribe token"):
        read_token(KEY, f"{forged_payload}.{signature}")


@pytest.mark.parametrize(
    "bad",
    ["", "garbage", "a.b", "W10.bm9wZQ"],
)
def test_garbage_is_rejected(bad: str) -> None:
    with pytest.raises(PermanentError):
        read_token(KEY, bad)


def test_a_token_signed_with_another_key_is_rejected() -> None:
    other = make_token(SecretStr("some-other-secret"), "sales-team-weekly", "analyst@example.com")
    with pytest.raises(PermanentError):
        read_token(KEY, other)


def test_a_well_signed_value_of_the_wrong_shape_is_rejected() -> None:
    from itsdangerous import URLSafeSerializer

    from worker.deliver import tokens

    wrong = URLSafeSerializer(KEY.get_secret_value(), salt=tokens._SALT).dumps({"s": "x"})
    with pytest.raises(PermanentError):
        read_token(KEY, wrong)


def test_an_empty_key_cannot_sign() -> None:
    with pytest.raises(ValueError):
        make_token(SecretStr(""), "a", "b@c.d")


def test_the_unsubscribe_url() -> None:
    token = make_token(KEY, "s", "a@b.c")
    url = unsubscribe_url("https://news.example.org/", token)
    assert url == f"https://news.example.org/unsubscribe?token={token}"
    assert (
        unsubscribe_url("http://h:8000/base", "a+b/c")
        == "http://h:8000/base/unsubscribe?token=a%2Bb%2Fc"
    )
