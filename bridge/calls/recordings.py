"""Recordings (issue 25): which the app may see, their audio from ARI, deleting them.

Tenant rules are the call history's: a recording is listed under every extension of its call,
and an app sees it under the extensions of its scope (the path's). A recording the app may not
see is answered exactly like one that does not exist (400 `recording_invalid`). The audio and
the deletes go to the ARI of the node that recorded it; a node without `ami.ari` answers 501
`request_not_implemented` naming the missing key, an ARI that does not answer 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import structlog

from bridge.ari.client import AriClient, StoredFile
from bridge.calls.nodes import Nodes
from bridge.domain.recordings import RecordingRecord, is_recording_id
from bridge.errors import ApiError, invalid
from bridge.store.recordings import RecordingStore
from bridge.tenants import Extension

log = structlog.get_logger("bridge.recordings")


class Recordings:
    """The recordings use cases over the store and each node's ARI."""

    def __init__(self, store: RecordingStore, nodes: Nodes) -> None:
        self.store = store
        self.nodes = nodes

    def require_ari(self) -> None:
        """501 when no node has an ARI link (recordings cannot be served at all)."""
        if not any(n.ari is not None for n in self.nodes.all):
            raise _not_configured("ami.ari")

    async def listed(self, exts: Iterable[Extension]) -> list[tuple[str, RecordingRecord]]:
        """(extension, recording) under each of `exts`, oldest first."""
        self.require_ari()
        return await self.store.listed({e.number for e in exts})

    async def find(self, exts: Iterable[Extension], recording_id: str) -> RecordingRecord:
        """The recording, if listed under one of `exts`; else 400 recording_invalid."""
        self.require_ari()
        numbers = {e.number for e in exts}
        rec = await self.store.get(recording_id) if is_recording_id(recording_id) else None
        if rec is None or not numbers & set(rec.extensions):
            raise invalid("recording_invalid", f"Unknown recording id {_shown(recording_id)}.")
        return rec

    def ari_of(self, rec: RecordingRecord) -> AriClient:
        node = self.nodes.by_name.get(rec.node) or self.nodes.first
        if node.ari is None:
            where = "ami.ari" if not self.nodes.several else f"ami[{node.name}].ari"
            raise _not_configured(where)
        return node.ari

    @asynccontextmanager
    async def audio(
        self, exts: Iterable[Extension], recording_id: str
    ) -> AsyncIterator[tuple[RecordingRecord, StoredFile]]:
        """The recording and its audio as ARI streams it."""
        rec = await self.find(exts, recording_id)
        async with self.ari_of(rec).file(rec.id) as found:
            if found is None:
                raise invalid("recording_invalid", f"Asterisk no longer has recording {rec.id}.")
            yield rec, found

    async def delete(self, exts: Iterable[Extension], recording_id: str) -> None:
        """Deletes the file from ARI (gone already is fine) and the record; a live call
        forgets it too, so that its end does not store it again."""
        rec = await self.find(exts, recording_id)
        had = await self.ari_of(rec).delete(rec.id)
        await self.store.delete(rec.id)
        node = self.nodes.of_call(rec.call_id)
        if node is not None:
            node.emit(node.tracker.drop_take(rec.call_id, rec.id))
        log.info("recording.deleted", id=rec.id, call_id=rec.call_id, ari_had_it=had)


def _not_configured(key: str) -> ApiError:
    return ApiError(
        501,
        "request_not_implemented",
        f"Recordings need Asterisk's REST interface: the bridge's config has no "
        f"`{key}` (url, username, password).",
    )


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
