"""The bridge's own AMI message and action types: what crosses the edge of bridge/ami/.

Nothing outside bridge/ami/ sees panoramisk: the framer turns every frame into an `AmiMessage`,
and every action the bridge builds is `ActionFields`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# An action to send: header -> value, or several values for a header sent more than once.
ActionFields = Mapping[str, str | Sequence[str]]

_ABSENT = object()  # `get`: not given in this key case
_SUCCESS = frozenset({"Success", "Follows", "Goodbye"})  # what counts as an answer that worked


class AmiMessage(Mapping[str, Any]):
    """One AMI event or response, read-only.

    Keys keep Asterisk's own case (`fields`, the fast path of the call tracker) and are also
    looked up in any case. A value is a string, or a list of strings for a header sent several
    times. `content` is the body of an old-style `Response: Follows`, else "".
    """

    __slots__ = ("_lower", "content", "fields")

    def __init__(self, fields: dict[str, Any], content: str = "") -> None:
        self.fields = fields
        self.content = content
        self._lower: dict[str, str] | None = None  # lower-case key -> key, built on demand

    def __getitem__(self, key: str) -> Any:
        try:
            return self.fields[key]
        except KeyError:
            if self._lower is None:
                self._lower = {k.lower(): k for k in self.fields}
            return self.fields[self._lower[key.lower()]]

    def get(self, key: str, default: Any = None) -> Any:
        """Mapping.get without its two KeyErrors for a key the message lacks (a list end is
        looked for as `EventList` in each of a resync's 200,000 CoreShowChannel entries)."""
        value = self.fields.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        if self._lower is None:
            self._lower = {k.lower(): k for k in self.fields}
        real = self._lower.get(key.lower())
        return default if real is None else self.fields[real]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"AmiMessage({self.fields!r})"

    @property
    def event(self) -> str:
        """The event's name in lower case ("" for a response): AMI names are case-blind."""
        return str(self.get("Event", "")).lower()

    @property
    def success(self) -> bool:
        """True for an event, and for a Success/Follows/Goodbye response."""
        return "Event" in self or self.get("Response") in _SUCCESS
