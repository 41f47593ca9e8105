"""PhoneCall ids: the one place that makes them and recognizes them (pure).

A call placed through the API gets a fresh 20-hex id, sent as the Originate's ChannelId so that
every leg carries it as Linkedid; any other call gets a stable 20-hex digest of its Linkedid.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from functools import lru_cache

_CALL_ID = re.compile(r"[0-9a-f]{20}")


def new_call_id() -> str:
    """A fresh id for a call the API places."""
    return secrets.token_hex(10)


def is_call_id(text: str) -> bool:
    """True if `text` has the form of a PhoneCall id (it may or may not be live)."""
    return _CALL_ID.fullmatch(text) is not None


def new_leg_id(call_id: str) -> str:
    """A Uniqueid for a channel the bridge adds to call `call_id` (UnPark, PickUp, spying)."""
    return f"{call_id}-{secrets.token_hex(4)}"


@lru_cache(maxsize=1 << 17)  # a call's legs and events repeat its Linkedid (issue 28: resync)
def phone_call_id(linkedid: str, node: str = "") -> str:
    """The PhoneCall id of the Asterisk call whose legs share `linkedid`.

    Calls placed through the API carry their id as Linkedid (the Originate's ChannelId). Other
    calls get a stable 20-hex digest of the Linkedid, so their id survives a bridge restart;
    on a `node` other than the first the digest covers the node's name too, since two
    Asterisks may hand out the same Linkedid.
    """
    if is_call_id(linkedid):
        return linkedid
    text = f"{node}/{linkedid}" if node else linkedid
    return hashlib.sha256(text.encode()).hexdigest()[:20]
