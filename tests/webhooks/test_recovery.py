"""Issue 23 in the dispatcher, against a real aiohttp receiver on loopback: replay, recover,
two signatures during a rotation, custom headers, maxRate, ordered deliveries, Sequence, and
endpoint health on a compressed clock (as Svix tests it)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from structlog.testing import capture_logs

from bridge.calls import hookcare
from bridge.metrics import Metrics
from bridge.store.db import Database
from bridge.store.hooks import DISABLED, ENABLED, Outbox, Queued, Registration, Registrations
from bridge.webhooks import signing
from bridge.webhooks.dispatcher import Dispatcher
from bridge.webhooks.policy import unhealthy
from tests.polling import until
from tests.webhooks.test_dispatcher import CONFIG, SECRET, Receiver, dispatcher, fire


class SlowReceiver(Receiver):
    """A Receiver that takes `delay[CallStatus]` seconds to answer, and notes when each
    request finished."""

    def __init__(self, delay: dict[str, float]) -> None:
        super().__init__()
        self.delay = delay
        self.finished: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = dict(parse_qsl(await request.text()))
        await asyncio.sleep(self.delay.get(body.get("CallStatus", ""), 0.0))
        answer = await super().handle(request)
        self.finished.append({**body, "at": str(time.monotonic())})
        return answer


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()

    async def handle(request: web.Request) -> web.Response:
        return await rec.handle(request)  # looked up per request: a test may wrap it

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield rec, f"http://127.0.0.1:{server.port}/hook"
    await server.close()


@pytest.fixture
async def slow() -> AsyncIterator[tuple[SlowReceiver, str]]:
    rec = SlowReceiver({"CALLING": 0.4})
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield rec, f"http://127.0.0.1:{server.port}/hook"
    await server.close()


def params(req: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(req["body"]))


async def outbox_states(db: Database) -> list[str]:
    rows = await db.fetchall("SELECT state FROM outbox ORDER BY created_at, sequence")
    return [r[0] for r in rows]


async def test_every_delivery_carries_its_sequence(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """DialOut, AnswerOut, Hangup of one call: Sequence 1, 2, 3 in firing order, inside the
    signed payload."""
    rec, url = receiver
    hooks, _ = await dispatcher(db, url)
    fire(hooks)
    await until(lambda: len(rec.seen) == 3)
    await hooks.stop()
    got = {
        params(r)["CallStatus"] + params(r).get("Duration", ""): params(r)["Sequence"]
        for r in rec.seen
    }
    assert sorted(got.values()) == ["1", "2", "3"]
    assert got["CALLING"] == "1"  # DialOut fired first
    for req in rec.seen:
        Webhook(SECRET).verify(req["body"], req["headers"], json_parse=False)


async def test_replay_resends_a_delivered_one_with_the_same_webhook_id(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """A delivered delivery replayed goes out again with the same webhook-id."""
    rec, url = receiver
    hooks, regs = await dispatcher(db, url, types=(1,))
    fire(hooks)
    await until(lambda: len(rec.seen) == 1)
    first = rec.seen[0]["headers"]["webhook-id"]
    await until(lambda: _is(db, "delivered"))
    await hookcare.replay(hooks.outbox, regs.by_id["reg11"], first, time.time())
    await until(lambda: len(rec.seen) == 2)
    await hooks.stop()
    assert rec.seen[1]["headers"]["webhook-id"] == first
    assert rec.seen[1]["body"] == rec.seen[0]["body"]


async def _is(db: Database, state: str) -> bool:
    return await outbox_states(db) == [state]


async def test_recover_sends_what_a_receiver_down_missed(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """A receiver failing every attempt (max_attempts 2) loses the three events; after
    `recover` it gets all three, oldest (lowest Sequence) first."""
    rec, url = receiver
    config = dataclasses.replace(CONFIG, max_attempts=2, per_receiver=1)
    rec.answers = [503] * 6
    hooks, regs = await dispatcher(db, url, config=config)
    fire(hooks)
    await until(lambda: _all(db, "failed"), within=10)
    assert len(rec.seen) == 6
    queued = sum(
        [
            await hookcare.recover(
                hooks.outbox,
                config,
                regs.by_id[f"reg{t}1"],
                since=time.time() - 60,
                until=None,
                now=time.time(),
            )
            for t in (1, 2, 4)
        ]
    )
    assert queued == 3
    await until(lambda: len(rec.seen) == 9)
    # the receiver has the 9th request before the dispatcher records its answer: poll for it
    await until(lambda: _all(db, "delivered"), within=10)
    await hooks.stop()
    assert sorted(params(r)["Sequence"] for r in rec.seen[6:]) == ["1", "2", "3"]
    assert await outbox_states(db) == ["delivered"] * 3


async def _all(db: Database, state: str) -> bool:
    return set(await outbox_states(db)) == {state}


async def test_during_an_overlap_both_secrets_verify_after_only_the_new(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """Two signatures `v1,<new> v1,<old>` while the old secret's overlap lasts: the reference
    verifier accepts the same delivery with either; after it, only the new one does."""
    rec, url = receiver
    hooks, regs = await dispatcher(db, url, types=(1,))
    reg = regs.by_id["reg11"]
    new = signing.new_secret()
    await regs.save(
        dataclasses.replace(
            reg, secret=new, previous_secret=SECRET, previous_expires=time.time() + 600
        )
    )
    fire(hooks)
    await until(lambda: len(rec.seen) == 1)
    req = rec.seen[0]
    await until(lambda: _is(db, "delivered"))
    assert len(req["headers"]["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(req["body"], req["headers"], json_parse=False)
    Webhook(SECRET).verify(req["body"], req["headers"], json_parse=False)
    await regs.save(dataclasses.replace(regs.by_id["reg11"], previous_expires=time.time() - 1))
    await hookcare.replay(
        hooks.outbox, regs.by_id["reg11"], req["headers"]["webhook-id"], time.time()
    )
    await until(lambda: len(rec.seen) == 2)
    await hooks.stop()
    after = rec.seen[1]
    Webhook(new).verify(after["body"], after["headers"], json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(after["body"], after["headers"], json_parse=False)


async def test_custom_headers_reach_the_receiver_and_are_not_logged(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """An Authorization header set on the registration comes with every delivery; the log
    lines of the attempts do not hold its value."""
    rec, url = receiver
    hooks, regs = await dispatcher(db, url, types=(1,))
    await regs.save(
        dataclasses.replace(regs.by_id["reg11"], headers=(("Authorization", "Bearer s3cr3t"),))
    )
    with capture_logs() as logs:
        fire(hooks)
        await until(lambda: len(rec.seen) == 1)
        await hooks.stop()
    assert rec.seen[0]["headers"]["Authorization"] == "Bearer s3cr3t"
    assert "s3cr3t" not in str(logs)


async def test_max_rate_spaces_the_deliveries(db: Database, receiver: tuple[Receiver, str]) -> None:
    """maxRate 5: twelve deliveries to the registration take at least 11 / 5 seconds (some go
    back to the outbox until their slot), and all arrive."""
    rec, url = receiver
    hooks, regs = await dispatcher(db, url, types=(1,))
    await regs.save(dataclasses.replace(regs.by_id["reg11"], max_rate=5.0))
    times: list[float] = []
    original = rec.handle

    async def stamp(request: web.Request) -> web.Response:
        times.append(time.monotonic())
        return await original(request)

    rec.handle = stamp  # type: ignore[method-assign]
    await hooks.outbox.add(
        [Queued("reg11", f"k{i}", {"CallID": f"c{i}"}) for i in range(12)], time.time()
    )
    hooks._wake.set()
    await until(lambda: len(times) == 12, within=10)
    await hooks.stop()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[-1] - times[0] >= 11 * 0.2 * 0.95, gaps
    assert min(gaps) >= 0.2 * 0.75, gaps  # sends start 0.2 s apart; arrivals jitter a little


async def test_ordered_waits_for_the_slow_first_event(
    db: Database, slow: tuple[SlowReceiver, str]
) -> None:
    """ordered: the receiver takes 0.4 s on DialOut (CALLING); AnswerOut and Hangup are sent
    only after it answered, in firing order. Unordered, they overtake it."""
    rec, url = slow
    hooks, regs = await dispatcher(db, url, types=(1, 2, 4))
    for reg in list(regs.by_id.values()):
        await regs.save(dataclasses.replace(reg, ordered=True))
    fire(hooks)
    await until(lambda: len(rec.finished) == 3)
    await hooks.stop()
    assert [r["Sequence"] for r in rec.finished] == ["1", "2", "3"]
    assert rec.finished[0]["CallStatus"] == "CALLING"


async def test_unordered_ones_overtake_the_slow_event(
    db: Database, slow: tuple[SlowReceiver, str]
) -> None:
    """The same call without ordered: the slow DialOut finishes last (the test above can
    fail)."""
    rec, url = slow
    hooks, _ = await dispatcher(db, url, types=(1, 2, 4))
    fire(hooks)
    await until(lambda: len(rec.finished) == 3)
    await hooks.stop()
    assert rec.finished[-1]["CallStatus"] == "CALLING"


@pytest.mark.parametrize(
    ("since", "given_up", "now", "expected"),
    [
        (None, 50, 1e9, False),
        (0.0, 10, 5 * 86400, True),
        (0.0, 9, 5 * 86400, False),
        (0.0, 10, 5 * 86400 - 1, False),
        (100.0, 30, 100 + 6 * 86400, True),
    ],
)
def test_unhealthy_needs_the_span_and_the_failures(
    since: float | None, given_up: int, now: float, expected: bool
) -> None:
    """Failing for disable_after and at least disable_min_failures given up."""
    assert unhealthy(since, given_up, now, after=5 * 86400, min_failures=10) is expected


def checked(logs: list[MutableMapping[str, Any]]) -> int:
    return [e["event"] for e in logs].count("webhooks.health.checked")


class Clock:
    """A clock the test moves (days pass in milliseconds)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_registration_failing_for_days_is_disabled_and_keeps_its_events(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """Compressed clock: 3 deliveries given up over 6 "days" (disable_after 5 days, at least
    3 failures) disable it: status 1, disabledReason, one log line, the metric. Events while
    disabled are `skipped`; enabled again and recovered, they are delivered."""
    rec, url = receiver
    clock = Clock()
    config = dataclasses.replace(
        CONFIG, max_attempts=1, disable_after=5 * 86400, disable_min_failures=3
    )
    regs = Registrations(db)
    await regs.load()
    hooks = Dispatcher(config, regs, Outbox(db), clock=clock)
    await regs.save(
        Registration(
            "regh", "crm", "0003*210", 1, 1, url, "", ENABLED, "2027-01-15T08:00:00Z", SECRET
        )
    )
    metrics = Metrics(dict)
    metrics.add_webhooks(lambda: hooks.disabled)
    await hooks.start()
    rec.answers = [500] * 10
    with capture_logs() as logs:
        for day in range(4):
            clock.now += 2 * 86400 if day else 0
            await hooks.outbox.add([Queued("regh", f"d{day}", {"CallID": f"c{day}"})], clock.now)
            hooks._wake.set()
            want = day + 1
            await until(lambda: len(rec.seen) == want)  # noqa: B023 (awaited in this turn)
            await until(lambda: checked(logs) == want)  # noqa: B023 (before the clock moves)
            if day < 3:  # 3 given up over 4 "days": not yet
                assert regs.by_id["regh"].status == ENABLED
        await until(lambda: regs.by_id["regh"].status == DISABLED)
    reg = regs.by_id["regh"]
    assert "failed since" in reg.disabled_reason
    assert [e["event"] for e in logs].count("webhooks.registration.disabled") == 1
    assert b'uapi_webhook_registrations_disabled_total{cause="failing"} 1.0' in metrics.render()
    await hooks.outbox.add([Queued("regh", "later", {"CallID": "c9"}, skipped=True)], clock.now)
    fire_while_disabled = await db.fetchall("SELECT state FROM outbox WHERE dedup = 'later'")
    assert fire_while_disabled == [("skipped",)]
    assert "skipped" in [a["outcome"] for a in await hooks.outbox.attempts("regh")]
    rec.answers = []
    await regs.save(hookcare.with_status(regs.by_id["regh"], ENABLED, clock.now))
    queued = await hookcare.recover(
        hooks.outbox,
        config,
        regs.by_id["regh"],
        since=clock.now - 6 * 86400 - 1,
        until=None,
        now=clock.now,
    )
    assert queued == 5  # four given up, one skipped
    hooks._wake.set()
    await until(lambda: len(rec.seen) == 9)
    await hooks.stop()
    assert regs.by_id["regh"].status == ENABLED


async def test_events_of_a_disabled_registration_are_skipped_by_the_sink(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """A call while the bridge keeps a registration disabled: its deliveries are written as
    `skipped` (not sent), one of a user-disabled registration not at all."""
    rec, url = receiver
    hooks, regs = await dispatcher(db, url, types=(1, 2))
    await regs.save(
        dataclasses.replace(regs.by_id["reg11"], status=DISABLED, disabled_reason="410 Gone")
    )
    await regs.save(dataclasses.replace(regs.by_id["reg21"], status=DISABLED))
    fire(hooks)
    await until(lambda: _is(db, "skipped"))
    await hooks.stop()
    assert rec.seen == []


async def test_410_disables_with_its_own_reason(
    db: Database, receiver: tuple[Receiver, str]
) -> None:
    """410 Gone: disabled at once, disabledReason names the 410, counted as `gone`."""
    rec, url = receiver
    rec.answers = [410]
    hooks, regs = await dispatcher(db, url, types=(1,))
    with capture_logs() as logs:
        fire(hooks)
        await until(lambda: regs.by_id["reg11"].status == DISABLED)
        await hooks.stop()
    assert "410 Gone" in regs.by_id["reg11"].disabled_reason
    assert hooks.disabled == {"gone": 1}
    assert [e["event"] for e in logs].count("webhooks.registration.disabled") == 1
