"""AMI rules without I/O: actions to bytes (injection guard), answers to the actions that asked.

Also the event-filter regexes sent after login and the reconnect backoff, so that each can be
tested without a socket.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bridge.ami.message import ActionFields, AmiMessage
from bridge.errors import AmiActionFailed, AmiInjection, PbxUnavailable

ALWAYS_EVENTS = ("FullyBooted", "Shutdown")
_FORBIDDEN = {"\r": "CR", "\n": "LF", "\0": "NUL"}
_ERE_SPECIAL = frozenset(".[]()*+?{}|^$\\")
_MAX_FILTER = 900  # Asterisk reads an AMI line into 1024 bytes; "Filter: " and CRLF included
_IGNORED_KEPT = 256  # list answers still being swallowed after their action was forgotten


def action_name(action: ActionFields) -> str:
    """The value of the `Action` key (any case); ValueError if it is missing or not one string."""
    for key, value in action.items():
        if key.lower() == "action" and isinstance(value, str) and value:
            return value
    raise ValueError("an AMI action needs an 'Action' key with one string value")


def encode_action(action: ActionFields, action_id: str) -> bytes:
    """The whole action as bytes, or AmiInjection before anything is produced.

    Any ActionID given by the caller is replaced: correlation depends on ours being unique.
    """
    lines = [("Action", action_name(action)), ("ActionID", action_id)]
    for key, value in action.items():
        if key.lower() in ("action", "actionid"):
            continue
        values = [value] if isinstance(value, str) else list(value)
        lines.extend((key, item) for item in values)
    for key, value in lines:
        _check(key, value)
    text = "".join(f"{key}: {value}\r\n" for key, value in lines) + "\r\n"
    return text.encode("utf-8")


def _check(key: str, value: str) -> None:
    if not isinstance(key, str) or not isinstance(value, str):
        raise TypeError(f"AMI header {key!r} must map a string to a string")
    for char, name in _FORBIDDEN.items():
        if char in key or char in value:
            where = "name" if char in key else "value"
            raise AmiInjection(f"AMI header {key[:40]!r}: {name} in the {where}; nothing was sent")
    if not key or ":" in key:
        raise AmiInjection(f"AMI header name {key[:40]!r} is empty or holds ':'; nothing was sent")


class ActionIds:
    """Fresh ActionIDs: `<name>-<random>-<n>`, never reused by this process."""

    def __init__(self, name: str) -> None:
        self._prefix = f"{name}-{uuid.uuid4().hex[:12]}"
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random) -> float:
    """Seconds to wait before try `attempt` (1-based): doubling, jittered, within [low, high].

    The jitter range of try n+1 starts where that of try n ends, so delays never shrink.
    """
    ceiling = min(high, low * 2.0 ** min(attempt - 1, 64))
    return max(low, min(high, rng.uniform(ceiling / 2, ceiling)))


def event_filters(events: Collection[str]) -> list[str]:
    """Whitelist regexes for `Action: Filter`; none if `events` is empty (send every event).

    Asterisk matches them (POSIX ERE, no REG_NEWLINE) against the event text, which starts with
    `Event: <name>\\r\\n`; `^` and `[[:space:]]` pin the whole name. Long lists are split into
    several filters because Asterisk truncates a line at 1024 bytes.
    """
    if not events:
        return []
    names = [_ere_escape(name) for name in sorted(set(events) | set(ALWAYS_EVENTS))]
    filters: list[str] = []
    chunk: list[str] = []
    for name in names:
        if chunk and len(_filter([*chunk, name])) > _MAX_FILTER:
            filters.append(_filter(chunk))
            chunk = []
        chunk.append(name)
    filters.append(_filter(chunk))
    return filters


def _filter(names: list[str]) -> str:
    return f"^Event: ({'|'.join(names)})[[:space:]]"


def _ere_escape(name: str) -> str:
    return "".join("\\" + char if char in _ERE_SPECIAL else char for char in name)


def is_list_end(message: AmiMessage) -> bool:
    """True for the event that closes an event list (`EventList: Complete`, `...Complete`)."""
    marker = message.get("EventList")
    if isinstance(marker, str) and marker.lower() == "complete":
        return True
    name = message.get("Event")
    return isinstance(name, str) and name.endswith("Complete")


def _starts_list(message: AmiMessage) -> bool:
    marker = message.get("EventList")
    return isinstance(marker, str) and marker.lower() == "start"


def _action_id(message: AmiMessage) -> str | None:
    value = message.fields.get("ActionID")
    return value if isinstance(value, str) and value else None


@dataclass(eq=False)
class _Waiting:
    name: str
    listing: bool
    future: asyncio.Future[Any]
    items: list[Any] = field(default_factory=list)


class Correlator:
    """Actions waiting for their answer on one connection, by ActionID."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Waiting] = {}
        self._ignored: OrderedDict[str, None] = OrderedDict()

    def expect(self, action_id: str, name: str, *, listing: bool) -> asyncio.Future[Any]:
        """Registers an action about to be written; its future gets the answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[action_id] = _Waiting(name, listing, future)
        return future

    def forget(self, action_id: str) -> None:
        """Drops an action (timed out or cancelled); late list items are swallowed."""
        waiting = self._waiting.pop(action_id, None)
        if waiting is not None and waiting.listing:
            self._ignore(action_id)

    def route(self, message: AmiMessage) -> bool:
        """True if `message` answered (or answered too late for) an action; else it is an event."""
        action_id = _action_id(message)
        waiting = self._waiting.get(action_id) if action_id else None
        if "Event" not in message.fields:
            if waiting is not None and action_id is not None:
                self._on_response(action_id, waiting, message)
            return True
        if action_id is None:
            return False
        if waiting is not None and waiting.listing:
            self._on_item(action_id, waiting, message)
            return True
        if action_id in self._ignored:
            if is_list_end(message):
                del self._ignored[action_id]
            return True
        return False

    def fail_all(self, reason: str) -> None:
        """The connection is gone: every waiting action fails; none is ever re-sent."""
        waiting, self._waiting = self._waiting, {}
        for entry in waiting.values():
            error = PbxUnavailable(
                f"{entry.name}: AMI link lost ({reason}); the action "
                "may or may not have run and is not re-sent"
            )
            _settle(entry.future, error=error)

    def _on_response(self, action_id: str, waiting: _Waiting, message: AmiMessage) -> None:
        if not message.success:
            text = message.get("Message") or message.get("Response") or "error"
            self._finish(action_id, error=AmiActionFailed(waiting.name, str(text)))
        elif _starts_list(message) and waiting.listing:
            return
        elif _starts_list(message):
            self._ignore(action_id)
            self._finish(
                action_id,
                error=AmiActionFailed(waiting.name, "answered with an event list; use send_list"),
            )
        else:
            self._finish(action_id, result=waiting.items if waiting.listing else message)

    def _on_item(self, action_id: str, waiting: _Waiting, message: AmiMessage) -> None:
        if is_list_end(message):
            self._finish(action_id, result=waiting.items)
        else:
            waiting.items.append(message)

    def _finish(
        self, action_id: str, *, result: Any = None, error: BaseException | None = None
    ) -> None:
        waiting = self._waiting.pop(action_id)
        _settle(waiting.future, result=result, error=error)

    def _ignore(self, action_id: str) -> None:
        self._ignored[action_id] = None
        while len(self._ignored) > _IGNORED_KEPT:
            self._ignored.popitem(last=False)


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
