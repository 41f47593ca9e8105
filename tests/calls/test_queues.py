"""bridge.calls.queues without HTTP: the app_queue actions from one state to another, the agent
rules, and the answer that waits for the QueueMember* event the queue feed wakes it with."""

from __future__ import annotations

import asyncio

import pytest

from bridge.ami.message import AmiMessage
from bridge.calls.queues import QueueMembers, SetAgent, actions
from bridge.calls.watch import TrackerWatch
from bridge.domain.queues import LOGGED_IN, LOGGED_OUT, PAUSED
from bridge.errors import ApiError, PbxUnavailable
from bridge.feeds.queues import QueuesFeed
from tests.calls.conftest import World
from tests.polling import until


def members(world: World, settle_within: float = 60.0) -> tuple[QueueMembers, QueuesFeed]:
    """The use case and the queue feed of the first node, sharing one watch."""
    watch = TrackerWatch()
    node = world.svc.nodes.first
    feed = QueuesFeed(node.queue_agents, watch.wake)
    feed.attach(world.port)
    return QueueMembers(world.svc.nodes, world.svc.directory, watch, settle_within), feed


def set_agent(world: World, uc: QueueMembers, agent: str, status: int) -> SetAgent:
    app = world.app("helpdesk")
    queue, name = uc.queue(app, world.user("14"), "500")
    return SetAgent(app, queue, name, agent, status)


def member_event(event: str, interface: str = "PJSIP/024", paused: str = "0") -> AmiMessage:
    return AmiMessage({"Event": event, "Queue": "500", "Interface": interface, "Paused": paused})


@pytest.mark.parametrize(
    ("now", "want", "sent"),
    [
        (LOGGED_OUT, LOGGED_IN, [("QueueAdd", "false")]),
        (LOGGED_OUT, PAUSED, [("QueueAdd", "true")]),
        (LOGGED_IN, PAUSED, [("QueuePause", "true")]),
        (PAUSED, LOGGED_IN, [("QueuePause", "false")]),
        (LOGGED_IN, LOGGED_OUT, [("QueueRemove", None)]),
        (PAUSED, LOGGED_OUT, [("QueueRemove", None)]),
        (LOGGED_OUT, LOGGED_OUT, []),
        (LOGGED_IN, LOGGED_IN, []),
        (PAUSED, PAUSED, []),
    ],
)
def test_actions_from_one_state_to_another(
    world: World, now: int, want: int, sent: list[tuple[str, str | None]]
) -> None:
    """Each transition is one app_queue action on the agent's interface (none for no change)."""
    agent = world.svc.directory.extensions["0003*024"]
    out = actions("500", agent, now, want)
    assert [(a["Action"], a.get("Paused")) for a in out] == sent
    for action in out:
        assert (action["Queue"], action["Interface"]) == ("500", "PJSIP/024")
    if out and out[0]["Action"] == "QueueAdd":
        assert out[0]["MemberName"] == "0003*024"


async def test_the_answer_wakes_on_the_queue_feed(world: World) -> None:
    """Logging 024 in sends QueueAdd and waits: another agent's event does not end the wait,
    024's QueueMemberAdded through the feed does (long before the 60 s settle), with state 1."""
    uc, feed = members(world)
    task = asyncio.create_task(uc.run(set_agent(world, uc, "024", LOGGED_IN)))
    await until(lambda: world.port.sent, what="the QueueAdd")
    assert [a["Action"] for a in world.port.sent] == ["QueueAdd"]
    feed.on_event(member_event("QueueMemberAdded", "PJSIP/025"))
    for _ in range(3):
        await asyncio.sleep(0)  # let the task run if it was (wrongly) woken
    assert not task.done()
    feed.on_event(member_event("QueueMemberAdded"))
    async with asyncio.timeout(5):
        state = await task
    assert (state.queue.number, state.interface, state.status) == ("0003*500", "PJSIP/024", 1)


async def test_without_the_event_the_answer_gives_the_state_it_knows(world: World) -> None:
    """No QueueMember* event within the settle time: the answer shows the state unchanged."""
    uc, _ = members(world, settle_within=0.05)
    state = await uc.run(set_agent(world, uc, "024", PAUSED))
    assert state.status == LOGGED_OUT
    assert [(a["Action"], a["Paused"]) for a in world.port.sent] == [("QueueAdd", "true")]


async def test_a_state_already_held_sends_nothing(world: World) -> None:
    """The agent is already paused (the feed said so): nothing is sent, the answer is 2."""
    uc, feed = members(world)
    feed.on_event(member_event("QueueMemberAdded", paused="1"))
    state = await uc.run(set_agent(world, uc, "024", PAUSED))
    assert (state.status, world.port.sent) == (PAUSED, [])


@pytest.mark.parametrize("agent", ["0004*300", "500", "250", "260", "0003*999", "", "02 4"])
async def test_agents_are_phones_of_the_queues_organization(world: World, agent: str) -> None:
    """Another organization's phone, the queue itself, a callback or conference extension,
    an unknown or empty number: qag_agent_invalid, nothing sent."""
    uc, _ = members(world)
    with pytest.raises(ApiError) as info:
        await uc.run(set_agent(world, uc, agent, LOGGED_IN))
    assert info.value.code == "qag_agent_invalid"
    assert world.port.sent == []


async def test_an_agent_on_another_node_is_refused(cluster: World) -> None:
    """410 lives on node2, queue 500 on node1: qag_agent_invalid."""
    uc, _ = members(cluster)
    with pytest.raises(ApiError) as info:
        uc.agent(cluster.app("helpdesk"), cluster.svc.directory.extensions["0003*500"], "410")
    assert (info.value.code, "another Asterisk node" in info.value.message) == (
        "qag_agent_invalid",
        True,
    )


@pytest.mark.parametrize(
    ("user", "number"), [("14", "028"), ("12", "500"), ("14", "0004*300"), ("12", "212")]
)
async def test_the_queue_is_a_queue_extension_of_the_user(
    world: World, user: str, number: str
) -> None:
    """A phone, another user's queue, another organization's extension: extension_invalid;
    John's own queue 212 resolves to its Asterisk queue."""
    uc, _ = members(world)
    if number == "212":
        assert uc.queue(world.app("helpdesk"), world.user(user), number)[1] == "212"
        return
    with pytest.raises(ApiError) as info:
        uc.queue(world.app("helpdesk"), world.user(user), number)
    assert info.value.code == "extension_invalid"


async def test_the_queues_node_down_is_503(world: World) -> None:
    """The queue's node is not connected: 503, nothing sent."""
    uc, _ = members(world)
    world.port.connected = False
    with pytest.raises(PbxUnavailable):
        await uc.run(set_agent(world, uc, "024", LOGGED_IN))
    assert world.port.sent == []
