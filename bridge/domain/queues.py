"""Queue agents: who is a member of which app_queue queue, paused or not (pure).

Kept from `QueueMemberAdded`, `QueueMemberRemoved`, `QueueMemberPause` and `QueueMemberStatus`
events and rebuilt at every (re)login from `QueueStatus` (its `QueueMember` entries). An agent
the bridge saw leave a queue stays known as logged out (0) until the bridge restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

LOGGED_OUT, LOGGED_IN, PAUSED = 0, 1, 2
STATUSES = (LOGGED_OUT, LOGGED_IN, PAUSED)
Event = Mapping[str, str]
_MEMBER_EVENTS = ("queuememberadded", "queuememberpause", "queuememberstatus")


@dataclass
class QueueAgents:
    """queue name -> member interface (`PJSIP/024`) -> status."""

    queues: dict[str, dict[str, int]] = field(default_factory=dict)

    def apply(self, event: Event) -> bool:
        """Folds one event in; True when it was a queue member event."""
        name = event.get("Event", "").lower()
        queue = event.get("Queue", "")
        interface = _interface(event)
        if not queue or not interface:
            return False
        if name in _MEMBER_EVENTS:
            self.queues.setdefault(queue, {})[interface] = _status(event)
            return True
        if name == "queuememberremoved":
            self.queues.setdefault(queue, {})[interface] = LOGGED_OUT
            return True
        return False

    def rebuild(self, members: Iterable[Event]) -> None:
        """What one QueueStatus listing says; agents known as logged out stay so."""
        fresh: dict[str, dict[str, int]] = {
            q: dict.fromkeys(agents, LOGGED_OUT) for q, agents in self.queues.items()
        }
        for member in members:
            queue, interface = member.get("Queue", ""), _interface(member)
            if queue and interface:
                fresh.setdefault(queue, {})[interface] = _status(member)
        self.queues = fresh

    def status(self, queue: str, interface: str) -> int:
        return self.queues.get(queue, {}).get(interface, LOGGED_OUT)

    def agents(self, queue: str) -> dict[str, int]:
        return dict(self.queues.get(queue, {}))


def _interface(event: Event) -> str:
    return event.get("Interface") or event.get("StateInterface") or event.get("Location") or ""


def _status(event: Event) -> int:
    return PAUSED if event.get("Paused") == "1" else LOGGED_IN
