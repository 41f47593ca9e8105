"""Issue 23's routes and fields on a registration: replay, recover, secret rotation, custom
headers, maxRate, ordered, disabledReason; every code they answer."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from bridge.domain.views import iso
from bridge.store.hooks import DISABLED, Queued
from tests.api.test_phonecallevents import HOOK, URL, call
from tests.conftest import HELPDESK, Api


async def made(api: Api, **fields: Any) -> tuple[str, dict[str, Any]]:
    """A new registration of type 0: (its URL, its view with the secret)."""
    status, body = await call(api, "POST", body={**HOOK, **fields})
    assert status == 201, body
    return f"{URL}/0/{body['id']}", body


async def queued(
    api: Api,
    event_id: str,
    n: int,
    now: float,
    state: str = "failed",
) -> list[str]:
    """`n` outbox rows of the registration created 10 s apart up to now-10, in `state`."""
    outbox = api.services.outbox
    for i in range(n):
        await outbox.add(
            [Queued(event_id, f"k{i}", {"CallID": f"c{i}"}, "crm")], now - 10 * (n - i)
        )
    await api.services.db.execute(
        "UPDATE outbox SET state = ? WHERE event_id = ?", (state, event_id)
    )
    rows = await api.services.db.fetchall(
        "SELECT id FROM outbox WHERE event_id = ? ORDER BY created_at", (event_id,)
    )
    return [r[0] for r in rows]


async def states(api: Api, event_id: str) -> list[tuple[str, int]]:
    rows = await api.services.db.fetchall(
        "SELECT state, attempts FROM outbox WHERE event_id = ? ORDER BY created_at", (event_id,)
    )
    return [(r[0], r[1]) for r in rows]


# -- replay ------------------------------------------------------------------------------------


async def test_replay_queues_one_delivery_again_with_its_id(api: Api) -> None:
    """202 {"deliveryId"}: that row is pending again, attempts from 0; the others untouched."""
    url, body = await made(api)
    ids = await queued(api, body["id"], 2, time.time(), state="delivered")
    await api.services.db.execute("UPDATE outbox SET attempts = 3")
    status, answer = await call(api, "POST", f"{url}/deliveries/{ids[0]}/replay")
    assert (status, answer) == (202, {"deliveryId": ids[0]})
    assert await states(api, body["id"]) == [("pending", 0), ("delivered", 3)]


async def test_replay_of_an_unknown_or_anothers_delivery_is_pce_delivery_invalid(api: Api) -> None:
    """An id that does not exist, or one of another registration: 400 pce_delivery_invalid."""
    url, _ = await made(api)
    _, other = await made(api)
    foreign = await queued(api, other["id"], 1, time.time())
    for delivery_id in ("nope", foreign[0]):
        status, answer = await call(api, "POST", f"{url}/deliveries/{delivery_id}/replay")
        assert (status, answer["error"]["code"]) == (400, "pce_delivery_invalid")
    assert await states(api, other["id"]) == [("failed", 0)]


# -- recover -----------------------------------------------------------------------------------


async def test_recover_queues_what_was_not_delivered_in_the_window(api: Api) -> None:
    """failed and skipped rows of [since, until) go back to pending, oldest due first;
    delivered ones and those outside the window stay."""
    url, body = await made(api)
    now = time.time()
    ids = await queued(api, body["id"], 4, now)
    db = api.services.db
    await db.execute("UPDATE outbox SET state = 'delivered' WHERE id = ?", (ids[1],))
    await db.execute("UPDATE outbox SET state = 'skipped' WHERE id = ?", (ids[2],))
    status, answer = await call(
        api, "POST", f"{url}/recover", {"since": iso(now - 45), "until": iso(now - 15)}
    )
    assert (status, answer) == (202, {"queued": 2})
    assert [s for s, _ in await states(api, body["id"])] == [
        "pending",
        "delivered",
        "pending",
        "failed",
    ]
    rows = await db.fetchall("SELECT id FROM outbox WHERE state = 'pending' ORDER BY next_at")
    assert [r[0] for r in rows] == [ids[0], ids[2]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "pce_since_invalid"),
        ({"since": "yesterday"}, "pce_since_invalid"),
        ({"since": 12}, "pce_since_invalid"),
        ({"since": iso(time.time() - 8 * 86400)}, "pce_since_invalid"),  # beyond retention (7d)
        ({"since": iso(time.time() + 3600)}, "pce_since_invalid"),
        ({"since": iso(time.time() - 60), "until": "soon"}, "pce_until_invalid"),
        ({"since": iso(time.time() - 60), "until": iso(time.time() - 120)}, "pce_until_invalid"),
        ([], "pce_since_invalid"),
    ],
)
async def test_recover_refuses_a_bad_window(api: Api, body: Any, code: str) -> None:
    """since missing, unreadable, older than webhooks.retention or ahead; until before since."""
    url, _ = await made(api)
    status, answer = await call(api, "POST", f"{url}/recover", body)
    assert (status, answer["error"]["code"]) == (400, code), answer


# -- secret rotation ---------------------------------------------------------------------------


async def test_rotate_keeps_the_old_secret_for_the_overlap(api: Api) -> None:
    """200 {secret, previousExpires}; GET secret shows both; the dispatcher signs with both."""
    url, body = await made(api)
    status, answer = await call(api, "POST", f"{url}/secret/rotate", {"overlap": 3600})
    assert status == 200
    assert answer["secret"].startswith("whsec_")
    assert answer["secret"] != body["secret"]
    status, shown = await call(api, "GET", f"{url}/secret")
    assert shown == {
        "secret": answer["secret"],
        "previous": body["secret"],
        "previousExpires": answer["previousExpires"],
    }
    reg = api.services.registrations.by_id[body["id"]]
    assert reg.signing_secrets(time.time()) == [answer["secret"], body["secret"]]
    assert reg.signing_secrets(time.time() + 3601) == [answer["secret"]]


async def test_rotate_defaults_to_webhooks_rotation_overlap_and_0_stops_at_once(api: Api) -> None:
    """No body: the config's overlap (86400); overlap 0: only the new secret signs."""
    url, body = await made(api)
    before = time.time()
    await call(api, "POST", f"{url}/secret/rotate")
    reg = api.services.registrations.by_id[body["id"]]
    assert 86400 - 2 <= reg.previous_expires - before <= 86400 + 2
    _, again = await call(api, "POST", f"{url}/secret/rotate", {"overlap": 0})
    assert (await call(api, "GET", f"{url}/secret"))[1] == {"secret": again["secret"]}
    assert api.services.registrations.by_id[body["id"]].signing_secrets(time.time()) == [
        again["secret"]
    ]


@pytest.mark.parametrize("overlap", [-1, 7 * 86400 + 1, "3600", True, None, [1]])
async def test_rotate_refuses_an_overlap_out_of_range(api: Api, overlap: Any) -> None:
    """Negative, over 7 days, or not a number: 400 pce_overlap_invalid; the secret stays."""
    url, body = await made(api)
    raw = {"overlap": overlap} if overlap is not None else ["not", "an", "object"]
    status, answer = await call(api, "POST", f"{url}/secret/rotate", raw)
    assert (status, answer["error"]["code"]) == (400, "pce_overlap_invalid")
    assert (await call(api, "GET", f"{url}/secret"))[1] == {"secret": body["secret"]}


async def test_a_rotation_survives_a_restart(api: Api, make_api: Any) -> None:
    """Both secrets and the overlap are stored: a new bridge signs with both."""
    url, body = await made(api)
    _, answer = await call(api, "POST", f"{url}/secret/rotate", {"overlap": 600})
    again: Api = await make_api()
    await again.services.registrations.load()
    reg = again.services.registrations.by_id[body["id"]]
    assert reg.signing_secrets(time.time()) == [answer["secret"], body["secret"]]


# -- custom headers, maxRate, ordered ----------------------------------------------------------


async def test_headers_are_stored_and_only_their_names_shown(api: Api) -> None:
    """Create with headers: List and GET show the names, never the values; logs neither."""
    with capture_logs() as logs:
        url, body = await made(
            api,
            headers={"Authorization": "Bearer abc123", "X-Tenant": "t-9"},
            maxRate=2.5,
            ordered=True,
        )
    assert body["headers"] == ["Authorization", "X-Tenant"]
    assert (body["maxRate"], body["ordered"]) == (2.5, True)
    _, listed = await call(api, "GET", URL)
    _, one = await call(api, "GET", url)
    for view in (listed["entry"][0], one["entry"][0], body):
        assert "Bearer abc123" not in str(view)
        assert "t-9" not in str(view)
    assert "Bearer abc123" not in str(logs)
    reg = api.services.registrations.by_id[body["id"]]
    assert dict(reg.headers) == {"Authorization": "Bearer abc123", "X-Tenant": "t-9"}


async def test_put_changes_and_removes_headers(api: Api) -> None:
    """PUT headers replaces them; null removes them; maxRate 0 removes the limit."""
    url, body = await made(api, headers={"Authorization": "Bearer a"}, maxRate=1)
    status, view = await call(
        api, "PUT", url, {"headers": {"X-Key": "k"}, "maxRate": 0, "ordered": "true"}
    )
    assert status == 200
    assert (view["headers"], "maxRate" in view, view["ordered"]) == (["X-Key"], False, True)
    _, view = await call(api, "PUT", url, {"headers": None})
    assert "headers" not in view
    assert api.services.registrations.by_id[body["id"]].headers == ()


@pytest.mark.parametrize(
    "headers",
    [
        {f"X-{i}": "v" for i in range(11)},
        {"Bad Name": "v"},
        {"X-A": "v\r\nX-Injected: 1"},
        {"X-A": "v\n"},
        {"X-A": "é"},
        {"X-A": "v" * 1025},
        {"X-A": 5},
        {"": "v"},
        {"X-A": "a", "x-a": "b"},
        {"Host": "evil"},
        {"Content-Type": "text/plain"},
        {"content-length": "1"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"Keep-Alive": "1"},
        {"Upgrade": "h2c"},
        {"TE": "trailers"},
        {"webhook-id": "x"},
        {"Webhook-Signature": "x"},
        ["Authorization", "x"],
        "Authorization: x",
    ],
)
async def test_bad_headers_are_pce_headers_invalid(api: Api, headers: Any) -> None:
    """Too many, not tokens, CR/LF or non-ASCII values, too long, the bridge's own and the
    hop-by-hop names: 400 pce_headers_invalid, on create and on PUT."""
    status, answer = await call(api, "POST", body={**HOOK, "headers": headers})
    assert (status, answer["error"]["code"]) == (400, "pce_headers_invalid"), headers
    url, _ = await made(api)
    status, answer = await call(api, "PUT", url, {"headers": headers})
    assert (status, answer["error"]["code"]) == (400, "pce_headers_invalid"), headers


async def test_a_1024_byte_value_and_ten_headers_are_accepted(api: Api) -> None:
    """The limits themselves pass."""
    headers = {f"X-{i}": "v" * 1024 for i in range(10)}
    status, _ = await call(api, "POST", body={**HOOK, "headers": headers})
    assert status == 201


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("maxRate", -1, "pce_maxrate_invalid"),
        ("maxRate", "fast", "pce_maxrate_invalid"),
        ("maxRate", True, "pce_maxrate_invalid"),
        ("maxRate", 1e9, "pce_maxrate_invalid"),
        ("ordered", "yes", "pce_ordered_invalid"),
        ("ordered", [True], "pce_ordered_invalid"),
    ],
)
async def test_bad_max_rate_and_ordered(api: Api, field: str, value: Any, code: str) -> None:
    """maxRate a number 0..10000, ordered a boolean."""
    status, answer = await call(api, "POST", body={**HOOK, field: value})
    assert (status, answer["error"]["code"]) == (400, code)


# -- disabledReason ----------------------------------------------------------------------------


async def test_enabling_again_clears_disabled_reason_and_restarts_health(api: Api) -> None:
    """A registration the bridge disabled shows status 1 and disabledReason; PUT status 0
    enables it, removes the reason and counts failures from now on."""
    url, body = await made(api)
    regs = api.services.registrations
    assert await regs.disable(body["id"], iso(time.time()), "failing since X")
    _, view = await call(api, "GET", url)
    assert (view["entry"][0]["status"], view["entry"][0]["disabledReason"]) == (
        "1",
        "failing since X",
    )
    before = time.time()
    status, view = await call(api, "PUT", url, {"status": "0"})
    assert (status, view["status"], "disabledReason" in view) == (200, "0", False)
    assert regs.by_id[body["id"]].health_from >= before
    assert regs.by_id[body["id"]].disabled_reason == ""


async def test_only_a_bridge_disabled_registration_keeps_skipped_events(api: Api) -> None:
    """listening(): enabled ones and those with a disabledReason; one the user disabled is
    not (PUT status 1 also drops a reason)."""
    _, body = await made(api)
    regs = api.services.registrations
    reg = regs.by_id[body["id"]]
    await regs.save(dataclasses.replace(reg, status=DISABLED, disabled_reason="gone"))
    assert [r.id for r in regs.listening("0003*210", 0)] == [body["id"]]
    assert regs.enabled("0003*210", 0) == []
    await call(api, "PUT", f"{URL}/0/{body['id']}", {"status": 1})
    assert regs.listening("0003*210", 0) == []


async def test_new_routes_are_the_apps_own(api: Api) -> None:
    """Another app (same organization) cannot replay, recover or rotate a registration it did
    not make: pce_id_invalid, as for GET."""
    url, body = await made(api)
    ids = await queued(api, body["id"], 1, time.time())
    for path, payload in (
        (f"{url}/deliveries/{ids[0]}/replay", None),
        (f"{url}/recover", {"since": iso(time.time() - 60)}),
        (f"{url}/secret/rotate", {}),
    ):
        status, answer = await call(
            api, "POST", path.replace("@me", "@owner"), payload, token=HELPDESK
        )
        assert status == 400, (path, answer)
        assert answer["error"]["code"] == "pce_id_invalid", (path, answer)
    assert await states(api, body["id"]) == [("failed", 0)]
