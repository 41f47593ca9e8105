"""/healthz follows the AMI link; /metrics speaks Prometheus text."""

from __future__ import annotations

import time

from tests.api.test_calllist import live
from tests.conftest import Api


async def test_healthz_connected_and_not(api: Api) -> None:
    """200 with ami=connected while logged in; 503 with ami=disconnected otherwise."""
    resp = await api.client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert (body["status"], body["ami"]) == ("ok", "connected")
    api.ami.connected = False
    resp = await api.client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["ami"] == "disconnected"


async def test_metrics(api: Api) -> None:
    """Metrics show the AMI link and count requests by route and status."""
    api.ami.reconnects = 3
    api.ami.events_received = 42
    await api.client.get("/uapi/extensions/@me", headers=api.auth())
    await api.client.get("/uapi/extensions/@me")
    resp = await api.client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'uapi_ami_connected{node="default"} 1.0' in text
    assert 'uapi_ami_reconnects_total{node="default"} 3.0' in text
    assert 'uapi_ami_events_received_total{node="default"} 42.0' in text
    assert (
        'uapi_http_requests_total{method="GET",route="/uapi/extensions/{userId}",status="200"} 1.0'
    ) in text
    assert 'route="/uapi/extensions/{userId}",status="401"} 1.0' in text
    assert "uapi_http_request_duration_seconds_bucket" in text


async def test_healthz_reports_each_part(api: Api) -> None:
    """The store, the webhook backlog (due count, age of the oldest) and the supervised
    tasks are reported; a broken store or a failed task makes it 503."""
    now = time.time()
    await api.services.outbox.add(
        [("ev1", "k1", {"CallID": "c1"}), ("ev1", "k2", {"CallID": "c2"})], now - 30
    )
    resp = await api.client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200
    assert body["store"] == "ok"
    assert body["webhooks"]["due"] == 2
    assert 29 <= body["webhooks"]["oldest_due_age_s"] < 60
    api.services.tasks = lambda: {"webhooks-dispatch": "running", "ami-link": "failed"}
    resp = await api.client.get("/healthz")
    assert (resp.status, (await resp.json())["tasks"]["ami-link"]) == (503, "failed")
    api.services.tasks = dict
    await api.services.db.close()
    resp = await api.client.get("/healthz")
    assert (resp.status, (await resp.json())["store"]) == (503, "unavailable")


async def test_metrics_count_the_live_calls_of_each_node(api: Api) -> None:
    """uapi_calls_live{node} is the number of calls the node's tracker follows."""
    before = await (await api.client.get("/metrics")).text()
    assert 'uapi_calls_live{node="default"} 0.0' in before
    live(api, "two_party")
    after = await (await api.client.get("/metrics")).text()
    assert 'uapi_calls_live{node="default"} 1.0' in after
