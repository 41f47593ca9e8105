"""DELETE /uapi/phoneCalls/{userId}/{extension}[/{phoneCallId}]: what List shows there can be
hung up there; the Hangup actions go to the channels the tracker follows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.api.conftest import FakePbx
from tests.api.test_calllist import get, live
from tests.conftest import CRM, Api

TWO_PARTY = ["PJSIP/210-00000025", "PJSIP/trunk-00000026"]  # the parties' legs, in view order
PLUMBING = ["Local/s@uapi-source-00000009;1", "Local/s@uapi-source-00000009;2"]


async def delete(api: Api, path: str, token: str = CRM) -> tuple[int, Any]:
    resp = await api.client.delete(f"/uapi/phoneCalls/{path}", headers=api.auth(token))
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


def hung_up(pbx: FakePbx) -> list[str]:
    assert all(a["Action"] == "Hangup" for a in pbx.sent)
    return [a["Channel"] for a in pbx.sent]


async def test_delete_hangs_up_every_leg(api: Api, pbx: FakePbx) -> None:
    """DELETE with an id hangs up the parties' legs, then the plumbing; 200 with the id."""
    call_id = live(api)
    assert await delete(api, f"@me/210/{call_id}") == (200, [{"id": call_id}])
    assert hung_up(pbx) == TWO_PARTY + PLUMBING


async def test_delete_every_call_of_the_extension(api: Api, pbx: FakePbx) -> None:
    """DELETE without an id hangs up each call List shows there (and the trailing slash)."""
    call_id = live(api)
    assert await delete(api, "@me/0003*210/") == (200, [{"id": call_id}])
    assert hung_up(pbx) == TWO_PARTY + PLUMBING


async def test_delete_one_party(api: Api, pbx: FakePbx) -> None:
    """phoneNumber hangs up only that party; a number not in the call deletes nothing."""
    call_id = live(api)
    assert await delete(api, f"@me/210/{call_id}?phoneNumber=5551234") == (200, [{"id": call_id}])
    assert hung_up(pbx) == ["PJSIP/trunk-00000026"]
    assert await delete(api, f"@me/210/{call_id}?phoneNumber=024") == (204, None)
    assert await delete(api, "@me/@self?phoneNumber=210") == (200, [{"id": call_id}])
    assert hung_up(pbx) == ["PJSIP/trunk-00000026", "PJSIP/210-00000025"]


async def test_a_call_charged_to_the_extension_is_hung_up_there(api: Api, pbx: FakePbx) -> None:
    """A call listed under 210 only because 210 is charged (025 and 026 ring 024) is hung up
    by `DELETE .../210/{id}` and by `DELETE .../210`, as List shows it there."""
    call_id = live(api, "parallel_sources")
    call = api.services.nodes.first.tracker.calls[call_id]
    assert call.meta is not None
    api.services.nodes.first.tracker.annotate(
        call_id, dataclasses.replace(call.meta, extension="0003*210")
    )
    status, listed = await get(api)
    assert (status, [c["id"] for c in listed["entry"]]) == (200, [call_id])
    assert "0003*210" not in call.parties
    assert await delete(api, f"@me/210/{call_id}") == (200, [{"id": call_id}])
    assert hung_up(pbx)[:2] == ["PJSIP/025-00000027", "PJSIP/026-00000028"]
    pbx.sent.clear()
    assert await delete(api, "@me/210") == (200, [{"id": call_id}])
    assert len(hung_up(pbx)) == 4


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("@me/210/not-an-id", "pc_phonecall_invalid"),
        ("@me/210/ffffffffffffffffffff", "pc_phonecall_invalid"),  # not live
        ("@me/026/{id}", "pc_phonecall_invalid"),  # live, but not a call of 026
        ("@me/024/{id}", "extension_invalid"),  # 024 is not the user's
        ("13/024/{id}", "extension_invalid"),  # a user app acting for another user
        (f"@me/210/{{id}}?phoneNumber={'5' * 33}", "pc_phonenumber_invalid"),  # over 32 digits
        (f"@me/210?phoneNumber={'0' * 65}", "pc_phonenumber_invalid"),  # over the maxLength
        ("@me/210/{id}?phoneNumber=024%0d%0aAction:%20Hangup", "pc_phonenumber_invalid"),
        ("@me/210?phoneNumber=John", "pc_phonenumber_invalid"),
        ("@me/210?phoneNumber=%D9%A3", "pc_phonenumber_invalid"),  # a non-ASCII digit
    ],
)
async def test_delete_failures(api: Api, pbx: FakePbx, path: str, code: str) -> None:
    """Bad ids, other extensions and other users are refused; nothing is hung up."""
    call_id = live(api)
    status, answer = await delete(api, path.format(id=call_id))
    assert (status, answer["error"]["code"]) == (400, code)
    assert pbx.sent == []


async def test_delete_nothing_and_pbx_down(api: Api, pbx: FakePbx) -> None:
    """No call on the extension: 204; AMI down: 503 pbx_unavailable."""
    live(api)
    assert await delete(api, "@me/026") == (204, None)
    pbx.connected = False
    status, answer = await delete(api, "@me/210")
    assert (status, answer["error"]["code"]) == (503, "pbx_unavailable")
    assert pbx.sent == []
