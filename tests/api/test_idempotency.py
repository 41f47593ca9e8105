"""Idempotency-Key on make-call and PhoneCallEvents create: same key and request, same answer
(24 h, across restarts); same key and another request, 400; malformed keys, 400."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from bridge.api.idempotency import KEYS
from tests.api.conftest import FakePbx
from tests.api.test_phonecalls import URL, call
from tests.conftest import HELPDESK, Api


async def post(
    api: Api,
    body: Any,
    key: str | None,
    url: str = URL,
    token: str | None = None,
) -> tuple[int, Any, Any]:
    headers = api.auth(token) if token else api.auth()
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await api.client.post(url, json=body, headers=headers)
    return resp.status, await resp.json(), resp.headers


async def test_same_key_and_request_returns_the_first_answer(api: Api, pbx: FakePbx) -> None:
    """The retry gets the same status and body, marked as replayed, even after the call ended
    and through the other prefix with a trailing slash; nothing is dialled again."""
    status, first, headers = await post(api, call(nonce="n"), "key-1")
    assert status == 202
    assert "Idempotent-Replayed" not in headers
    api.services.nodes.first.tracker.forget(first[0]["id"])  # ended: a nonce alone would dial again
    again = await post(api, call(nonce="n"), "key-1", url="/unifiedapi/phoneCalls/@me/simple/")
    assert again[:2] == (202, first)
    assert again[2]["Idempotent-Replayed"] == "true"
    assert len(pbx.sent) == 1


async def test_same_key_with_another_body_is_refused(api: Api, pbx: FakePbx) -> None:
    """Another body (or query) under a used key: 400 idempotency_key_reused, nothing dialled."""
    await post(api, call(destination="5551234"), "key-2")
    status, answer, _ = await post(api, call(destination="5559999"), "key-2")
    assert (status, answer["error"]["code"]) == (400, "idempotency_key_reused")
    assert len(pbx.sent) == 1


async def test_keys_are_per_app(api: Api, pbx: FakePbx) -> None:
    """Another app's identical key is its own."""
    await post(api, call(), "shared")
    status, _, _ = await post(
        api,
        call(source="024", extension="024"),
        "shared",
        url="/uapi/phoneCalls/13/simple",
        token=HELPDESK,
    )
    assert status == 202
    assert len(pbx.sent) == 2


@pytest.mark.parametrize("key", ["", "   ", '""', "x" * 256, "tab\there", "caf\u00e9"])
async def test_malformed_key(api: Api, pbx: FakePbx, key: str) -> None:
    """Empty, over 255 characters or not printable ASCII: 400 idempotency_key_invalid."""
    status, answer, _ = await post(api, call(), key)
    assert (status, answer["error"]["code"]) == (400, "idempotency_key_invalid")
    assert pbx.sent == []


async def test_structured_field_string_and_255_characters(api: Api, pbx: FakePbx) -> None:
    """The draft's quoted form names the same key as the bare one; 255 characters are fine."""
    _, first, _ = await post(api, call(), '"abc-123"')
    _, again, _ = await post(api, call(), "abc-123")
    assert again == first
    assert (await post(api, call(), "k" * 255))[0] == 202
    assert len(pbx.sent) == 2


async def test_racing_retries_place_one_call(api: Api, pbx: FakePbx) -> None:
    """Retries sent at once all get the first answer; one Originate."""
    results = await asyncio.gather(*(post(api, call(), "race") for _ in range(5)))
    assert {r[0] for r in results} == {202}
    assert len({r[1][0]["id"] for r in results}) == 1
    assert len(pbx.sent) == 1


async def test_an_error_is_not_kept(api: Api, pbx: FakePbx) -> None:
    """A failed first try (503) is not an answer to keep: the retry places the call."""
    pbx.connected = False
    assert (await post(api, call(), "retry-me"))[0] == 503
    pbx.connected = True
    assert (await post(api, call(), "retry-me"))[0] == 202
    assert len(pbx.sent) == 1


async def test_the_answer_survives_a_restart(
    make_api: Callable[..., Any], pbx: FakePbx, api: Api
) -> None:
    """A restarted bridge (same database) replays the answer and dials nothing."""
    _, first, _ = await post(api, call(), "durable")
    restarted: Api = await make_api()
    other = FakePbx()
    restarted.plug(other)
    again = await post(restarted, call(), "durable")
    assert again[:2] == (202, first)
    assert other.sent == []


async def test_a_key_expires_after_24_hours(api: Api, pbx: FakePbx) -> None:
    """After 24 hours the key is free: the same request places a new call."""
    await post(api, call(), "old")
    assert (await post(api, call(), "old"))[0] == 202
    assert len(pbx.sent) == 1
    keys = api.app[KEYS]
    now = time.time()
    keys.clock = lambda: now + 24 * 3600 + 1
    api.services.nodes.first.tracker.calls.clear()
    assert (await post(api, call(), "old"))[0] == 202
    assert len(pbx.sent) == 2


async def test_phone_call_event_create(api: Api) -> None:
    """Creating a PhoneCallEvent twice with one key registers it once."""
    url = "/uapi/extensions/@me/210/phoneCallEvents"
    body = {"type": "0", "method": "0", "url": "http://127.0.0.1:9/hook"}
    status, first, _ = await post(api, body, "event-1", url=url)
    again = await post(api, body, "event-1", url=url)
    assert (status, again[:2]) == (201, (201, first))
    resp = await api.client.get(url, headers=api.auth())
    assert (await resp.json())["totalResults"] == 1
