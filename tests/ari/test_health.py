"""/healthz shows each node's ARI: ok, unavailable (degraded, still 200), not_configured."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bridge import config as config_mod
from tests.ari.fake import PASSWORD, USER, FakeAri, start
from tests.conftest import Api


@pytest.fixture
async def ari() -> AsyncIterator[FakeAri]:
    """A fake ARI with nothing stored."""
    fake = await start(FakeAri())
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def test_healthz_shows_ari(
    make_api: Callable[..., Any], raw_config: dict[str, Any], ari: FakeAri
) -> None:
    """ARI answering: ok; wrong credentials: unavailable, status degraded, still 200."""
    assert ari.server is not None
    raw_config["ami"]["ari"] = {
        "url": str(ari.server.make_url("/ari")),
        "username": USER,
        "password": PASSWORD,
        "timeout": 0.5,
    }
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    body = await (await api.client.get("/healthz")).json()
    assert (body["status"], body["nodes"]["default"]["ari"]) == ("ok", "ok")
    assert ("GET", "/ari/asterisk/ping") in ari.requests
    ari.hang = True
    resp = await api.client.get("/healthz")
    body = await resp.json()
    assert (resp.status, body["status"], body["nodes"]["default"]["ari"]) == (
        200,
        "degraded",
        "unavailable",
    )
    node = api.services.nodes.first
    assert node.ari is not None
    await node.ari.close()


async def test_healthz_without_ari(api: Api) -> None:
    """No `ami.ari`: not_configured, and nothing degraded for it."""
    body = await (await api.client.get("/healthz")).json()
    assert (body["status"], body["nodes"]["default"]["ari"]) == ("ok", "not_configured")
