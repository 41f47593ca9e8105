"""bridge.calls.control's CallControl without HTTP: the node it runs a request on, and the
tenant rules of sendCallTo (through the one resolver), before anything reaches Asterisk."""

from __future__ import annotations

import pytest

from bridge.calls.control import Control
from bridge.domain.model import CallMeta
from bridge.errors import ApiError, PbxUnavailable
from tests.calls.conftest import World, live_call


def control(
    world: World, call_id: str, path: str, action: str, by: str = "", **extra: object
) -> Control:
    """A request of `action` on call `call_id` through the path's extension, by the view of
    party `by` (default: the path's extension)."""
    ext = world.svc.directory.extensions[path]
    view = None
    for node in world.svc.nodes.all:
        call = node.tracker.calls.get(call_id)
        if call is not None:
            view = next(p.view_id for p in call.parties.values() if p.key == (by or path))
    return Control(
        action=action,
        call_id=call_id,
        extensions=(ext,),
        view=view,
        view_given=view,
        app="crm",
        **extra,  # type: ignore[arg-type]
    )


async def test_runs_on_the_node_that_holds_the_call(cluster: World) -> None:
    """A call of 410 and 411 lives on node2, charged to 210 (node1): asked through 210, its
    StartRecording's MixMonitor goes to node2 only."""
    call_id = live_call(cluster, "410", "411", node="node2")
    meta = CallMeta("0003*210", "12", "crm", None, 1000.0, ("0003*410",), ("0003*411",))
    cluster.svc.nodes["node2"].tracker.annotate(call_id, meta)
    req = control(cluster, call_id, "0003*210", "StartRecording", by="0003*410")
    await cluster.svc.control.run(req)
    assert cluster.ports["node1"].sent == []
    assert [(a["Action"], a["Channel"]) for a in cluster.ports["node2"].sent] == [
        ("MixMonitor", "PJSIP/410-0000000410")
    ]


async def test_the_node_that_holds_the_call_down_is_503(cluster: World) -> None:
    """node2 holds the call and is down: 503 naming node2 (node1 being up does not help)."""
    call_id = live_call(cluster, "410", "411", node="node2")
    cluster.ports["node2"].connected = False
    with pytest.raises(PbxUnavailable) as info:
        await cluster.svc.control.run(control(cluster, call_id, "0003*410", "StartRecording"))
    assert "node2" in str(info.value)
    assert cluster.sent() == []


async def test_a_call_held_nowhere_is_asked_of_the_paths_node(cluster: World) -> None:
    """An id no node holds: the path's node answers (pc_phonecall_invalid while it is up,
    503 naming it while it is down)."""
    req = control(cluster, "f" * 20, "0003*410", "StartRecording")
    with pytest.raises(ApiError) as info:
        await cluster.svc.control.run(req)
    assert info.value.code == "pc_phonecall_invalid"
    cluster.ports["node2"].connected = False
    with pytest.raises(PbxUnavailable) as down:
        await cluster.svc.control.run(req)
    assert "node2" in str(down.value)
    assert cluster.sent() == []


async def test_a_call_of_another_extension_is_not_live_here(world: World) -> None:
    """The call is 210's and 024's; asked through 026: pc_phonecall_invalid, nothing sent."""
    call_id = live_call(world)
    req = control(world, call_id, "0003*210", "StartRecording")
    other = Control("StartRecording", call_id, (world.svc.directory.extensions["0003*026"],))
    with pytest.raises(ApiError) as info:
        await world.svc.control.run(other)
    assert info.value.code == "pc_phonecall_invalid"
    await world.svc.control.run(req)
    assert [a["Action"] for a in world.port.sent] == ["MixMonitor"]


async def test_transfer_dials_an_extension_of_the_calls_organization(cluster: World) -> None:
    """Transfer from 210's view to 410: 024 is redirected to uapi-transfer, to be dialled
    through node1's trunk to node2."""
    call_id = live_call(cluster)
    await cluster.svc.control.run(
        control(cluster, call_id, "0003*210", "Transfer", send_call_to="410")
    )
    sent = cluster.ports["node1"].sent
    assert {a["Variable"]: a["Value"] for a in sent if a["Action"] == "Setvar"}[
        "UAPI_TRANSFER_TO"
    ] == "PJSIP/410@node2"
    assert [(a["Action"], a["Channel"]) for a in sent if a["Action"] == "Redirect"] == [
        ("Redirect", "PJSIP/024-0000000024")
    ]


@pytest.mark.parametrize(
    "to",
    [
        "0004*300",  # another organization's phone: as if unknown
        "250",  # a callback extension: no phone to ring
        "0003*999",  # unknown
        "5551234",  # public, but the call was not made with allowPublicTransfer
    ],
)
async def test_transfer_targets_refused_send_nothing(world: World, to: str) -> None:
    """pc_sendcallto_invalid; no Setvar or Redirect reaches Asterisk."""
    call_id = live_call(world)
    with pytest.raises(ApiError) as info:
        await world.svc.control.run(
            control(world, call_id, "0003*210", "Transfer", send_call_to=to)
        )
    assert info.value.code == "pc_sendcallto_invalid"
    assert world.port.sent == []
