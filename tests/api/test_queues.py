"""GET|PUT /uapi/extensions/{userId}/{queue}/queue/agents: the app_queue actions sent, the
answer, and one test per code (a refused request sends nothing to Asterisk)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ami.message import ActionFields, AmiMessage
from bridge.domain.queues import QueueAgents
from tests.conftest import CRM, HELPDESK, Api, FakePort

BASE = "/uapi/extensions/14/500/queue/agents"


class QueuePbx(FakePort):
    """Answers queue actions the way app_queue's events then change the member state."""

    def __init__(self, agents: QueueAgents) -> None:
        super().__init__()
        self.agents = agents

    async def send(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> AmiMessage:
        self.sent.append(dict(action))
        member = {"Queue": str(action["Queue"]), "Interface": str(action["Interface"])}
        event = {
            "QueueAdd": "QueueMemberAdded",
            "QueueRemove": "QueueMemberRemoved",
            "QueuePause": "QueueMemberPause",
        }[str(action["Action"])]
        paused = "1" if action.get("Paused") == "true" else "0"
        self.agents.apply({"Event": event, **member, "Paused": paused})
        return AmiMessage({"Response": "Success"})


@pytest.fixture
def pbx(api: Api) -> QueuePbx:
    fake = QueuePbx(api.services.nodes.first.queue_agents)
    api.plug(fake)
    return fake


async def put(
    api: Api, identifier: str, body: Any, path: str = BASE, token: str = HELPDESK
) -> tuple[int, Any]:
    resp = await api.client.put(f"{path}/{identifier}", json=body, headers=api.auth(token))
    return resp.status, await resp.json()


async def test_login_pause_and_logout(api: Api, pbx: QueuePbx) -> None:
    """1: QueueAdd; 2: QueuePause true; 1: QueuePause false; 0: QueueRemove; each answers
    the agent's new state."""
    steps = [("1", "QueueAdd"), ("2", "QueuePause"), ("1", "QueuePause"), ("0", "QueueRemove")]
    for status, action in steps:
        code, body = await put(api, "024", {"status": status})
        assert code == 200
        assert body == [
            {
                "agentNumber": "0003*024",
                "status": status,
                "queue": "0003*500",
                "type": "local",
                "identifier": "0003*024",
            }
        ]
        assert pbx.sent[-1]["Action"] == action
        assert pbx.sent[-1]["Interface"] == "PJSIP/024"
        assert pbx.sent[-1]["Queue"] == "500"
    assert pbx.sent[0]["MemberName"] == "0003*024"
    assert [a.get("Paused") for a in pbx.sent] == ["false", "true", "false", None]


async def test_login_paused_and_nothing_to_do(api: Api, pbx: QueuePbx) -> None:
    """2 from logged out adds the member paused; the same state again sends nothing."""
    await put(api, "0003*025", {"status": 2})
    assert pbx.sent[0]["Action"] == "QueueAdd"
    assert pbx.sent[0]["Paused"] == "true"
    await put(api, "025", {"status": "2"})
    await put(api, "024", {"status": "0"})
    assert len(pbx.sent) == 1


async def test_list_agents_with_parameters(api: Api, pbx: QueuePbx) -> None:
    """The list: every known agent; filterBy status; one identifier; nothing: 204."""
    resp = await api.client.get(BASE, headers=api.auth(HELPDESK))
    assert resp.status == 204
    await put(api, "024", {"status": "1"})
    await put(api, "025", {"status": "2"})
    resp = await api.client.get(
        BASE,
        headers=api.auth(HELPDESK),
        params={"sortOrder": "desc", "fields": "agentNumber,status"},
    )
    assert (await resp.json())["entry"] == [
        {"agentNumber": "0003*025", "status": "2"},
        {"agentNumber": "0003*024", "status": "1"},
    ]
    resp = await api.client.get(
        BASE, headers=api.auth(HELPDESK), params={"filterBy": "status", "filterValue": "1"}
    )
    assert [e["agentNumber"] for e in (await resp.json())["entry"]] == ["0003*024"]
    resp = await api.client.get(f"{BASE}/027", headers=api.auth(HELPDESK))
    assert (await resp.json())["entry"][0]["status"] == "0"


@pytest.mark.parametrize(
    ("path", "identifier", "body", "token", "code"),
    [
        (BASE, "024", {"status": "3"}, HELPDESK, "status_invalid"),
        (BASE, "024", {"status": "\u0661"}, HELPDESK, "status_invalid"),  # Arabic-Indic 1
        (BASE, "024", {}, HELPDESK, "status_invalid"),
        (BASE, "024", ["1"], HELPDESK, "status_invalid"),
        (BASE, "0004*300", {"status": "1"}, HELPDESK, "qag_agent_invalid"),
        (BASE, "500", {"status": "1"}, HELPDESK, "qag_agent_invalid"),  # the queue itself
        (BASE, "250", {"status": "1"}, HELPDESK, "qag_agent_invalid"),  # a callback extension
        (BASE, "99\r\n9", {"status": "1"}, HELPDESK, "qag_agent_invalid"),
        (
            "/uapi/extensions/14/@self/queue/agents",
            "024",
            {"status": "1"},
            HELPDESK,
            "extension_invalid",
        ),
        (
            "/uapi/extensions/14/028/queue/agents",
            "024",
            {"status": "1"},
            HELPDESK,
            "extension_invalid",
        ),  # a phone terminal
        (
            "/uapi/extensions/12/500/queue/agents",
            "024",
            {"status": "1"},
            HELPDESK,
            "extension_invalid",
        ),  # not user 12's
        ("/uapi/extensions/@me/500/queue/agents", "024", {"status": "1"}, CRM, "extension_invalid"),
    ],
)
async def test_each_failure_has_its_code_and_sends_nothing(
    api: Api, pbx: QueuePbx, path: str, identifier: str, body: Any, token: str, code: str
) -> None:
    """400 with the code; no queue action reached Asterisk."""
    status, answer = await put(api, identifier, body, path, token)
    assert status == 400, answer
    assert answer["error"]["code"] == code
    assert pbx.sent == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filterBy": "type", "filterValue": "local"}, "filterby_invalid"),
        ({"filterBy": "status", "filterOp": "contains", "filterValue": "1"}, "filterop_invalid"),
        ({"fields": "agentNumber,penalty"}, "fields_invalid"),
        ({"sortOrder": "sideways"}, "sortorder_invalid"),
        ({"count": "0"}, "count_invalid"),
    ],
)
async def test_list_parameters_have_their_codes(
    api: Api, pbx: QueuePbx, params: dict[str, str], code: str
) -> None:
    """400 with the list parameter's code."""
    resp = await api.client.get(BASE, headers=api.auth(HELPDESK), params=params)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == code


async def test_pbx_down_is_503(api: Api, pbx: QueuePbx) -> None:
    """PUT without the AMI link: 503, nothing sent."""
    pbx.connected = False
    status, answer = await put(api, "024", {"status": "1"})
    assert status == 503
    assert answer["error"]["code"] == "pbx_unavailable"
    assert pbx.sent == []


def test_rebuild_keeps_known_agents_as_logged_out() -> None:
    """QueueStatus at login: members with their pause; agents seen before and gone are 0."""
    agents = QueueAgents()
    agents.apply(
        {"Event": "QueueMemberAdded", "Queue": "500", "Interface": "PJSIP/024", "Paused": "0"}
    )
    agents.rebuild([{"Queue": "500", "Location": "PJSIP/025", "Paused": "1"}])
    assert agents.agents("500") == {"PJSIP/024": 0, "PJSIP/025": 2}


async def test_a_user_app_logs_an_agent_into_its_users_queue(api: Api, pbx: QueuePbx) -> None:
    """The demo apps' user (12: crm, mcp) has a queue of its own, 0003*212, so a user app's
    `@me` logs an agent in as 4PSA's Python example does (the demo's queue 500 is user 14's:
    extension_invalid for crm, above)."""
    path = "/uapi/extensions/@me/0003*212/queue/agents"
    code, body = await put(api, "0003*210", {"status": "1"}, path, CRM)
    assert code == 200, body
    assert body == [
        {
            "agentNumber": "0003*210",
            "status": "1",
            "queue": "0003*212",
            "type": "local",
            "identifier": "0003*210",
        }
    ]
    assert (pbx.sent[-1]["Action"], pbx.sent[-1]["Queue"]) == ("QueueAdd", "212")
    assert pbx.sent[-1]["Interface"] == "PJSIP/210"
