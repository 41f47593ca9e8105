"""The ARI client against a fake ARI on loopback: files, deletes, refusals and silence."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bridge.ari.client import AriClient
from bridge.errors import PbxUnavailable
from tests.ari.fake import FakeAri, start, wav


@pytest.fixture
async def ari() -> AsyncIterator[FakeAri]:
    """A fake ARI serving one recording."""
    fake = await start(FakeAri(files={"uapi-rec": wav(800)}))
    yield fake
    assert fake.server is not None
    await fake.server.close()


async def test_file_streams_with_its_length(ari: FakeAri) -> None:
    """The file comes in chunks whose total is the Content-Length ARI gave."""
    client = AriClient(ari.config(), "default")
    async with client.file("uapi-rec") as found:
        assert found is not None
        got = b"".join([c async for c in found.chunks])
    assert found.length == len(got) == 44 + 1600
    assert got[:4] == b"RIFF"
    assert await client.size("uapi-rec") == 1644
    await client.close()


async def test_missing_recording_is_none_and_delete_false(ari: FakeAri) -> None:
    """A recording ARI does not have: file None, size None, delete False; a real delete
    removes it from ARI."""
    client = AriClient(ari.config(), "default")
    async with client.file("uapi-nothing") as found:
        assert found is None
    assert await client.size("uapi-nothing") is None
    assert await client.delete("uapi-nothing") is False
    assert await client.delete("uapi-rec") is True
    assert ari.files == {}
    await client.close()


async def test_refused_credentials_are_pbx_unavailable(ari: FakeAri) -> None:
    """A wrong password: ping False, every request PbxUnavailable naming the node."""
    client = AriClient(ari.config(password="wrong"), "node1")
    assert await client.ping() is False
    with pytest.raises(PbxUnavailable, match="node1"):
        await client.delete("uapi-rec")
    assert "uapi-rec" in ari.files
    await client.close()


async def test_silent_ari_times_out(ari: FakeAri) -> None:
    """An ARI that never answers: PbxUnavailable after the timeout, ping False."""
    ari.hang = True
    client = AriClient(ari.config(timeout=0.2), "default")
    with pytest.raises(PbxUnavailable, match="does not answer"):
        await client.stored()
    assert await client.ping() is False
    await client.close()


async def test_nothing_listens() -> None:
    """No ARI at all (connection refused): PbxUnavailable, ping False."""
    fake = await start(FakeAri())
    config = fake.config()
    assert fake.server is not None
    await fake.server.close()
    client = AriClient(config, "default")
    assert await client.ping() is False
    with pytest.raises(PbxUnavailable):
        await client.stored()
    await client.close()


@pytest.mark.parametrize("name", ["../etc/passwd", "a\r\nX: y", "", "a/b", "."])
async def test_odd_names_never_reach_ari(ari: FakeAri, name: str) -> None:
    """A name with a path, CR/LF or nothing at all is refused before any request."""
    client = AriClient(ari.config(), "default")
    with pytest.raises(ValueError, match="not a stored recording name"):
        await client.delete(name)
    assert ari.requests == []
    await client.close()
