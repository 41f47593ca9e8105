"""bridge.calls.hangup's Hangups without HTTP: which legs of which calls get a Hangup, on
which node, and the party `phoneNumber` names (through the one resolver)."""

from __future__ import annotations

import pytest

from bridge.calls.hangup import HangUp
from bridge.errors import ApiError
from tests.calls.conftest import World, live_call


def hangup(
    world: World, path: str, call_id: str | None = None, number: str | None = None
) -> HangUp:
    return HangUp(frozenset({path}), world.user("12"), call_id, number)


def hung_up(world: World, node: str = "") -> list[str]:
    port = world.ports[node] if node else world.port
    return [a["Channel"] for a in port.sent if a["Action"] == "Hangup"]


async def test_every_leg_of_the_paths_calls(world: World) -> None:
    """Both phones of 210's call get a Hangup; the answer names the call."""
    call_id = live_call(world)
    done = await world.svc.hangups.run(hangup(world, "0003*210"))
    assert done == [call_id]
    assert sorted(hung_up(world)) == ["PJSIP/024-0000000024", "PJSIP/210-0000000210"]


@pytest.mark.parametrize("number", ["024", "0003*024", " 024 "])
async def test_only_the_party_phone_number_names(world: World, number: str) -> None:
    """phoneNumber short (in the user's organization) or extended: only that party's leg."""
    live_call(world)
    await world.svc.hangups.run(hangup(world, "0003*210", number=number))
    assert hung_up(world) == ["PJSIP/024-0000000024"]


async def test_a_number_of_no_party_hangs_up_nothing(world: World) -> None:
    """A phoneNumber that is no party (025) hangs nothing up: the answer is empty."""
    live_call(world)
    assert await world.svc.hangups.run(hangup(world, "0003*210", number="025")) == []
    assert world.port.sent == []


async def test_a_call_that_is_not_the_paths_is_refused(world: World) -> None:
    """The call of 210 asked through 026: pc_phonecall_invalid, nothing sent."""
    call_id = live_call(world)
    with pytest.raises(ApiError) as info:
        await world.svc.hangups.run(hangup(world, "0003*026", call_id))
    assert info.value.code == "pc_phonecall_invalid"
    assert world.port.sent == []


async def test_the_hangup_goes_to_the_node_of_the_call(cluster: World) -> None:
    """410's call lives on node2: the Hangups go to node2 only."""
    live_call(cluster, "410", "411", node="node2")
    await cluster.svc.hangups.run(hangup(cluster, "0003*410"))
    assert cluster.ports["node1"].sent == []
    assert sorted(hung_up(cluster, "node2")) == ["PJSIP/410-0000000410", "PJSIP/411-0000000411"]
