"""Originate pacing per node (bridge.ami.pacing through the real client, on the fake AMI
server): at most twice `originate_rate` in any one-second window, in order, and a full queue is
refused at once with nothing written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from bridge.ami.client import AmiClient
from bridge.errors import AmiInjection, PbxBusy
from tests.ami.fake_ami import Action, Conn, FakeAmi
from tests.polling import until


class StampingAmi(FakeAmi):
    """Notes when each Originate arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float] = []

    def _on_action(self, conn: Conn, action: Action) -> None:
        if action.get("Action") == "Originate":
            self.stamps.append(time.monotonic())
        super()._on_action(conn, action)


def busiest_second(stamps: list[float]) -> int:
    """The most arrivals in any one-second window."""
    return max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)


@pytest.fixture
async def fake() -> AsyncIterator[StampingAmi]:  # tests/ami/conftest.py's, with stamps
    server = StampingAmi()
    await server.start()
    yield server
    await server.close()


async def started(make_client: Callable[..., AmiClient], **changes: object) -> AmiClient:
    client = make_client(**changes)
    await client.start()
    assert await client.wait_connected(3.0)
    return client


def originate(n: int) -> dict[str, str]:
    return {"Action": "Originate", "Channel": f"PJSIP/{200 + n}", "Async": "true"}


async def test_originates_leave_at_the_rate(
    fake: StampingAmi, make_client: Callable[..., AmiClient]
) -> None:
    """60 Originates at once with originate_rate 20: all answered, never more than 40 in any
    one-second window, the first 20 at once (one second's worth of burst)."""
    client = await started(make_client, originate_rate=20.0, originate_queue=1000)
    answers = await asyncio.gather(*(client.send(originate(i)) for i in range(60)))
    assert all(a["Response"] == "Success" for a in answers)
    assert len(fake.stamps) == 60
    assert busiest_second(fake.stamps) <= 40
    assert fake.stamps[-1] - fake.stamps[0] >= 1.9  # 40 beyond the burst, at 20/s
    assert fake.stamps[19] - fake.stamps[0] < 0.5
    assert [a["Channel"] for a in fake.named("Originate")] == [
        f"PJSIP/{200 + i}" for i in range(60)
    ]  # in order


async def test_a_full_queue_is_refused_and_nothing_written(
    fake: StampingAmi, make_client: Callable[..., AmiClient]
) -> None:
    """rate 1, queue 2: of 5 at once one leaves, two wait, two get PbxBusy with a Retry-After;
    Asterisk never sees more than the three; other actions are not paced."""
    client = await started(make_client, originate_rate=1.0, originate_queue=2)
    tasks = [asyncio.ensure_future(client.send(originate(i))) for i in range(5)]
    await until(lambda: sum(t.done() for t in tasks) >= 2, what="the refusals")
    busy = [t.exception() for t in tasks if t.done() and t.exception() is not None]
    assert len(busy) == 2
    assert all(isinstance(e, PbxBusy) and e.retry_after >= 1 for e in busy)
    assert client.stats.originate_queue == 2
    pong = await client.send({"Action": "Ping"})  # not an Originate: not queued
    assert pong["Response"] == "Success"
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(1 for d in done if isinstance(d, PbxBusy)) == 2
    assert len(fake.named("Originate")) == 3
    assert client.stats.originate_queue == 0


async def test_an_injected_originate_takes_no_turn(
    fake: StampingAmi, make_client: Callable[..., AmiClient]
) -> None:
    """CR/LF in an Originate is refused before it queues: the next one still goes at once."""
    client = await started(make_client, originate_rate=1.0, originate_queue=1)
    with pytest.raises(AmiInjection):
        await client.send({"Action": "Originate", "Channel": "PJSIP/210\r\nAction: Hangup"})
    answer = await client.send(originate(0))
    assert answer["Response"] == "Success"
    assert len(fake.named("Originate")) == 1
