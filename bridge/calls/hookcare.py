"""Looking after a PhoneCallEvent registration: replaying one delivery, recovering those a
receiver missed, rotating its secret, re-enabling it (issue 23).

Typed values in (the route parsed them), the registration and outbox changed through the store;
every rule of these operations is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.domain.views import iso
from bridge.errors import invalid
from bridge.store.hooks import DISABLED, ENABLED, Outbox, Registration, Registrations
from bridge.webhooks.settings import MAX_OVERLAP, WebhooksConfig
from bridge.webhooks.signing import new_secret


@dataclass(frozen=True)
class Rotated:
    secret: str
    previous_expires: float


async def replay(outbox: Outbox, reg: Registration, delivery_id: str, now: float) -> None:
    """Queues the delivery again (same webhook-id, a new attempt series), whatever its
    outcome; `pce_delivery_invalid` when the registration has no such delivery (any more)."""
    if not delivery_id or not await outbox.replay(reg.id, delivery_id, now):
        raise invalid(
            "pce_delivery_invalid",
            f"{delivery_id!r} is not a delivery of this "
            "PhoneCallEvent (or it is past webhooks.retention).",
        )


async def recover(
    outbox: Outbox,
    config: WebhooksConfig,
    reg: Registration,
    *,
    since: float,
    until: float | None,
    now: float,
) -> int:
    """Queues again, oldest first, every delivery created in [since, until] that was not
    delivered; the window must lie within `webhooks.retention` (older ones are purged)."""
    end = now if until is None else min(until, now)
    if since < now - config.retention or since > now:
        raise invalid(
            "pce_since_invalid",
            "since must be a date within webhooks.retention "
            f"({config.retention:g} seconds) before now.",
        )
    if end <= since:
        raise invalid("pce_until_invalid", "until must be after since.")
    return await outbox.recover(reg.id, since, end, now)


async def rotate(
    registrations: Registrations, reg: Registration, overlap: float, now: float
) -> Rotated:
    """A new secret; the old one still signs (second) for `overlap` seconds (0: not at all)."""
    if not 0 <= overlap <= MAX_OVERLAP:
        raise invalid("pce_overlap_invalid", "overlap must be 0 to 604800 seconds (7 days).")
    expires = now + overlap
    changed = replace(
        reg,
        secret=new_secret(),
        previous_secret=reg.secret if overlap else "",
        previous_expires=expires if overlap else 0.0,
        modified=iso(now),
    )
    await registrations.save(changed)
    return Rotated(changed.secret, expires)


def with_status(reg: Registration, status: int, now: float) -> Registration:
    """A status change: enabling clears `disabledReason` and starts counting its health anew
    (the failures that disabled it do not disable it again)."""
    if status == ENABLED and reg.status == DISABLED:
        return replace(reg, status=ENABLED, disabled_reason="", health_from=now)
    if status == DISABLED:
        return replace(reg, status=DISABLED, disabled_reason="")
    return reg
