"""The AMI events the bridge consumes; Asterisk is asked to send only these."""

from __future__ import annotations

# Call tracking (issue: phone calls) and parking/hold/recording (issue: call control) build on
# these; the link itself needs FullyBooted and Shutdown.
TRACKED_EVENTS: frozenset[str] = frozenset(
    {
        "FullyBooted",
        "Shutdown",
        "Newchannel",
        "Newstate",
        "NewCallerid",
        "NewConnectedLine",
        "DialBegin",
        "DialEnd",
        "LocalBridge",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "OriginateResponse",
        "ParkedCall",
        "ParkedCallTimeOut",
        "ParkedCallGiveUp",
        "UnParkedCall",
        "ParkedCallSwap",
        "Hold",
        "Unhold",
        "UserEvent",  # faxes (issue 25): extensions_uapi.conf's UapiFax / UapiFaxReceived
        "MixMonitorStart",
        "MixMonitorStop",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "DeviceStateChange",  # presence (issue 13)
        "ContactStatus",
        "QueueMemberAdded",  # queue agents (issue 13)
        "QueueMemberRemoved",
        "QueueMemberPause",
        "QueueMemberStatus",
        "ConfbridgeJoin",  # conference participants (issue 26)
        "ConfbridgeLeave",
        "ConfbridgeMute",
        "ConfbridgeUnmute",
        "ConfbridgeTalking",
    }
)
