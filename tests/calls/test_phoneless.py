"""bridge.calls.phoneless without HTTP: Callbacks (the Originate through the trunk, charged
to the Callback extension) and Invites (one call per destination into the conference room),
and the tenant rules each refuses with before anything is sent."""

from __future__ import annotations

import dataclasses

import pytest

from bridge.calls.phoneless import Callback, Invite
from bridge.errors import ApiError
from tests.calls.conftest import World, variables


def callback(world: World, **extra: object) -> Callback:
    req = Callback(
        app=world.app("crm"),
        user=world.user("12"),
        extension="250",
        sources=("5551234",),
        destinations=("5559876",),
        caller_id=None,
        destination_caller_id=None,
        wait=30,
        duration=60,
        nonce=None,
    )
    return dataclasses.replace(req, **extra)  # type: ignore[arg-type]


def invite(world: World, **extra: object) -> Invite:
    req = Invite(
        app=world.app("crm"),
        user=world.user("12"),
        extension="260",
        sources=None,
        destinations=("024", "5551234"),
        caller_id=None,
        wait=25,
        number="7",
        pin="1234",
    )
    return dataclasses.replace(req, **extra)  # type: ignore[arg-type]


async def test_callback_rings_both_public_numbers_through_the_trunk(world: World) -> None:
    """One Originate: the source then the destination through dialing.public; the call is
    charged to the callback extension with its caller id on both legs."""
    placed = await world.svc.callbacks.run(callback(world))
    assert placed.extension == "0003*250"
    [sent] = world.port.sent
    assert variables(sent)["UAPI_SOURCES"] == "PJSIP/5551234@trunk"
    assert variables(sent)["UAPI_DESTINATION"] == "PJSIP/5559876@trunk"
    meta = world.svc.nodes.first.tracker.calls[placed.call_id].meta
    assert meta is not None
    assert (meta.extension, meta.user_id, meta.app) == ("0003*250", "12", "crm")
    assert (meta.sources, meta.destinations) == (("5551234",), ("5559876",))
    assert meta.source_caller_id == meta.destination_caller_id == "Callback <250>"
    assert not meta.allow_public_transfer


async def test_callback_caller_ids_given(world: World) -> None:
    """callerId for the source leg, and for the destination leg unless it has its own."""
    await world.svc.callbacks.run(callback(world, caller_id="Sales <4242>"))
    await world.svc.callbacks.run(
        callback(world, caller_id="Sales <4242>", destination_caller_id="Desk <99>")
    )
    first, second = (variables(a) for a in world.port.sent)
    assert first["UAPI_SOURCE_CID"] == first["UAPI_DEST_CID"] == "Sales <4242>"
    assert second["UAPI_DEST_CID"] == "Desk <99>"


@pytest.mark.parametrize(
    ("req", "code"),
    [
        ({"extension": "210"}, "extension_invalid"),  # a phone, not a callback extension
        ({"user": None, "app": "helpdesk", "extension": "0004*350"}, "extension_invalid"),
        ({"user": "13"}, "extension_invalid"),  # 250 is John's, not Jane's
        ({"sources": ("024",)}, "pc_source_invalid"),  # an extension is no public number
        ({"destinations": ("0004*300",)}, "pc_destination_invalid"),  # even another org's
    ],
)
async def test_callback_refusals_send_nothing(
    world: World, req: dict[str, object], code: str
) -> None:
    """Each rule answers its field's code; nothing reaches Asterisk."""
    if "app" in req:
        req["app"] = world.app(str(req["app"]))
    if isinstance(req.get("user"), str):
        req["user"] = world.user(str(req["user"]))
    with pytest.raises(ApiError) as info:
        await world.svc.callbacks.run(callback(world, **req))
    assert info.value.code == code
    assert world.port.sent == []


async def test_invite_rings_each_destination_into_the_room(world: World) -> None:
    """Two destinations: two calls charged to 0003*260, each an Originate into
    uapi-conference with the room of 260 and `number`, and the PIN."""
    placed = await world.svc.invites.run(invite(world))
    assert [p.extension for p in placed] == ["0003*260", "0003*260"]
    phone, public = world.port.sent
    assert (phone["Channel"], public["Channel"]) == ("PJSIP/024", "PJSIP/5551234@trunk")
    for action, call in zip(world.port.sent, placed, strict=True):
        assert action["Context"] == "uapi-conference"
        assert action["ChannelId"] == call.call_id
        assert action["CallerID"] == "Conference <260>"
        found = variables(action)
        assert (found["UAPI_ROOM"], found["UAPI_PIN"]) == ("uapi-0003-260-7", "1234")
    tracker = world.svc.nodes.first.tracker
    parties = [tracker.calls[p.call_id].meta.destinations for p in placed]  # type: ignore[union-attr]
    assert parties == [("0003*024",), ("5551234",)]


@pytest.mark.parametrize(
    ("req", "code"),
    [
        ({"extension": "250"}, "extension_invalid"),  # a callback, not a conference
        ({"sources": ("210",)}, "pc_source_invalid"),  # the source must be the conference
        ({"destinations": ("0004*300",)}, "pc_destination_invalid"),  # another org's phone
        ({"destinations": ("024", "250")}, "pc_destination_invalid"),  # no phone rings on it
    ],
)
async def test_invite_refusals_send_nothing(
    world: World, req: dict[str, object], code: str
) -> None:
    """Each rule answers its field's code; no invite reaches Asterisk (not even the first)."""
    with pytest.raises(ApiError) as info:
        await world.svc.invites.run(invite(world, **req))
    assert info.value.code == code
    assert world.port.sent == []


async def test_invite_source_may_name_the_conference(world: World) -> None:
    """source, when given, is the conference itself (short or extended)."""
    await world.svc.invites.run(invite(world, sources=("260", "0003*260")))
    assert len(world.port.sent) == 2
