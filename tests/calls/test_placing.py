"""bridge.calls.placing's Placing.run without HTTP: the Originate it sends, the node it picks,
the tenant rules (through the one resolver) and the nonce."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bridge.calls.placing import PlaceCall
from bridge.errors import ApiError
from tests.calls.conftest import World, variables


def call(
    world: World, *sources: str, to: str = "024", app: str = "crm", **extra: object
) -> PlaceCall:
    req = PlaceCall(
        app=world.app(app),
        user=world.user("12") if app == "crm" else None,
        sources=sources or ("210",),
        destinations=(to,),
        extension=(sources or ("210",))[0],
        caller_id=None,
        destination_caller_id=None,
        nonce=None,
        wait=25,
        duration=None,
        allow_public_transfer=False,
    )
    return dataclasses.replace(req, **extra)  # type: ignore[arg-type]


async def test_places_a_call_between_two_phones(world: World) -> None:
    """210 -> 024: one Originate from PJSIP/210 to PJSIP/024, charged to 0003*210, with the
    charged extension's caller id; the tracker knows the call and its parties first."""
    placed = await world.svc.placing.run(call(world))
    assert placed.extension == "0003*210"
    [sent] = world.port.sent
    assert sent["Action"] == "Originate"
    assert variables(sent)["UAPI_SOURCES"] == "PJSIP/210"
    assert variables(sent)["UAPI_DESTINATION"] == "PJSIP/024"
    meta = world.svc.nodes.first.tracker.calls[placed.call_id].meta
    assert meta is not None
    assert (meta.sources, meta.destinations) == (("0003*210",), ("0003*024",))
    assert meta.source_caller_id == "John Doe <210>"


async def test_a_public_destination_goes_through_dialing_public(world: World) -> None:
    """A public number is dialled through dialing.public and named as given."""
    placed = await world.svc.placing.run(call(world, to="+15551234"))
    [sent] = world.port.sent
    assert variables(sent)["UAPI_DESTINATION"] == "PJSIP/+15551234@trunk"
    meta = world.svc.nodes.first.tracker.calls[placed.call_id].meta
    assert meta is not None
    assert meta.destinations == ("+15551234",)


@pytest.mark.parametrize(
    ("req", "code"),
    [
        ({"extension": "024"}, "extension_invalid"),  # Jane's phone, not John's
        ({"extension": "250"}, "extension_invalid"),  # a callback extension
        ({"extension": "0004*300"}, "extension_invalid"),  # another organization's
        ({"destinations": ("0004*300",)}, "pc_destination_invalid"),  # as if unknown
        ({"destinations": ("0003*999",)}, "pc_destination_invalid"),  # unknown
        ({"destinations": ("260",)}, "pc_destination_invalid"),  # no phone rings on it
        ({"sources": ("210", "024")}, "pc_source_invalid"),  # crm may not act for Jane
    ],
)
async def test_tenant_rules_refuse_before_anything_is_sent(
    world: World, req: dict[str, Any], code: str
) -> None:
    """Each rule answers its field's code and nothing reaches Asterisk."""
    with pytest.raises(ApiError) as info:
        await world.svc.placing.run(call(world, **req))
    assert info.value.code == code
    assert world.port.sent == []


async def test_an_organization_app_may_act_for_its_users(world: World) -> None:
    """helpdesk (organization 3, @owner) may make Jane's 024 ring 210."""
    placed = await world.svc.placing.run(call(world, "024", to="210", app="helpdesk"))
    assert placed.extension == "0003*024"
    assert variables(world.port.sent[0])["UAPI_SOURCES"] == "PJSIP/024"


async def test_the_same_nonce_finds_the_live_call(world: World) -> None:
    """A retry with the same app and nonce while the call is live sends nothing more."""
    first = await world.svc.placing.run(call(world, nonce="n-1"))
    again = await world.svc.placing.run(call(world, nonce="n-1"))
    assert (again.call_id, again.reused, first.reused) == (first.call_id, True, False)
    assert len(world.port.sent) == 1


async def test_the_call_goes_to_the_node_of_its_first_phone_source(cluster: World) -> None:
    """410 lives on node2: the call is placed there; 210 on node1 is dialled through the trunk."""
    await cluster.svc.placing.run(call(cluster, "410", to="210"))
    assert cluster.ports["node1"].sent == []
    [sent] = cluster.ports["node2"].sent
    assert variables(sent)["UAPI_SOURCES"] == "PJSIP/410"
    assert variables(sent)["UAPI_DESTINATION"] == "PJSIP/210@node1"


@pytest.mark.parametrize(
    ("req", "code"),
    [
        ({"destinations": ("0004*300",)}, "pc_destination_invalid"),
        ({"sources": ("0003*210", "0004*300")}, "pc_source_invalid"),
    ],
)
async def test_an_admin_app_stays_inside_the_calls_organization(
    world: World, req: dict[str, Any], code: str
) -> None:
    """The admin app sees every organization, yet a call charged to organization 3 can
    neither dial organization 4's phone nor use it as a source."""
    with pytest.raises(ApiError) as info:
        await world.svc.placing.run(call(world, "0003*210", app="admin", **req))
    assert info.value.code == code
    assert world.port.sent == []
