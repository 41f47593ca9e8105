"""The live stream across a config reload: `@self` streams follow their user's extensions,
a removed extension's live call stays with the other parties, nothing is dropped."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.reload import Reloader
from bridge.webhooks.dispatcher import Dispatcher
from tests.conftest import HELPDESK
from tests.live.conftest import Live

Change = Callable[[dict[str, Any]], None]


@pytest.fixture
def reload(live: Live, stream_config: dict[str, Any], tmp_path: Path) -> Callable[[Change], Any]:
    """Writes the stream config with a change to a file and reloads the running API from it."""
    svc = live.api.services
    path = tmp_path / "bridge.yaml"
    reloader = Reloader(
        path, svc, Dispatcher(svc.config.webhooks, svc.registrations, svc.outbox), live.hub
    )
    raw = copy.deepcopy(stream_config)

    async def run(change: Change) -> None:
        change(raw)
        path.write_text(yaml.safe_dump(raw))
        assert await reloader.reload(), svc.config_state.problems

    return run


def owner(number: str, user: str) -> Change:
    def change(raw: dict[str, Any]) -> None:
        next(e for e in raw["extensions"] if e["number"] == number)["user"] = user

    return change


def without(number: str) -> Change:
    def change(raw: dict[str, Any]) -> None:
        raw["extensions"] = [e for e in raw["extensions"] if e["number"] != number]

    return change


async def test_self_stream_gets_the_live_call_of_an_extension_its_user_gained(
    live: Live, reload: Callable[[Change], Any]
) -> None:
    """A 210-024 call is up; user 14's `@self` stream sees nothing; 024 given to user 14:
    the stream gets the call at once, then its end."""
    call_id = await live.play("phone_to_phone", until=1.0)
    reader = await live.open("/uapi/phoneCalls/14/@self/stream", token=HELPDESK)
    assert [e.kind for e in await reader.until("ready")] == ["ready"]
    await reload(owner("0003*024", "14"))
    event = await reader.next()
    assert (event.kind, event.data["id"]) == ("call", call_id)
    await live.play("phone_to_phone", start=1.0)
    assert (await reader.until("ended"))[-1].data == {"id": call_id}


@pytest.fixture
def started_without_024(stream_config: dict[str, Any]) -> None:
    """The bridge starts without 0003*024 (requested before `live`)."""
    without("0003*024")(stream_config)


@pytest.mark.usefixtures("started_without_024")
async def test_an_added_extension_streams_new_calls(
    live: Live, reload: Callable[[Change], Any]
) -> None:
    """The bridge started without 024; user 13's `@self` stream opened, 024 added: its next
    call (named by the trackers through the new directory) reaches that stream."""
    assert "0003*024" not in live.api.services.directory.extensions
    reader = await live.open("/uapi/phoneCalls/13/@self/stream", token=HELPDESK)
    await reader.until("ready")
    await reload(
        lambda raw: raw["extensions"].append(
            {"number": "0003*024", "user": "13", "channel": "PJSIP/024"}
        )
    )
    call_id = await live.play("phone_to_phone", until=1.0)
    event = await reader.next()
    assert (event.kind, event.data["id"]) == ("call", call_id)
    assert "0003*024" in [v["extension"] for v in event.data["phoneCallView"]]


async def test_a_removed_extension_call_stays_with_the_other_party(
    live: Live, reload: Callable[[Change], Any]
) -> None:
    """024 removed during a 210-024 call: 210's List still shows the call with 024's view and
    210's open stream gets its end; 024's List answers as for an unknown extension."""
    call_id = await live.play("phone_to_phone", until=1.0)
    reader = await live.open("/uapi/phoneCalls/@me/210/stream")
    await reader.until("ready")
    await reload(without("0003*024"))
    api = live.api
    listed = await (await api.client.get("/uapi/phoneCalls/@me/210", headers=api.auth())).json()
    [entry] = listed["entry"]
    assert entry["id"] == call_id
    assert [v["extension"] for v in entry["phoneCallView"]] == ["0003*210", "0003*024"]
    gone = await api.client.get("/uapi/phoneCalls/13/024", headers=api.auth(HELPDESK))
    assert gone.status == 400
    await live.play("phone_to_phone", start=1.0)
    assert (await reader.until("ended"))[-1].data == {"id": call_id}
