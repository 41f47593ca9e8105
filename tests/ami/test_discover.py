"""`uapi-bridge discover`: listing a node over AMI (a fake one), what it proposes for what the
file does not list, and its errors (unreachable, login refused, too few rights)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import config as config_mod
from bridge.discover import DiscoverError, Endpoint, Survey, main, proposals, render, survey
from tests.ami.fake_ami import Action, FakeAmi
from tests.conftest import shipped_config

CALLERIDS = {"210": '"Phone 210" <210>', "211": '"Phone 211" <211>', "trunk": "<unknown>"}


def pbx(fake: FakeAmi) -> None:
    """Endpoints 210 (listed in the demo), 211 (new) and trunk (dialing.public); queue 500
    (listed) and 600 (new); no ConfBridge room (an error answer)."""

    def endpoint(action: Action) -> list[dict[str, str]]:
        name = str(action["Endpoint"])
        return [
            {"Event": "EndpointDetail", "ObjectName": name, "Callerid": CALLERIDS[name]},
            {"Event": "AorDetail", "ObjectName": name},
        ]

    fake.lists["pjsipshowendpoints"] = lambda _: [
        {"Event": "EndpointList", "ObjectName": n} for n in CALLERIDS
    ]
    fake.lists["pjsipshowendpoint"] = endpoint
    fake.lists["queuestatus"] = lambda _: [
        {"Event": "QueueParams", "Queue": "500"},
        {"Event": "QueueMember", "Queue": "500"},
        {"Event": "QueueParams", "Queue": "600"},
    ]
    fake.errors["confbridgelistrooms"] = "No active conferences."


def demo(tmp_path: Path, fake: FakeAmi | None = None) -> config_mod.Config:
    raw = shipped_config(tmp_path)
    raw["ami"].update(
        port=fake.port if fake else 1,
        secret=fake.secret if fake else "x",
        reconnect_min=0.05,
        reconnect_max=0.1,
        action_timeout=2,
    )
    return config_mod.parse(raw, env={})


async def test_lists_what_the_file_does_not(fake: FakeAmi, tmp_path: Path) -> None:
    """211 and queue 600 are proposed (number from the prefix, caller id from the endpoint,
    user FILL-ME, a comment each); 210 and 500 are listed, trunk is the file's trunk."""
    pbx(fake)
    cfg = demo(tmp_path, fake)
    found = await survey(cfg.nodes[0], 2)
    assert found.endpoints == [Endpoint(n, c) for n, c in CALLERIDS.items()]
    assert (found.queues, found.rooms) == (["500", "600"], [])
    items, skipped = proposals(cfg, [found])
    assert [p.fields for p in items] == [
        {
            "number": "0003*211",
            "user": "FILL-ME",
            "type": "phone_terminal",
            "channel": "PJSIP/211",
            "caller_id": "Phone 211 <211>",
        },
        {
            "number": "0003*600",
            "user": "FILL-ME",
            "type": "queue",
            "channel": "Local/600@uapi-queue",
        },
    ]
    assert skipped == ["PJSIP/trunk"]
    text = render("bridge.yaml", [found], items, skipped)
    assert "# PJSIP endpoint 211 on Asterisk (PJSIPShowEndpoints, callerid" in text
    pasted = yaml.safe_load(text)["extensions"]
    assert [e["number"] for e in pasted] == ["0003*211", "0003*600"]


async def test_too_few_rights_is_an_error(fake: FakeAmi, tmp_path: Path) -> None:
    """A login that may not run PJSIPShowEndpoints: DiscoverError naming the action."""
    pbx(fake)
    fake.errors["pjsipshowendpoints"] = "Permission denied"
    with pytest.raises(DiscoverError, match="may not run PJSIPShowEndpoints"):
        await survey(demo(tmp_path, fake).nodes[0], 2)


async def test_a_refused_login_is_an_error(fake: FakeAmi, tmp_path: Path) -> None:
    """A wrong secret: DiscoverError saying the login was refused (no waiting for retries)."""
    cfg = demo(tmp_path, fake)
    wrong = dataclasses.replace(cfg.nodes[0], secret="wrong")
    with pytest.raises(DiscoverError, match="refused the login of 'uapi'"):
        await survey(wrong, 2)


def test_rooms_and_several_nodes(tmp_path: Path) -> None:
    """With several nodes each entry names its node; the bridge's own room of a listed
    Conference extension is not proposed, another room is (number FILL-ME when not digits);
    a digit endpoint whose number is taken gets FILL-ME."""
    raw = shipped_config(tmp_path, "demo-cluster.yaml")
    cfg = config_mod.parse(raw, env={})
    found = [
        Survey(
            "node2",
            [Endpoint("414"), Endpoint("210")],
            rooms=["uapi-0003-260", "uapi-0003-260-7", "sales"],
        )
    ]
    items, _ = proposals(cfg, found)
    fields: list[dict[str, Any]] = [p.fields for p in items]
    assert fields == [
        {
            "number": "0003*414",
            "user": "FILL-ME",
            "type": "phone_terminal",
            "channel": "PJSIP/414",
            "node": "node2",
        },
        {"number": "FILL-ME", "user": "FILL-ME", "type": "conference", "node": "node2"},
    ]
    assert items[1].comment == "ConfBridge room sales on node node2 (ConfBridgeListRooms)"


def test_command_exits_1_when_a_node_cannot_be_reached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """discover's main against a closed port: exit 1, the reason on stderr, no YAML on stdout
    (the test's unconfigured structlog prints the link's lines there; the CLI sends them to
    stderr); an unknown --node: exit 1 too."""
    raw = shipped_config(tmp_path)
    raw["ami"].update(port=1, action_timeout=2, reconnect_min=0.05, reconnect_max=0.1)
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["--config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "extensions:" not in out
    assert "node 'default' (AMI 127.0.0.1:1) cannot be reached" in err
    assert main(["--config", str(path), "--node", "nope"]) == 1
    assert "no node 'nope'" in capsys.readouterr().err
