"""Deliveries of the real dispatcher, validated against the document's `webhooks:` section."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from bridge.store.db import Database
from tests.contract.openapi_check import SeenWebhook, check_webhook
from tests.polling import until
from tests.webhooks.test_dispatcher import Receiver, dispatcher, fire, receiver

__all__ = ["receiver"]  # the fixture


def seen(request: dict[str, str | dict[str, str]]) -> SeenWebhook:
    query, body, headers = request["query"], request["body"], request["headers"]
    assert isinstance(query, str)
    assert isinstance(body, str)
    assert isinstance(headers, dict)
    return SeenWebhook(
        str(request["method"]),
        parse_qsl(query, keep_blank_values=True),
        headers,
        body.encode() or None,
    )


@pytest.mark.parametrize("method", [0, 1])
async def test_deliveries_match_the_webhooks_section(
    db: Database, receiver: tuple[Receiver, str], method: int
) -> None:
    """GET (query) and POST (form) deliveries of a call, headers and parameters as documented."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url, method=method)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    for request in rec.seen:
        check_webhook(seen(request))


async def test_a_delivery_without_its_id_header_fails(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """The check can fail: the same delivery without `webhook-id` is refused."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    hook = seen(rec.seen[0])
    hook.headers = {k: v for k, v in hook.headers.items() if k.lower() != "webhook-id"}
    hook.__post_init__()
    with pytest.raises(AssertionError, match="webhook"):
        check_webhook(hook)
