"""The recordings routes (issue 25) over a fake ARI: lists by tenant, files, ranges, deletes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from bridge import config as config_mod
from bridge.domain.recordings import RecordingRecord
from tests.api.test_callcontrol import TrackingPbx, put
from tests.api.test_calllist import live
from tests.ari.fake import FakeAri, start, wav
from tests.conftest import CRM, HELPDESK, Api

JANE = "jane-token-0123456789abcdef"  # a user app of user 13 (Jane: 024, 025, 027)
ANN = "ann-token-0123456789abcdefgh"  # a user app of user 14 (028): no party of the call
OTHER = "other-org-token-0123456789"  # an organization app of organization 4
CALL = "48bc0f26f2dceaaa2e5c"
REC = f"uapi-{CALL}-00-1796560271"
AUDIO = wav(800)  # 1,644 bytes


def record(
    rid: str = REC,
    call: str = CALL,
    started: float = 1796560271.0,
    extensions: tuple[str, ...] = ("0003*210", "0003*024"),
    fmt: str = "wav",
) -> RecordingRecord:
    return RecordingRecord(
        rid,
        call,
        rid.split("-")[2],
        "0003*210",
        fmt,
        started,
        started + 12.4,
        "default",
        extensions,
    )


@pytest.fixture
async def ari() -> AsyncIterator[FakeAri]:
    """A fake ARI holding REC's audio."""
    fake = await start(FakeAri(files={REC: AUDIO}))
    yield fake
    assert fake.server is not None
    await fake.server.close()


@pytest.fixture
async def rec_api(
    make_api: Callable[..., Any], raw_config: dict[str, Any], ari: FakeAri
) -> AsyncIterator[Api]:
    """The demo config with `ami.ari` on the fake, Jane's, Ann's and organization 4's apps,
    and REC stored (listed under 210 and 024)."""
    raw_config["ami"]["ari"] = {
        "url": str(ari.config().url),
        "username": "uapi",
        "password": ari.config().password,
        "timeout": 0.5,
    }
    raw_config["apps"] += [
        {"name": "jane", "user": "13", "token": JANE},
        {"name": "ann", "user": "14", "token": ANN},
        {"name": "other", "organization": "4", "token": OTHER},
    ]
    api: Api = await make_api(config_mod.parse(raw_config, env={}))
    api.services.recordings.store.add(record())
    await api.services.recordings.store.flush()
    yield api
    node = api.services.nodes.first
    assert node.ari is not None
    await node.ari.close()


async def answer(
    api: Api,
    path: str,
    token: str = CRM,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    resp = await api.client.request(
        method, path, headers={"Authorization": f"Bearer {token}", **(headers or {})}
    )
    raw = await resp.read()
    return resp.status, (await resp.json()) if raw else None


async def test_listed_under_each_extension_of_the_call(rec_api: Api) -> None:
    """John's app sees it under 210, Jane's under 024; Ann's and organization 4's see none."""
    status, body = await answer(rec_api, "/uapi/recordings/@me")
    assert status == 200
    [entry] = body["entry"]
    assert entry == {
        "id": REC,
        "phoneCallId": CALL,
        "extension": "0003*210",
        "viewId": "00",
        "started": "2026-12-06T12:31:11Z",
        "ended": "2026-12-06T12:31:23Z",
        "durationS": "12",
        "format": "wav",
        "size": "1644",
        "links": {
            "self": f"{entry['links']['self'].split('/uapi/')[0]}/uapi/recordings/@me/"
            f"0003*210/{REC}",
            "file": entry["links"]["self"] + "/file",
        },
    }
    status, body = await answer(rec_api, "/uapi/recordings/@me/024", JANE)
    assert (status, [e["extension"] for e in body["entry"]]) == (200, ["0003*024"])
    assert (await answer(rec_api, "/uapi/recordings/@me", ANN))[0] == 204
    assert (await answer(rec_api, "/uapi/recordings/@owner/@self", OTHER))[0] == 204
    status, body = await answer(rec_api, "/uapi/recordings/@owner/@self", HELPDESK)
    assert sorted(e["extension"] for e in body["entry"]) == ["0003*024", "0003*210"]


async def test_one_recording_and_the_ones_the_app_may_not_see(rec_api: Api) -> None:
    """By id under a listed extension: a collection of one; under another extension, from
    another app or unknown: 400 recording_invalid, worded like an unknown id."""
    status, body = await answer(rec_api, f"/uapi/recordings/@me/210/{REC}")
    assert (status, body["entry"][0]["id"]) == (200, REC)
    status, body = await answer(rec_api, f"/uapi/recordings/@me/026/{REC}")
    assert (status, body["error"]["code"]) == (400, "recording_invalid")
    hidden = await answer(rec_api, f"/uapi/recordings/@me/028/{REC}", ANN)
    unknown = await answer(rec_api, f"/uapi/recordings/@me/028/{REC[:-1]}9", ANN)
    assert hidden[0] == unknown[0] == 400
    assert hidden[1]["error"]["message"].replace(REC, "X") == (
        unknown[1]["error"]["message"].replace(REC[:-1] + "9", "X")
    )
    status, body = await answer(rec_api, "/uapi/recordings/@me/210/..%2F..%2Fetc")
    assert (status, body["error"]["code"]) == (400, "recording_invalid")


async def test_filters_sorting_and_paging(rec_api: Api) -> None:
    """filterBy phoneCallId / extension / started; sortOrder; count and startIndex."""
    other = "0123456789abcdef0123"
    rec_api.services.recordings.store.add(
        record(f"uapi-{other}-01-1796560400", other, started=1796560400.0, extensions=("0003*210",))
    )
    await rec_api.services.recordings.store.flush()
    _, body = await answer(rec_api, "/uapi/recordings/@me?sortOrder=descending&count=1")
    assert body["entry"][0]["phoneCallId"] == other
    assert (body["totalResults"], "next" in body["links"]) == (2, True)
    _, body = await answer(rec_api, f"/uapi/recordings/@me?filterBy=phoneCallId&filterValue={CALL}")
    assert [e["id"] for e in body["entry"]] == [REC]
    _, body = await answer(
        rec_api, "/uapi/recordings/@owner/@self?filterBy=extension&filterValue=0003*024", HELPDESK
    )
    assert [e["id"] for e in body["entry"]] == [REC]
    _, body = await answer(
        rec_api,
        "/uapi/recordings/@me?filterBy=started&filterOp=greaterThan"
        "&filterValue=2026-12-06T12:32:00Z",
    )
    assert [e["phoneCallId"] for e in body["entry"]] == [other]
    status, body = await answer(rec_api, "/uapi/recordings/@me?filterBy=size&filterValue=1")
    assert (status, body["error"]["code"]) == (400, "filterby_invalid")


async def test_file_whole_and_ranges(rec_api: Api) -> None:
    """200 whole with type and length; bytes=0-43 is the 44-byte header (206); open and
    suffix ranges; past the end 416; several ranges or a reversed one get it whole."""
    url = f"/uapi/recordings/@me/210/{REC}/file"
    auth = {"Authorization": f"Bearer {CRM}"}
    resp = await rec_api.client.get(url, headers=auth)
    assert (resp.status, resp.content_type, resp.content_length) == (200, "audio/wav", 1644)
    assert await resp.read() == AUDIO
    for header, want, first, cut in (
        ("bytes=0-43", 206, 0, AUDIO[:44]),
        ("bytes=1600-", 206, 1600, AUDIO[1600:]),
        ("bytes=-4", 206, 1640, AUDIO[-4:]),
        ("bytes=40-99999", 206, 40, AUDIO[40:]),
        ("bytes=0-1,5-9", 200, 0, AUDIO),
        ("bytes=9-2", 200, 0, AUDIO),
        ("items=0-3", 200, 0, AUDIO),
    ):
        resp = await rec_api.client.get(url, headers={**auth, "Range": header})
        got = await resp.read()
        assert (resp.status, got, resp.content_length) == (want, cut, len(cut)), header
        if want == 206:
            last = first + len(cut) - 1
            assert resp.headers["Content-Range"] == f"bytes {first}-{last}/1644", header
    resp = await rec_api.client.get(url, headers={**auth, "Range": "bytes=1644-"})
    assert (resp.status, resp.headers["Content-Range"]) == (416, "bytes */1644")
    assert (await resp.json())["error"]["code"] == "range_not_satisfiable"


async def test_file_is_streamed_as_ari_sends_it(rec_api: Api, ari: FakeAri) -> None:
    """The first bytes reach the client while ARI still holds back the second half (a plain
    client: the validating one reads whole bodies)."""
    ari.gate = asyncio.Event()
    url = rec_api.client.make_url(f"/uapi/recordings/@me/210/{REC}/file")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {CRM}"}) as resp,
    ):
        first = await asyncio.wait_for(resp.content.readexactly(44), 2)
        assert first == AUDIO[:44]
        assert not ari.gate.is_set()
        ari.gate.set()
        assert first + await resp.read() == AUDIO


async def test_ari_stopping_mid_file_cuts_the_answer(rec_api: Api, ari: FakeAri) -> None:
    """ARI goes silent after half the file: the client's answer is cut short (never a JSON
    error glued to the audio)."""
    ari.gate = asyncio.Event()  # never set: ARI sends half, then nothing
    url = rec_api.client.make_url(f"/uapi/recordings/@me/210/{REC}/file")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {CRM}"}) as resp,
    ):
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()
    ari.gate.set()


async def test_delete_removes_it_from_ari_and_the_store(rec_api: Api, ari: FakeAri) -> None:
    """DELETE: 204, gone from ARI and the lists; again: recording_invalid. Another app's
    DELETE changes nothing."""
    url = f"/uapi/recordings/@me/210/{REC}"
    assert (await answer(rec_api, f"/uapi/recordings/@me/028/{REC}", ANN, "DELETE"))[0] == 400
    assert REC in ari.files
    assert (await answer(rec_api, url, method="DELETE")) == (204, None)
    assert ("DELETE", f"/ari/recordings/stored/{REC}") in ari.requests
    assert ari.files == {}
    assert (await answer(rec_api, "/uapi/recordings/@me/024", JANE))[0] == 204
    status, body = await answer(rec_api, url, method="DELETE")
    assert (status, body["error"]["code"]) == (400, "recording_invalid")


async def test_file_asterisk_lost_is_invalid_and_delete_still_works(
    rec_api: Api, ari: FakeAri
) -> None:
    """A stored recording whose file ARI no longer has: the file is recording_invalid, the
    DELETE still removes the record."""
    ari.files.clear()
    status, body = await answer(rec_api, f"/uapi/recordings/@me/210/{REC}/file")
    assert (status, body["error"]["code"]) == (400, "recording_invalid")
    assert (await answer(rec_api, f"/uapi/recordings/@me/210/{REC}", method="DELETE"))[0] == 204
    assert await rec_api.services.recordings.store.get(REC) is None


async def test_ari_silent_is_503(rec_api: Api, ari: FakeAri) -> None:
    """ARI accepts but never answers: the file and DELETE are 503 pbx_unavailable."""
    ari.hang = True
    for method, tail in (("GET", "/file"), ("DELETE", "")):
        status, body = await answer(rec_api, f"/uapi/recordings/@me/210/{REC}{tail}", method=method)
        assert (status, body["error"]["code"]) == (503, "pbx_unavailable"), method
    assert await rec_api.services.recordings.store.get(REC) is not None


async def test_without_ari_it_is_501_naming_the_key(api: Api) -> None:
    """No `ami.ari`: 501 request_not_implemented naming the key; tenant errors first."""
    for path in ("/uapi/recordings/@me", f"/uapi/recordings/@me/210/{REC}/file"):
        status, body = await answer(api, path)
        assert (status, body["error"]["code"]) == (501, "request_not_implemented"), path
        assert "`ami.ari`" in body["error"]["message"]
    status, body = await answer(api, "/uapi/recordings/30")
    assert (status, body["error"]["code"]) == (400, "user_invalid")


async def test_start_and_stop_recording_store_it(rec_api: Api, ari: FakeAri) -> None:
    """StartRecording/StopRecording on a live call (210 with the public 5551234): the stop
    stores the recording (size from ARI) under the call's one extension, not the number."""
    pbx = TrackingPbx(rec_api)
    rec_api.plug(pbx)
    call_id = live(rec_api)
    status, _ = await put(rec_api, {"action": "StartRecording", "phoneCallViewId": "00"}, call_id)
    assert status == 200
    name = pbx.sent[0]["File"].removeprefix("../recording/").removesuffix(".wav")
    ari.files[name] = wav(8)
    status, _ = await put(rec_api, {"action": "StopRecording", "phoneCallViewId": "00"}, call_id)
    assert status == 200
    await rec_api.services.recordings.store.flush()
    stored = await rec_api.services.recordings.store.get(name)
    assert stored is not None
    assert (stored.call_id, stored.view_id, stored.size) == (call_id, "00", 60)
    assert stored.extensions == ("0003*210",)
    _, body = await answer(
        rec_api, f"/uapi/recordings/@me/210?filterBy=phoneCallId&filterValue={call_id}"
    )
    assert [(e["id"], e["durationS"]) for e in body["entry"]] == [(name, "0")]
    assert (await answer(rec_api, "/uapi/recordings/@me", JANE))[1]["totalResults"] == 1
