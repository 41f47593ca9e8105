"""Call control: Park, UnPark, Transfer, OnHold/OffHold, recording, PickUp, the spy actions,
and the bridge's additions SendDTMF, Mute/Unmute and Attended/Complete/CancelTransfer.

The party a view names is the actor: Park, OnHold and Transfer act on the party it talks to;
UnPark and PickUp on the view's own parked or ringing party; recording and BargeIn/Whisper/
Monitor on the view's party. Everything the tracker and the directory can refuse is refused
before anything reaches Asterisk; after its actions, each waits (briefly) until the tracker
shows the effect Asterisk's events should bring.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from bridge.ami import actions
from bridge.ami.message import ActionFields
from bridge.ami.ports import AmiPort
from bridge.calls.limits import Limiter, Ticket
from bridge.calls.nodes import Node, Nodes
from bridge.calls.resolve import Resolver
from bridge.calls.watch import Condition, TrackerWatch
from bridge.config import DialingConfig, ParkingConfig
from bridge.directory import Directory, is_public_number
from bridge.domain.callids import new_leg_id
from bridge.domain.model import RINGING, UP, Call, Channel, Effect, Party, Take
from bridge.domain.recordings import RecordingRecord, record_of, take_name
from bridge.domain.tracker import CallTracker
from bridge.errors import AmiActionFailed, PbxUnavailable, invalid
from bridge.tenants import Extension, ExtensionType, Organization

log = structlog.get_logger("bridge.calls")
SPY_OPTIONS = {"BargeIn": "qBE", "Monitor": "qE"}
# The actions that make Asterisk dial: each takes one token of the app's `limits.calls` (#21).
DIALING = frozenset(
    {
        "UnPark",
        "Transfer",
        "TransferToVoicemail",
        "PickUp",
        "BargeIn",
        "Monitor",
        "Whisper",
        "AttendedTransfer",
    }
)
SETTLE_WITHIN = 1.5  # seconds an answer waits for the effect of its actions in the tracker


@dataclass(frozen=True)
class Control:
    """A call-control request, parsed: the action, the call, the acting view, its fields."""

    action: str
    call_id: str
    extensions: tuple[Extension, ...]  # the path's
    view: str | None = None  # phoneCallViewId as "01"; None if absent or not a view id
    view_given: str | None = None  # phoneCallViewId as the client sent it (for messages)
    max_in_parking: int = 180
    send_call_to: str | None = None
    caller_id: str | None = None  # None: the sendCallTo extension's own
    wait: int = 25
    transfer_number: str | None = None  # None: not given
    transfer_from_number: str | None = None
    format: str = "wav"
    private: bool = False
    digits: str = ""  # SendDTMF: 0-9*#A-D
    duration: int = 250  # SendDTMF: ms per digit
    direction: str = "out"  # Mute/Unmute: in (the party hears nothing), out, both
    app: str = ""  # the app's name: whose calls bucket a dialing action takes from (#21)


def _ignore(record: RecordingRecord) -> None:
    """What a stopped recording goes to when nothing stores it (tests)."""


def _unheard(effects: list[Effect]) -> None:
    """Where the tracker's effects of call control go when nobody listens (tests)."""


@dataclass(frozen=True)
class Context:
    """What call control works with (built by bridge.app)."""

    pbx: AmiPort
    tracker: CallTracker
    directory: Directory
    watch: TrackerWatch
    dialing: DialingConfig
    parking: ParkingConfig
    settle_within: float = SETTLE_WITHIN
    node: str = ""  # the Asterisk node of `pbx` and `tracker` ("": the only one)
    limiter: Limiter | None = None  # the apps' calls buckets (None: not limited)
    recorded: Callable[[RecordingRecord], None] = _ignore  # a recording stopped: store it
    # what the tracker says of the changes call control makes (the node's effect sinks)
    emit: Callable[[list[Effect]], None] = _unheard


@dataclass
class Act:
    """One request under way: the call, the acting party, the request and the organization."""

    ctx: Context
    call: Call
    party: Party
    req: Control
    org: Organization
    res: Resolver  # the tenant rules (inside the call's organization)
    ticket: Ticket | None = None  # the calls token a dialing action took

    @property
    def tracker(self) -> CallTracker:
        return self.ctx.tracker

    def channel(self, party: Party, *, state: int = UP) -> Channel:
        """The party's live channel in `state` (Up by default), or pc_phonecallview_invalid."""
        chans = [self.tracker.channels[u] for u in party.channels if u in self.tracker.channels]
        for chan in chans:
            if chan.state == state:
                return chan
        want = "ringing" if state == RINGING else "on the call"
        raise invalid("pc_phonecallview_invalid", f"{party.key} is not {want}.")

    def counterpart(self) -> Party:
        """The party the view's party talks to: another party that is up."""
        others = [
            p
            for p in self.call.parties.values()
            if p is not self.party
            and any(
                self.tracker.channels[u].state == UP
                for u in p.channels
                if u in self.tracker.channels
            )
        ]
        if not others:
            raise invalid("pc_phonecallview_invalid", f"{self.party.key} talks to nobody.")
        opposite = [p for p in others if p.role != self.party.role]
        return (opposite or others)[0]

    def party_named(self, number: str, code: str) -> Party:
        """A party of the call given by number (short or extended extension, or public)."""
        party = party_of_number(self.res, self.call, self.org, number)
        if party is None:
            raise invalid(code, f"{number!r} is not a party of this call.")
        return party

    def terminal(self) -> Extension:
        """sendCallTo as a phone terminal of the organization."""
        ext = self.extension()
        if ext is None or ext.type != ExtensionType.PHONE_TERMINAL:
            raise invalid(
                "pc_sendcallto_invalid",
                f"{self.req.send_call_to!r} is not a phone terminal extension.",
            )
        return ext

    def extension(self) -> Extension | None:
        """sendCallTo as an extension of the call's organization (None: not one)."""
        ext = self.res.local(self.req.send_call_to or "", self.org)
        if ext is not None and not ext.channel:  # callback, conference: no phone to ring
            raise invalid("pc_sendcallto_invalid", f"{ext.number} has no phone to ring.")
        return ext

    def target(self, ext: Extension) -> str:
        """How this call's node dials `ext` (through a trunk if it lives on another node)."""
        node = self.ctx.node or self.ctx.directory.nodes[0]
        return self.res.phone(ext, node, "pc_sendcallto_invalid", "sendCallTo")

    async def send(self, action: ActionFields) -> None:
        """Sends an action; a dialing action's first takes its calls token (429 if none)."""
        limiter = self.ctx.limiter
        if self.req.action in DIALING and self.ticket is None and limiter is not None:
            self.ticket = limiter.take(self.req.app, "calls")
        await self.ctx.pbx.send(action)

    async def settle(self, done: Condition) -> None:
        """Waits (briefly) until the AMI events of the action reached the tracker."""
        await self.ctx.watch.until(done, self.ctx.settle_within)


async def _ring_into(act: Act, ext: Extension, context: str, variables: dict[str, str]) -> None:
    """Rings `ext` (sendCallTo) and, on answer, runs `context` for this call."""
    uniqueid = new_leg_id(act.call.id)
    act.tracker.expect(uniqueid, act.call.id)
    try:
        await act.send(
            actions.call_into(
                context,
                uniqueid=uniqueid,
                endpoint=act.target(ext),
                caller_id=act.req.caller_id or ext.caller_id,
                wait=act.req.wait,
                variables={"UAPI_CALL_ID": act.call.id, **variables},
            )
        )
    except Exception:
        act.tracker.unexpect(uniqueid)
        raise
    log.info("call.control.ringing", call_id=act.call.id, context=context, phone=ext.number)


async def park(act: Act) -> None:
    other = act.counterpart()
    chan, parker = act.channel(other), act.channel(act.party)
    await act.send(
        actions.park(chan.name, parker.name, act.req.max_in_parking, act.ctx.parking.lot)
    )
    await act.settle(lambda: other.parked is not None)
    for uid in list(act.party.channels):  # the parker is free (most dialplans hang it up)
        with contextlib.suppress(AmiActionFailed, KeyError):
            await act.send({"Action": "Hangup", "Channel": act.tracker.channels[uid].name})


async def unpark(act: Act) -> None:
    ext = act.terminal()
    parked = [p for p in act.call.parties.values() if p.parked is not None]
    target = (
        act.party if act.party.parked is not None else (parked[0] if len(parked) == 1 else None)
    )
    if target is None or target.parked_pos is None:
        raise invalid("pc_phonecallview_invalid", "That view is not parked.")
    await _ring_into(
        act,
        ext,
        "uapi-unpark",
        {"UAPI_PARK_LOT": act.ctx.parking.lot, "UAPI_PARK_SPACE": target.parked_pos},
    )


async def _move(act: Act, context: str, variables: dict[str, str]) -> Party:
    """Setvar + Redirect of the party being transferred (transferNumber, by default the
    party the view's party talks to)."""
    req = act.req
    moved = (
        act.party_named(req.transfer_number, "pc_transfernumber_invalid")
        if req.transfer_number is not None
        else act.counterpart()
    )
    if req.transfer_from_number is not None:
        act.party_named(req.transfer_from_number, "pc_transferfromnumber_invalid")
    chan = act.channel(moved)
    for name, value in {"UAPI_CALL_ID": act.call.id, **variables}.items():
        await act.send(actions.setvar(chan.name, name, value))
    await act.send(actions.redirect(chan.name, context))
    return moved


def _transfer_target(act: Act) -> tuple[str, str]:
    """sendCallTo as (dial target, the party key it will have in the call)."""
    number = act.req.send_call_to or ""
    ext = act.extension()
    if ext is not None:
        return act.target(ext), ext.number
    if is_public_number(number):
        meta = act.call.meta
        if meta is None or not meta.allow_public_transfer:
            raise invalid(
                "pc_sendcallto_invalid",
                "A public number needs allowPublicTransfer when the call is made.",
            )
        return act.ctx.dialing.public.format(number=number), number
    raise invalid("pc_sendcallto_invalid", f"{number!r} is neither an extension nor a number.")


async def transfer(act: Act) -> None:
    target, _ = _transfer_target(act)
    moved = await _move(
        act, "uapi-transfer", {"UAPI_TRANSFER_TO": target, "UAPI_WAIT": str(act.req.wait)}
    )
    log.info("call.control.transferred", call_id=act.call.id, party=moved.key, to=target)


async def to_voicemail(act: Act) -> None:
    ext = act.terminal()
    if act.target(ext) != ext.channel:
        raise invalid(
            "pc_sendcallto_invalid",
            f"The voicemail of {ext.number} is on another Asterisk node than this call.",
        )
    box = act.ctx.dialing.voicemail.format(short=ext.short, number=ext.number, prefix=ext.prefix)
    await _move(act, "uapi-voicemail", {"UAPI_MAILBOX": box})


async def hold(act: Act) -> None:
    other = act.counterpart()
    chan = act.channel(other)
    peers = [
        c
        for c in act.tracker.channels.values()
        if c.bridge is not None and c.bridge == chan.bridge and c is not chan
    ]
    if not peers:
        raise invalid("pc_phonecallview_invalid", f"{other.key} is not in a conversation.")
    await act.send(
        actions.redirect(chan.name, "uapi-hold", extra=(peers[0].name, "uapi-hold-peer"))
    )
    act.ctx.emit(act.tracker.mark_holder(act.call.id, act.party.key))
    await act.settle(lambda: other.on_hold is not None)


async def unhold(act: Act) -> None:
    held = [p for p in act.call.parties.values() if p.on_hold is not None]
    if not held:
        raise invalid("pc_phonecallview_invalid", "Nothing in this call is on hold.")
    chan = act.channel(held[0])
    listed = await act.ctx.pbx.send_list({"Action": "CoreShowChannels"})
    waiting = [
        c["Channel"]
        for c in listed
        if c.get("Context") == "uapi-hold-peer" and c["Uniqueid"] in act.call.channels
    ]
    if not waiting:
        raise invalid("pc_phonecallview_invalid", "The call was not put on hold by the bridge.")
    await act.send(actions.bridge(waiting[0], chan.name))
    await act.settle(lambda: held[0].on_hold is None)


async def start_recording(act: Act) -> None:
    chan = act.channel(act.party)
    now = time.time()
    take = Take(
        take_name(act.call.id, act.party.view_id, now), act.req.format, now, node=act.ctx.node
    )
    await act.send(actions.start_recording(chan.name, take.monitor_file))
    await act.settle(lambda: act.party.recording is not None)
    take = dataclasses.replace(take, started=act.party.recording or now)
    act.ctx.emit(act.tracker.add_take(act.call.id, act.party.key, take))
    log.info("call.recording.started", call_id=act.call.id, party=act.party.key, id=take.name)


async def stop_recording(act: Act) -> None:
    if act.party.recording is None:
        raise invalid("pc_phonecallview_invalid", f"{act.party.key} is not being recorded.")
    running = [t for t in act.party.takes if t.ended is None]
    await act.send(actions.stop_recording(act.channel(act.party).name))
    await act.settle(lambda: act.party.recording is None)
    # those the tracker has not ended (no event yet)
    act.ctx.emit(act.tracker.end_takes(act.call.id, act.party.key, time.time()))
    for take in running:
        act.ctx.recorded(record_of(act.call, act.party, take))
        log.info("call.recording.stopped", call_id=act.call.id, party=act.party.key, id=take.name)


async def pick_up(act: Act) -> None:
    ext = act.terminal()
    chan = act.channel(act.party, state=RINGING)
    await _ring_into(act, ext, "uapi-pickup", {"UAPI_TARGET": chan.name})


async def spy(act: Act) -> None:
    ext = act.terminal()
    opts = SPY_OPTIONS.get(act.req.action)
    if opts is None:  # Whisper
        opts = "qWE" if act.req.private else "qwE"
    chan = act.channel(act.party)
    await _ring_into(act, ext, "uapi-spy", {"UAPI_TARGET": chan.name, "UAPI_SPY_OPTS": opts})


async def send_dtmf(act: Act) -> None:
    """The digits as if the view's party pressed them: they cross its bridge to the peer."""
    act.counterpart()  # somebody must be there to hear them
    chan = act.channel(act.party)
    for digit in act.req.digits:
        await act.send(actions.play_dtmf(chan.name, digit, act.req.duration))
    log.info("call.dtmf.sent", call_id=act.call.id, party=act.party.key, digits=len(act.req.digits))


async def mute(act: Act) -> None:
    on = act.req.action == "Mute"
    chan = act.channel(act.party)
    await act.send(actions.mute_audio(chan.name, act.req.direction, on=on))
    act.ctx.emit(act.tracker.mark_muted(chan.uniqueid, act.req.direction, on=on))
    log.info(
        "call.muted" if on else "call.unmuted",
        call_id=act.call.id,
        party=act.party.key,
        direction=act.req.direction,
    )


async def attended_transfer(act: Act) -> None:
    """The peer waits on hold while the view's party calls sendCallTo (uapi-atxfer): when the
    party hangs up (or CompleteTransfer) the target and the peer are joined; when the target
    hangs up, does not answer (or CancelTransfer) the party is back with the peer."""
    if act.party.transferring_to is not None:
        raise invalid("pc_phonecallview_invalid", f"{act.party.key} is already transferring.")
    target, key = _transfer_target(act)
    peer = act.counterpart()
    chan, held = act.channel(act.party), act.channel(peer)
    for name, value in {
        "UAPI_CALL_ID": act.call.id,
        "UAPI_ATXFER_TO": target,
        "UAPI_WAIT": str(act.req.wait),
        "_UAPI_ATXFER_PEER": held.name,
    }.items():
        await act.send(actions.setvar(chan.name, name, value))
    # if the party gives up before the target answers, the peer calls the target itself
    for name, value in {
        "UAPI_CALL_ID": act.call.id,
        "UAPI_TRANSFER_TO": target,
        "UAPI_WAIT": str(act.req.wait),
    }.items():
        await act.send(actions.setvar(held.name, name, value))
    await act.send(
        actions.redirect(chan.name, "uapi-atxfer", extra=(held.name, "uapi-atxfer-held"))
    )
    act.ctx.emit(act.tracker.mark_transfer(act.call.id, act.party.key, key))
    log.info("call.transfer.attended", call_id=act.call.id, party=act.party.key, to=target)


def _transfer_of(act: Act) -> Party:
    """The target of the view's party's attended transfer (pc_phonecallview_invalid if none)."""
    key = act.party.transferring_to
    if key is None or key not in act.call.parties:
        raise invalid("pc_phonecallview_invalid", f"{act.party.key} is not transferring.")
    return act.call.parties[key]


async def complete_transfer(act: Act) -> None:
    """The party leaves: Asterisk joins the target with the held peer (Dial's F())."""
    _transfer_of(act)
    await act.send({"Action": "Hangup", "Channel": act.channel(act.party).name})
    await act.settle(lambda: act.party.transferring_to is None)


async def cancel_transfer(act: Act) -> None:
    """The target's legs hang up: the party's Dial returns and bridges it with the peer."""
    target = _transfer_of(act)
    for uid in list(target.channels):
        with contextlib.suppress(AmiActionFailed, KeyError):
            await act.send({"Action": "Hangup", "Channel": act.tracker.channels[uid].name})
    await act.settle(lambda: act.party.transferring_to is None)


ACTIONS: dict[str, Callable[[Act], Awaitable[None]]] = {
    "Park": park,
    "UnPark": unpark,
    "Transfer": transfer,
    "TransferToVoicemail": to_voicemail,
    "OnHold": hold,
    "OffHold": unhold,
    "StartRecording": start_recording,
    "StopRecording": stop_recording,
    "PickUp": pick_up,
    "BargeIn": spy,
    "Whisper": spy,
    "Monitor": spy,
    "SendDTMF": send_dtmf,
    "Mute": mute,
    "Unmute": mute,
    "AttendedTransfer": attended_transfer,
    "CompleteTransfer": complete_transfer,
    "CancelTransfer": cancel_transfer,
}


class CallControl:
    """The call-control use case: runs a request on the node that holds its call."""

    def __init__(self, nodes: Nodes, base: Context) -> None:
        self.nodes = nodes
        self.base = base  # the first node's; each node's is made from it

    async def run(self, req: Control) -> Call:
        """Runs the request on its live call; returns the call (it may have ended meanwhile).

        The node is the one that holds the call, else the path's extension's (where the call
        is not live: 400); a node whose link is down is 503."""
        holder = self.nodes.of_call(req.call_id)
        node = (
            self.nodes.live(holder.name)
            if holder is not None
            else self.nodes.live_for(req.extensions)[0]
        )
        return await act_on(self.context(node), req)

    def context(self, node: Node) -> Context:
        """Call control on `node` (its link, its tracker, its dialing.public)."""
        public = self.nodes.directory.public_of(node.name)
        dialing = dataclasses.replace(self.base.dialing, public=public)
        return dataclasses.replace(
            self.base,
            pbx=node.pbx,
            tracker=node.tracker,
            node=node.name,
            dialing=dialing,
            emit=node.emit,
        )


async def act_on(ctx: Context, req: Control) -> Call:
    """Runs the request on its live call in `ctx`'s tracker (the node `CallControl` chose)."""
    if not ctx.pbx.connected:
        raise PbxUnavailable("not connected")
    numbers = {e.number for e in req.extensions}
    call = ctx.tracker.calls.get(req.call_id)
    if call is None or not (call.extension in numbers or not numbers.isdisjoint(call.parties)):
        raise invalid("pc_phonecall_invalid", f"{req.call_id!r} is not a live call here.")
    org = _organization(ctx.directory, call, req.extensions)
    res = Resolver(ctx.directory, None)  # the call's organization's rules, whoever asks
    party = _acting_party(res, call, req, org)
    act = Act(ctx, call, party, req, org, res)
    try:
        await ACTIONS[req.action](act)
    except BaseException:
        if act.ticket is not None and ctx.limiter is not None:
            ctx.limiter.give(act.ticket)  # refused after all: the token is not used up
        raise
    log.info("call.control", call_id=call.id, action=req.action, view=party.view_id)
    return call


def _organization(directory: Directory, call: Call, exts: tuple[Extension, ...]) -> Organization:
    """The call's organization: that of its charged extension, else of the path's extension
    that takes part in it."""
    charged = directory.extensions.get(call.extension or "")
    ext = charged or next((e for e in exts if e.number in call.parties), exts[0])
    return directory.organization_of_user(directory.owner(ext))


def party_of_number(
    res: Resolver, call: Call, org: Organization, number: str | None
) -> Party | None:
    """The party of the call a number names (short or extended extension, or public);
    another organization's extension names no party (it is answered like an unknown one)."""
    if not number:
        return None
    ext = res.local(number, org)
    if ext is None and res.directory.extended(number, org) is not None:
        return None
    return call.parties.get(ext.number if ext else number)


def _transferring(res: Resolver, call: Call, req: Control, org: Organization) -> Party:
    """Transfer without phoneCallViewId (as 4PSA's MCP server sends it): the party
    transferFromNumber names, else the path's extension if it is one party of the call."""
    named = party_of_number(res, call, org, req.transfer_from_number)
    if named is not None:
        return named
    exts = req.extensions
    mine = [p for p in call.parties.values() if p.key in {e.number for e in exts}]
    if len(mine) == 1:
        return mine[0]
    given = req.transfer_from_number
    why = (
        f"transferFromNumber {given!r} is not a party of this call"
        if given is not None
        else "transferFromNumber is missing"
    )
    where = "is not a party of it" if not mine else f"names {len(mine)} of its parties"
    raise invalid(
        "pc_phonecallview_invalid",
        f"Give phoneCallViewId (the view that transfers): {why}, and the path "
        f"({', '.join(e.number for e in exts)}) {where}.",
    )


def _acting_party(res: Resolver, call: Call, req: Control, org: Organization) -> Party:
    """The view's party: phoneCallViewId, or for the transfers the transferring party."""
    if req.view_given is None and req.action in ("Transfer", "TransferToVoicemail"):
        return _transferring(res, call, req, org)
    if req.view_given is None:
        raise invalid(
            "pc_phonecallview_invalid",
            "phoneCallViewId is missing: give the view of the party that acts.",
        )
    party = next((p for p in call.parties.values() if p.view_id == req.view), None)
    if party is None:
        raise invalid("pc_phonecallview_invalid", f"{req.view_given} is not a view of this call.")
    return party
