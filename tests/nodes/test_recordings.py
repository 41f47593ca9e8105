"""Recordings with two nodes: each is served and deleted by the ARI of the node that recorded
it; a node without `ari` answers 501 naming its key, the other keeps working."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.domain.recordings import RecordingRecord
from tests.ari.fake import FakeAri, start, wav
from tests.conftest import CRM, Api

ONE = "uapi-48bc0f26f2dceaaa2e5c-00-1796560271"
TWO = "uapi-0123456789abcdef0123-00-1796560300"


@pytest.fixture
async def ari2() -> AsyncIterator[FakeAri]:
    """node2's fake ARI, holding TWO."""
    fake = await start(FakeAri(files={TWO: wav(10)}))
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def test_each_recording_goes_to_its_node(
    make_api: Callable[..., Any], cluster_raw: dict[str, Any], ari2: FakeAri
) -> None:
    """TWO (node2) comes from node2's ARI; ONE (node1, no `ari`) answers 501 naming
    `ami[node1].ari`; the list shows both."""
    config = ari2.config()
    cluster_raw["ami"][1]["ari"] = {
        "url": config.url,
        "username": config.username,
        "password": config.password,
    }
    api: Api = await make_api(config_mod.parse(cluster_raw, env={}))
    store = api.services.recordings.store
    for rid, node, ext in ((ONE, "node1", "0003*210"), (TWO, "node2", "0003*410")):
        store.add(RecordingRecord(rid, rid[5:25], "00", ext, "wav", 1.0, 2.0, node, (ext,)))
    await store.flush()
    auth = {"Authorization": f"Bearer {CRM}"}
    resp = await api.client.get("/uapi/recordings/@me", headers=auth)
    assert sorted(e["id"] for e in (await resp.json())["entry"]) == sorted([ONE, TWO])
    resp = await api.client.get(f"/uapi/recordings/@me/410/{TWO}/file", headers=auth)
    assert (resp.status, await resp.read()) == (200, wav(10))
    resp = await api.client.get(f"/uapi/recordings/@me/210/{ONE}/file", headers=auth)
    body = await resp.json()
    assert (resp.status, body["error"]["code"]) == (501, "request_not_implemented")
    assert "`ami[node1].ari`" in body["error"]["message"]
    resp = await api.client.delete(f"/uapi/recordings/@me/410/{TWO}", headers=auth)
    assert resp.status == 204
    assert ari2.files == {}
    node2 = api.services.nodes["node2"]
    assert node2.ari is not None
    await node2.ari.close()
