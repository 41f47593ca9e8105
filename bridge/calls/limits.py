"""Fair share: the per-app token buckets (`limits.requests`, `limits.calls`) and the live-call
caps of organizations and users (`max_calls`).

The policy is looked up per request from what `configure` (or `apply`) was last given, so a
reloaded config takes effect on the next request: buckets of apps that remain keep their
tokens under the new rate, those of apps that are gone are dropped. Buckets are per app name,
shared by all of its tokens, and per bridge (several bridges on PostgreSQL each keep their own).

Refusals are errors (`Refused`: 429 `rate_limited`, 409 `pc_limit_exceeded`) that the API's
one middleware renders, counts and logs; a refused request takes no token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridge.config import Config
from bridge.config_limits import KINDS, LimitsConfig
from bridge.domain.buckets import Bucket, retry_after
from bridge.domain.model import Call
from bridge.errors import Refused
from bridge.tenants import App, Organization, User

Clock = Callable[[], float]


@dataclass(frozen=True)
class Ticket:
    """Tokens taken for one request, to give back if the request is then refused."""

    app: str
    kind: str
    count: int


class Limiter:
    """The buckets of every app, by app name."""

    def __init__(
        self,
        limits: LimitsConfig | None = None,
        apps: Iterable[App] = (),
        clock: Clock = time.monotonic,
    ) -> None:
        self.clock = clock
        self._top = LimitsConfig()
        self._policies: dict[str, LimitsConfig] = {}
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self.configure(limits or LimitsConfig(), apps)

    def configure(self, limits: LimitsConfig, apps: Iterable[App]) -> None:
        """Takes the top-level `limits` and the apps (with their overrides): existing buckets
        of remaining apps are re-tuned in place, those of vanished apps dropped."""
        self._top = limits
        self._policy_header: dict[str, str] = {}
        self._policies = {a.name: a.limits.over(limits) if a.limits else limits for a in apps}
        now = self.clock()
        for key, bucket in list(self._buckets.items()):
            if key[0] in self._policies:
                bucket.retune(self.policy(key[0]).of(key[1]), now)
            else:
                del self._buckets[key]

    def apply(self, config: Config) -> None:
        """`configure` with a (reloaded) config's `limits` and `apps`."""
        self.configure(config.limits, config.apps)

    def policy(self, app: str) -> LimitsConfig:
        """The app's effective limits (the top level's for an app not configured)."""
        return self._policies.get(app, self._top)

    def _bucket(self, app: str, kind: str) -> Bucket:
        bucket = self._buckets.get((app, kind))
        if bucket is None:
            bucket = self._buckets[(app, kind)] = Bucket(self.policy(app).of(kind), self.clock())
        return bucket

    def take(self, app: str, kind: str, count: int = 1) -> Ticket:
        """Takes `count` tokens of `kind` (`requests` or `calls`), or raises Refused (429)."""
        wait = self._bucket(app, kind).take(self.clock(), count)
        if wait > 0:
            rate = self.policy(app).of(kind)
            raise Refused(
                429,
                "rate_limited",
                kind,
                retry_after(wait),
                f"Over the app's {kind} limit ({rate.rate:g}/s, burst {rate.burst}"
                f"{'' if count == 1 else f'; this request needs {count}'}).",
            )
        return Ticket(app, kind, count)

    def give(self, ticket: Ticket) -> None:
        """Gives back the tokens of a request refused after it took them."""
        bucket = self._buckets.get((ticket.app, ticket.kind))
        if bucket is not None:
            bucket.give(self.clock(), ticket.count)

    def headers(self, app: str) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers) of the app:
        per policy its quota (the burst) and window, the tokens left and the seconds until
        the bucket is full again."""
        now = self.clock()
        policy = self._policy_header.get(app)
        if policy is None:
            limits = self.policy(app)
            policy = self._policy_header[app] = ", ".join(
                f'"{kind}";q={limits.of(kind).burst};w={limits.of(kind).window}' for kind in KINDS
            )
        states = []
        for kind in KINDS:
            bucket = self._bucket(app, kind)
            states.append(f'"{kind}";r={bucket.remaining(now)};t={bucket.full_in(now)}')
        return {"RateLimit-Policy": policy, "RateLimit": ", ".join(states)}


def check_max_calls(
    org: Organization,
    user: User,
    live: Iterable[Call],
    owner_of: Callable[[str], User | None],
    adding: int = 1,
) -> None:
    """Raises Refused (409 pc_limit_exceeded) if `adding` more calls charged to `user`'s
    extension would put the user or its organization over `max_calls`. `live`: every live
    call of every node (placed through the API or not); `owner_of`: extension -> its user."""
    if org.max_calls is None and user.max_calls is None:
        return
    mine = theirs = 0
    for call in live:
        owner = owner_of(call.extension or "")
        if owner is not None and owner.organization == org.id:
            theirs += 1
            mine += owner.id == user.id
    for who, cap, count in (
        (f"organization {org.id}", org.max_calls, theirs),
        (f"user {user.id}", user.max_calls, mine),
    ):
        if cap is not None and count + adding > cap:
            raise Refused(
                409,
                "pc_limit_exceeded",
                "max_calls",
                None,
                f"The {who} has {count} live calls; its max_calls is {cap}.",
            )
