"""Signed unsubscribe tokens: the capability behind the link in every email.

A token carries the subscription id and the email address, signed with the secret key
(HMAC via itsdangerous, with a salt of its own so no other signed value of ours can pass
for a token). Changing either value, or signing with another key, makes it invalid, so a
token cannot be forged nor pointed at another address. Tokens do not expire: the link in
a two-year-old email must still work (RFC 8058 one-click); unsubscribing is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer
from pydantic import SecretStr

from worker.errors import PermanentError

__all__ = ["UnsubscribeToken", "make_token", "read_token", "unsubscribe_url"]

_SALT = "newswatch.unsubscribe.v1"


@dataclass(frozen=True, slots=True)
class UnsubscribeToken:
    subscription_id: str
    email: str


def _serializer(secret_key: SecretStr | str) -> URLSafeSerializer:
    key = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
    if not key:
        raise ValueError("an empty secret key cannot sign tokens")
    return URLSafeSerializer(key, salt=_SALT)


def make_token(secret_key: SecretStr | str, subscription_id: str, email: str) -> str:
    """A URL-safe token for (subscription, email). The same inputs give the same token."""
    return str(_serializer(secret_key).dumps([subscription_id, email]))


def read_token(
    secret_key: SecretStr | str, token: str, *, email: str | None = None
) -> UnsubscribeToken:
    """The (subscription, email) a token was made for.

    Raises PermanentError when the token is malformed, forged, signed with another key,
    or (with `email`) made for a different address.
    """
    try:
        data = _serializer(secret_key).loads(token)
    except BadSignature:
        raise PermanentError("invalid unsubscribe token") from None
    if (
        not isinstance(data, list)
        or len(data) != 2
        or not all(isinstance(part, str) and part for part in data)
    ):
        raise PermanentError("invalid unsubscribe token")
    found = UnsubscribeToken(subscription_id=data[0], email=data[1])
    if email is not None and email.strip().casefold() != found.email.casefold():
        raise PermanentError("unsubscribe token was made for another address")
    return found


def unsubscribe_url(public_url: str, token: str) -> str:
    """`{public_url}/unsubscribe?token=...`, the link of List-Unsubscribe and the footer."""
    return f"{public_url.rstrip('/')}/unsubscribe?token={quote(token, safe='')}"
