"""Several nodes behind one API: each request reaches the node that holds what it names.

Two fake AMI ports stand for node1 and node2 of config/demo-cluster.yaml; the real two-node
sandbox is in tests/system/test_nodes.py.
"""

from __future__ import annotations

from typing import Any

from bridge import config as config_mod
from bridge.domain.model import CallMeta
from tests.api.conftest import FakePbx
from tests.conftest import CRM, Api

Cluster = tuple[Api, FakePbx, FakePbx]


async def make_call(api: Api, source: str, destination: str, token: str = CRM) -> tuple[int, Any]:
    resp = await api.client.post(
        "/uapi/phoneCalls/@me/simple",
        headers=api.auth(token),
        json={"phoneCallView": [{"source": [source], "destination": [destination]}]},
    )
    return resp.status, await resp.json()


def variables(action: dict[str, Any]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in action["Variable"])


def chan(
    uid: str, name: str, state: str = "6", linkedid: str | None = None, caller: str = ""
) -> dict[str, str]:
    return {
        "Event": "Newchannel",
        "Uniqueid": uid,
        "Linkedid": linkedid or uid,
        "Channel": name,
        "ChannelState": state,
        "CallerIDNum": caller,
    }


async def test_a_call_goes_to_the_node_of_its_source(cluster: Cluster) -> None:
    """210 -> 024 is originated on node1, 410 -> 413 on node2 (each dials its own phones)."""
    api, one, two = cluster
    assert (await make_call(api, "210", "024"))[0] == 202
    assert (await make_call(api, "410", "413"))[0] == 202
    [first], [second] = one.sent, two.sent
    assert variables(first)["UAPI_SOURCES"] == "PJSIP/210"
    assert variables(first)["UAPI_DESTINATION"] == "PJSIP/024"
    assert variables(second)["UAPI_SOURCES"] == "PJSIP/410"
    assert variables(second)["UAPI_DESTINATION"] == "PJSIP/413"


async def test_a_call_between_nodes_dials_through_the_trunk(cluster: Cluster) -> None:
    """210 (node1) -> 410 (node2): placed on node1, the destination through node1's trunk."""
    api, one, two = cluster
    status, answer = await make_call(api, "210", "0003*410")
    assert status == 202
    [sent] = one.sent
    assert two.sent == []
    assert sent["ChannelId"] == answer[0]["id"]
    assert variables(sent)["UAPI_DESTINATION"] == "PJSIP/410@node2"
    status, _ = await make_call(api, "410", "210")
    assert status == 202
    assert variables(two.sent[0])["UAPI_DESTINATION"] == "PJSIP/210@node1"


async def test_without_a_trunk_a_call_between_nodes_is_refused(
    make_api: Any, cluster_raw: dict[str, Any]
) -> None:
    """No `trunks` on node1: pc_destination_invalid, saying the parties are on two nodes."""
    del cluster_raw["ami"][0]["trunks"]
    api: Api = await make_api(config_mod.parse(cluster_raw, env={}))
    one = FakePbx()
    api.services.nodes.plug("node1", one)
    status, body = await make_call(api, "210", "410")
    assert status == 400
    assert body["error"]["code"] == "pc_destination_invalid"
    assert "node 'node2'" in body["error"]["message"]
    assert "no trunk" in body["error"]["message"]
    assert one.sent == []


async def test_self_lists_the_calls_of_every_node(cluster: Cluster) -> None:
    """John's @self covers 210 (node1) and 410 (node2): one list with both calls, oldest
    first; each node's call answers under its own extension."""
    api, _, _ = cluster
    nodes = api.services.nodes
    meta = CallMeta("0003*210", "12", "crm", None, 1000.0, ("0003*210",), ("5551234",))
    nodes["node1"].tracker.annotate("a" * 20, meta)
    meta2 = CallMeta("0003*410", "12", "crm", None, 900.0, ("0003*410",), ("5551234",))
    nodes["node2"].tracker.annotate("b" * 20, meta2)
    resp = await api.client.get("/uapi/phoneCalls/@me/@self", headers=api.auth())
    assert resp.status == 200
    assert [e["id"] for e in (await resp.json())["entry"]] == ["b" * 20, "a" * 20]
    resp = await api.client.get("/uapi/phoneCalls/@me/410", headers=api.auth())
    assert [e["id"] for e in (await resp.json())["entry"]] == ["b" * 20]


async def test_the_same_linkedid_on_two_nodes_makes_two_calls(cluster: Cluster) -> None:
    """Two Asterisks may hand out the same Uniqueid: the calls keep distinct ids, and hanging
    up 410's call sends the Hangup to node2 only, with node2's channel name."""
    api, one, two = cluster
    nodes = api.services.nodes
    nodes["node1"].tracker.apply(chan("1700000000.7", "PJSIP/210-00000001"), 1000.0)
    nodes["node2"].tracker.apply(chan("1700000000.7", "PJSIP/410-00000001"), 1000.0)
    [left], [right] = nodes["node1"].tracker.calls, nodes["node2"].tracker.calls
    assert left != right
    resp = await api.client.delete("/uapi/phoneCalls/@me/410", headers=api.auth())
    assert resp.status == 200
    assert [c["id"] for c in await resp.json()] == [right]
    assert one.sent == []
    assert two.sent == [{"Action": "Hangup", "Channel": "PJSIP/410-00000001"}]


async def test_call_control_goes_to_the_node_that_holds_the_call(cluster: Cluster) -> None:
    """PUT StartRecording on a call of node2: the MixMonitor reaches node2's AMI."""
    api, one, two = cluster
    tracker = api.services.nodes["node2"].tracker
    for event in (
        chan("9.1", "PJSIP/410-00000002", caller="410"),
        chan("9.2", "PJSIP/411-00000003", linkedid="9.1", caller="411"),
    ):
        tracker.apply(event, 1000.0)
    [call_id] = tracker.calls
    call = tracker.calls[call_id]
    view = next(p.view_id for p in call.parties.values() if p.key == "0003*410")
    resp = await api.client.put(
        f"/uapi/phoneCalls/@me/410/{call_id}",
        headers=api.auth(),
        json={"action": "StartRecording", "phoneCallViewId": view},
    )
    assert resp.status in (200, 204), await resp.text()
    assert one.sent == []
    assert [(a["Action"], a["Channel"]) for a in two.sent] == [("MixMonitor", "PJSIP/410-00000002")]


async def test_one_node_down(cluster: Cluster) -> None:
    """node2 down: its extensions answer 503 pbx_unavailable naming it; node1 keeps placing
    and listing; /healthz stays 200 (degraded) unless `strict`."""
    api, one, two = cluster
    two.connected = False
    resp = await api.client.get("/uapi/phoneCalls/@me/410", headers=api.auth())
    body = await resp.json()
    assert (resp.status, body["error"]["code"]) == (503, "pbx_unavailable")
    assert "node2" in body["error"]["message"]
    status, body = await make_call(api, "410", "411")
    assert (status, body["error"]["code"]) == (503, "pbx_unavailable")
    assert "node2" in body["error"]["message"]
    assert two.sent == []
    assert (await make_call(api, "210", "024"))[0] == 202
    resp = await api.client.get("/uapi/phoneCalls/@me/210", headers=api.auth())
    assert resp.status in (200, 204)
    resp = await api.client.get("/uapi/phoneCalls/@me/@self", headers=api.auth())
    assert resp.status == 503  # @self needs node2 too
    health = await api.client.get("/healthz")
    report = await health.json()
    assert health.status == 200
    assert (report["status"], report["ami"]) == ("degraded", "partial")
    assert report["nodes"] == {
        "node1": {"ami": "connected", "reconnects": 0, "ari": "not_configured"},
        "node2": {"ami": "disconnected", "reconnects": 0, "ari": "not_configured"},
    }
    assert (await api.client.get("/healthz?strict")).status == 503
    assert (await api.client.get("/healthz?strict=false")).status == 200
    one.connected = False
    assert (await api.client.get("/healthz")).status == 503


async def test_metrics_label_the_ami_series_by_node(cluster: Cluster) -> None:
    api, one, two = cluster
    two.connected = False
    one.stats.events_received = 5
    text = await (await api.client.get("/metrics")).text()
    assert 'uapi_ami_connected{node="node1"} 1.0' in text
    assert 'uapi_ami_connected{node="node2"} 0.0' in text
    assert 'uapi_ami_events_received_total{node="node1"} 5.0' in text
