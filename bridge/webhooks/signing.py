"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp`, `webhook-signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac


def signature(secret: str, delivery_id: str, timestamp: int, payload: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{payload}">` with the app's secret."""
    signed = f"{delivery_id}.{timestamp}.{payload}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str | None, delivery_id: str, timestamp: int, payload: str,
            ) -> dict[str, str]:
    out = {"webhook-id": delivery_id, "webhook-timestamp": str(timestamp)}
    if secret:
        out["webhook-signature"] = signature(secret, delivery_id, timestamp, payload)
    return out


def verify(secret: str, delivery_id: str, timestamp: str, payload: str, header: str) -> bool:
    """What a receiver does (constant-time compare of any of the listed v1 signatures)."""
    want = signature(secret, delivery_id, int(timestamp), payload)
    return any(hmac.compare_digest(want, sig) for sig in header.split())
