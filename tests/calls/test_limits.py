"""The per-app limiter and the max_calls check (bridge.calls.limits), on a settable clock."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.calls.limits import Limiter, check_max_calls
from bridge.config_limits import LimitsConfig, LimitsOverride
from bridge.domain.buckets import Rate
from bridge.domain.model import Call, CallMeta
from bridge.errors import Refused
from bridge.tenants import App, Organization, User

TOP = LimitsConfig(Rate(10.0, 3), Rate(1.0, 2))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def app(name: str, limits: LimitsOverride | None = None) -> App:
    return App(name, organization="3", token="t" * 16, limits=limits)


def test_each_app_has_its_own_buckets() -> None:
    """One app at its limit does not touch another's allowance; 429 says when to retry."""
    clock = Clock()
    limiter = Limiter(TOP, [app("a"), app("b")], clock=clock)
    for _ in range(3):
        limiter.take("a", "requests")
    with pytest.raises(Refused) as info:
        limiter.take("a", "requests")
    assert (info.value.status, info.value.code, info.value.limit) == (
        429,
        "rate_limited",
        "requests",
    )
    assert info.value.retry_after == 1
    limiter.take("b", "requests")  # b is not affected
    limiter.take("a", "calls")  # nor is a's other bucket


def test_calls_retry_after_is_when_a_token_is_next_free() -> None:
    """calls at 1/s burst 2: the third call right away waits a whole second."""
    clock = Clock()
    limiter = Limiter(TOP, [app("a")], clock=clock)
    limiter.take("a", "calls")
    limiter.take("a", "calls")
    with pytest.raises(Refused) as info:
        limiter.take("a", "calls")
    assert (info.value.limit, info.value.retry_after) == ("calls", 1)
    clock.now += 1.0
    limiter.take("a", "calls")


def test_override_and_refused_requests_use_up_nothing() -> None:
    """An app's partial override takes the rest from the top level; refusals take no token and
    a given-back ticket is usable again."""
    clock = Clock()
    limiter = Limiter(TOP, [app("crm", LimitsOverride(calls_burst=1))], clock=clock)
    assert limiter.policy("crm") == LimitsConfig(Rate(10.0, 3), Rate(1.0, 1))
    ticket = limiter.take("crm", "calls")
    for _ in range(5):
        with pytest.raises(Refused):
            limiter.take("crm", "calls")
    limiter.give(ticket)
    limiter.take("crm", "calls")


def test_configure_keeps_buckets_and_retunes_them() -> None:
    """A reload (configure) keeps the tokens of apps that remain under their new policy and
    drops the buckets of apps that are gone."""
    clock = Clock()
    limiter = Limiter(TOP, [app("a"), app("b")], clock=clock)
    for _ in range(3):
        limiter.take("a", "requests")
    limiter.take("b", "requests")
    faster = LimitsConfig(Rate(1000.0, 50), Rate(1.0, 2))
    limiter.configure(faster, [app("a")])
    with pytest.raises(Refused):  # a's bucket is still empty: a reload is no free refill
        limiter.take("a", "requests")
    clock.now += 0.01  # ... but it refills at the new rate
    limiter.take("a", "requests")
    assert ("b", "requests") not in limiter._buckets
    assert limiter.policy("b") == faster  # an unknown app gets the top level's


def test_headers_follow_the_draft() -> None:
    """RateLimit-Policy: quota and window per policy; RateLimit: remaining and reset."""
    clock = Clock()
    limiter = Limiter(TOP, [app("a")], clock=clock)
    limiter.take("a", "requests")
    headers = limiter.headers("a")
    assert headers["RateLimit-Policy"] == '"requests";q=3;w=1, "calls";q=2;w=2'
    assert headers["RateLimit"] == '"requests";r=2;t=1, "calls";r=2;t=0'


def call(extension: str, cid: str = "c") -> Call:
    meta = CallMeta(extension, "", "crm", None, 0.0, (extension,), ("5551234",))
    return Call(cid, 0.0, meta=meta)


ORG = Organization("3", "Org", "0003", max_calls=3)
JOHN = User("12", "3", "John", max_calls=2)
JANE = User("13", "3", "Jane")
MAX = User("30", "4", "Max")
OWNERS = {"0003*210": JOHN, "0003*024": JANE, "0004*300": MAX}


def test_max_calls_counts_the_user_and_the_organization() -> None:
    """409 pc_limit_exceeded naming the limit; other organizations' calls do not count."""
    live = [call("0003*210"), call("0004*300"), call("0004*300")]
    check_max_calls(ORG, JOHN, live, OWNERS.get)
    live.append(call("0003*210"))
    with pytest.raises(Refused) as info:
        check_max_calls(ORG, JOHN, live, OWNERS.get)
    assert (info.value.status, info.value.code, info.value.limit) == (
        409,
        "pc_limit_exceeded",
        "max_calls",
    )
    assert "user 12" in info.value.message
    check_max_calls(ORG, JANE, live, OWNERS.get)  # the organization has room for one more
    with pytest.raises(Refused, match="organization 3"):
        check_max_calls(ORG, JANE, live, OWNERS.get, adding=2)  # two invites at once
    live.append(call("0003*024"))
    with pytest.raises(Refused, match="organization 3"):
        check_max_calls(ORG, JANE, live, OWNERS.get)


def test_no_cap_means_no_count() -> None:
    """Without max_calls nothing is refused, however many calls are live."""
    free = dataclasses.replace(ORG, max_calls=None)
    check_max_calls(free, JANE, [call("0003*024")] * 50, OWNERS.get)


def test_apply_takes_a_reloaded_config() -> None:
    """apply(config) (what a SIGHUP reload calls) reads `limits` and `apps` of a parsed config."""
    raw: dict[str, Any] = {
        "ami": {"secret": "s"},
        "organizations": [{"id": "3", "name": "O", "prefix": "0003"}],
        "apps": [
            {
                "name": "crm",
                "organization": "3",
                "token": "t" * 16,
                "limits": {"calls": {"rate": 7}},
            }
        ],
    }
    limiter = Limiter(clock=Clock())
    limiter.apply(config_mod.parse(raw, env={}))
    assert limiter.policy("crm") == LimitsConfig(Rate(50.0, 100), Rate(7.0, 20))
    raw["limits"] = {"calls": {"burst": 3}}
    raw["apps"][0]["limits"] = {}
    limiter.apply(config_mod.parse(raw, env={}))
    assert limiter.policy("crm") == LimitsConfig(Rate(50.0, 100), Rate(5.0, 3))
