"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

A secret is `whsec_<base64>`; the decoded bytes are the HMAC-SHA256 key, as in the spec and
its reference library (`standardwebhooks.Webhook(secret).verify`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
MIN_KEY_BYTES = 24


def new_secret() -> str:
    """A fresh registration secret: `whsec_` and the base64 of 24 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(MIN_KEY_BYTES)).decode()


def key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError if it is not one (or too short)."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"must start with {PREFIX}")
    try:
        raw = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the part after {PREFIX} must be base64") from exc
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"must hold at least {MIN_KEY_BYTES} bytes of key")
    return raw


def signature(secret: str, delivery_id: str, timestamp: int, payload: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{payload}">` with the secret's key."""
    signed = f"{delivery_id}.{timestamp}.{payload}".encode()
    digest = hmac.new(key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secret: str | Sequence[str], delivery_id: str, timestamp: int, payload: str
) -> dict[str, str]:
    """The three headers; with several secrets (a rotation's overlap) one signature each,
    space separated, the current secret's first (a verifier accepts any one that matches)."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(k, delivery_id, timestamp, payload) for k in keys),
    }
