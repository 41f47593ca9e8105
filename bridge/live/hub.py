"""The live hub: turns tracker changes into stream events and fans them out to the clients.

Theory of operation. Each node's effect sinks hand the hub every effect of its tracker (`sink`):
every change of a call is one (park, hold, mute and the like are `Changed`), so the hub reads
no AMI event. It only notes which calls were touched and, once per loop iteration, renders each
of them as List does. A call whose rendering changed becomes one numbered
`Change` (`call`, or `ended` when it is gone), kept in a bounded buffer for `Last-Event-ID`
resumes and offered to the clients whose extensions it involves (now or before the change: a
client whose extension left gets `ended`). Each frame is encoded once per view (links, fields).

A minute after the last client left, the hub stops rendering and only remembers that it missed
changes: resuming across such a gap, or across an AMI resync (`resynced`), gets `reset` and a
fresh snapshot. Within that minute a lone client that reconnects still resumes.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog

from bridge.config import StreamConfig
from bridge.domain.model import Call, Effect
from bridge.live.client import Client, View
from bridge.live.frames import frame

log = structlog.get_logger("bridge.live")
Item = dict[str, Any]
Render = Callable[[Call], Item]  # a PhoneCall with links relative to .../phoneCalls/{userId}
RESUME_WINDOW = 60.0  # seconds the hub keeps recording after its last client left


@dataclass(frozen=True)
class Change:
    seq: int
    call_id: str
    item: Item | None  # None: the call ended
    numbers: frozenset[str]  # extensions the call involves now (at its end, for `ended`)
    was: frozenset[str]  # those it involved before this change

    @property
    def ended(self) -> bool:
        return self.item is None

    def body(self) -> Item:
        return self.item or {}


@dataclass(frozen=True)
class Kept:
    """A change as the resume buffer keeps it: its item as compact JSON text, which takes
    about 40 % of the memory of the item's dicts (680 bytes against 1,710 for a two-party
    call; a full buffer of 10,000 changes: 12 MB of RSS instead of 23, issue 27). Text, not
    orjson's bytes: those keep a 4 KiB allocation each."""

    seq: int
    call_id: str
    data: str | None  # None: the call ended
    numbers: frozenset[str]
    was: frozenset[str]

    @classmethod
    def of(cls, change: Change) -> Kept:
        data = None if change.item is None else orjson.dumps(change.item).decode()
        return cls(change.seq, change.call_id, data, change.numbers, change.was)

    @property
    def ended(self) -> bool:
        return self.data is None

    def body(self) -> Item:
        """The item, read back (only when a resuming client is sent it)."""
        if self.data is None:
            return {}
        item: Item = orjson.loads(self.data)
        return item


@dataclass
class LiveStats:
    clients: int = 0
    events_sent: int = 0
    events_dropped: int = 0
    overflows: int = 0
    refused: int = 0


def numbers_of(call: Call) -> frozenset[str]:
    """The extended numbers (and public numbers) a call involves: who may see it."""
    ext = call.extension
    return frozenset(call.parties) | ({ext} if ext else frozenset())


class LiveCalls(Protocol):
    """The live calls the hub shows (a node's tracker, or every node's: domain.cluster)."""

    @property
    def calls(self) -> Mapping[str, Call]: ...

    def calls_of(self, parties: set[str]) -> list[Call]: ...


class Hub:
    def __init__(self, tracker: LiveCalls, render: Render, config: StreamConfig) -> None:
        self.tracker = tracker
        self.render = render
        self.config = config
        self.stats = LiveStats()
        self.epoch = secrets.token_hex(4)  # ids of another run never resume here
        self.seq = 0
        self.floor = 0  # a client that saw up to `floor` (or later) can resume
        self.buffer: deque[Kept] = deque()
        self.shown: dict[str, tuple[Item, frozenset[str]]] = {}  # what clients know of a call
        self.clients: set[Client] = set()
        self._by_number: dict[str, set[Client]] = {}
        self._dirty: set[str] = set()
        # One View object per distinct view, so a flush renders each view's frame once and
        # finds it by identity (hashing the dataclass per client was 5 % of a 2,000-client
        # flush: issue 28).
        self._views: weakref.WeakValueDictionary[View, View] = weakref.WeakValueDictionary()
        self._scheduled = False
        self._missed = False  # changes happened while nobody listened
        # Loop time the last client left (None: clients are connected; -inf: never were).
        self._idle_since: float | None = -math.inf

    # -- what the calls feed tells the hub ---------------------------------------------------

    def _idle(self) -> bool:
        """Nobody listens, nor is likely to come back and resume."""
        since = self._idle_since
        if since is None:
            return False
        if since > -math.inf and asyncio.get_running_loop().time() - since < RESUME_WINDOW:
            return False
        self._miss()
        return True

    def sink(self, effects: list[Effect]) -> None:
        if self._idle():
            return
        for effect in effects:
            self._dirty.add(effect.call_id)
        self._schedule()

    def resynced(self) -> None:
        """The tracker was rebuilt after an AMI (re)login: every client starts over."""
        self._forget()
        for client in list(self.clients):
            client.snapshot(reset=True)
        log.info("live.resynced", clients=len(self.clients))

    def _miss(self) -> None:
        if not self._missed:
            self._missed = True
            self._forget()

    def _forget(self) -> None:
        """No resume reaches past this point."""
        self.seq += 1
        self.floor = self.seq
        self.buffer.clear()
        self.shown.clear()
        self._dirty.clear()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    # -- changes -----------------------------------------------------------------------------

    def flush(self) -> None:
        """Turns the calls touched since the last flush into changes and offers them."""
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        batch: dict[Client, list[bytes]] = {}
        for call_id in dirty:
            change = self._change(call_id)
            if change is not None:
                self._record(change)
                self._deliver(change, batch)
        for client, frames in batch.items():
            sent, dropped = client.push(frames)
            self.stats.events_sent += sent
            self.stats.events_dropped += dropped

    def _change(self, call_id: str) -> Change | None:
        call = self.tracker.calls.get(call_id)
        old = self.shown.get(call_id)
        if call is None:
            if old is None:
                return None  # nobody was shown it
            del self.shown[call_id]
            return Change(self.seq + 1, call_id, None, old[1], old[1])
        item, numbers = self.render(call), numbers_of(call)
        if old is not None and old[0] == item:
            return None
        self.shown[call_id] = (item, numbers)
        return Change(self.seq + 1, call_id, item, numbers, old[1] if old else frozenset())

    def _record(self, change: Change) -> None:
        self.seq = change.seq
        self.buffer.append(Kept.of(change))
        if len(self.buffer) > self.config.buffer:
            self.floor = self.buffer.popleft().seq

    def _deliver(self, change: Change, batch: dict[Client, list[bytes]]) -> None:
        """Adds the change's frame to the batch of every client it is for."""
        targets: set[Client] = set()
        for number in change.numbers | change.was:
            targets |= self._by_number.get(number, set())
        frames: dict[int | None, bytes] = {}
        for client in targets:
            data = self._frame_for(client, change, frames)
            if data is not None:
                batch.setdefault(client, []).append(data)

    def _frame_for(
        self, client: Client, change: Change | Kept, cache: dict[int | None, bytes]
    ) -> bytes | None:
        """The client's frame for a change, live or kept for resumes (None: not for it);
        `cache` holds each view's, by the view object's identity (the views of the clients it
        is used for are alive)."""
        key: int | None
        if not change.ended and not change.numbers.isdisjoint(client.scope):
            key = id(client.view)
        elif not change.was.isdisjoint(client.scope):
            key = None  # `ended`: the same for every view
        else:
            return None
        data = cache.get(key)
        if data is None:
            data = cache[key] = (
                frame("ended", {"id": change.call_id}, self.event_id(change.seq))
                if key is None
                else self._call_frame(change.body(), client.view, change.seq)
            )
        return data

    def _call_frame(self, item: Item, view: View, seq: int) -> bytes:
        return frame("call", project(item, view), self.event_id(seq))

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    # -- clients -----------------------------------------------------------------------------

    def full(self) -> bool:
        return len(self.clients) >= self.config.max_clients

    def join(self, scope: Iterable[str], view: View, last_event_id: str | None) -> Client:
        """Registers a client; its queue starts with what it missed, or a snapshot marker."""
        view = self._views.setdefault(view, view)
        client = Client(frozenset(scope), view, self.config.queue, self._overflowed)
        self._idle_since = None
        self._missed = False
        self.flush()
        missed = self._since(last_event_id, client)
        if missed is None or len(missed) >= client.size:
            client.snapshot(reset=last_event_id is not None)
        else:
            for data in missed:
                client.offer(data)
            client.offer(frame("ready", {"resumed": len(missed)}, self.event_id(self.seq)))
        self.clients.add(client)
        self._index(client)
        self.stats.clients = len(self.clients)
        return client

    def _index(self, client: Client) -> None:
        for number in client.scope:
            self._by_number.setdefault(number, set()).add(client)

    def _unindex(self, client: Client) -> None:
        for number in client.scope:
            members = self._by_number.get(number)
            if members is not None:
                members.discard(client)
                if not members:
                    del self._by_number[number]

    def rescope(self) -> int:
        """After a reload: each client whose scope follows the directory (`@self`) takes its
        new extensions, and gets the live calls of an added one at once (a removed one's
        calls are no longer sent to it). Returns how many clients changed scope."""
        self.flush()
        changed = 0
        for client in list(self.clients):
            scope = client.rescope() if client.rescope is not None else client.scope
            if scope == client.scope:
                continue
            self._unindex(client)
            old, client.scope = client.scope, scope
            self._index(client)
            event_id = self.event_id(self.seq)
            for call in self.tracker.calls_of(set(scope - old)):
                if numbers_of(call).isdisjoint(old):
                    client.offer(frame("call", project(self.render(call), client.view), event_id))
            changed += 1
        return changed

    def end_all(self) -> int:
        """Ends every stream (the bridge is stopping): their handlers return at once instead
        of holding the HTTP server's shutdown for its whole timeout. Returns how many."""
        for client in list(self.clients):
            client.end()
        return len(self.clients)

    def leave(self, client: Client) -> None:
        if client not in self.clients:
            return
        self.clients.discard(client)
        self._unindex(client)
        self.stats.clients = len(self.clients)
        if not self.clients:
            self._idle_since = asyncio.get_running_loop().time()

    def _overflowed(self, client: Client, dropped: int) -> None:
        self.stats.overflows += 1
        self.stats.events_dropped += dropped
        self.leave(client)
        log.warning("live.client.overflowed", dropped=dropped, scope=sorted(client.scope))

    def _since(self, last_event_id: str | None, client: Client) -> list[bytes] | None:
        """The frames after `last_event_id` for this client, or None if they are not kept."""
        epoch, _, raw = (last_event_id or "").partition("-")
        if epoch != self.epoch or not raw.isdigit() or not self.floor <= int(raw) <= self.seq:
            return None
        last = int(raw)
        cache: dict[int | None, bytes] = {}
        out = []
        for kept in self.buffer:
            if kept.seq > last:
                data = self._frame_for(client, kept, cache)
                if data is not None:
                    out.append(data)
                cache.clear()
        return out

    def snapshot(self, client: Client, *, reset: bool) -> list[bytes]:
        """`reset` (if asked), one `call` per live call of the client, then `ready`."""
        self.flush()
        event_id = self.event_id(self.seq)
        out = [frame("reset", {}, event_id)] if reset else []
        calls = self.tracker.calls_of(set(client.scope))
        for call in sorted(calls, key=lambda c: c.published):
            item = self.render(call)
            self.shown.setdefault(call.id, (item, numbers_of(call)))
            out.append(frame("call", project(item, client.view), event_id))
        out.append(frame("ready", {"calls": len(calls)}, event_id))
        return out


def project(item: Item, view: View) -> Item:
    """The item with its links under the client's base, and only the fields it asked for."""
    out = dict(item)
    links = item.get("links")
    if isinstance(links, dict) and "self" in links:
        out["links"] = {"self": view.base + links["self"]}
    if view.fields is not None:
        out = {k: v for k, v in out.items() if k in view.fields}
    return out
