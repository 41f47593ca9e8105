"""Auth: bearer header or accessRequestToken, OAuth client credentials, expiry, whose user."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from tests.conftest import ADMIN, CRM, HELPDESK, Api

LIST = "/uapi/extensions/@me"


async def assert_invalid_token(resp: Any) -> None:
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert (await resp.json())["error"]["code"] == "access_denied"


async def test_no_token(api: Api) -> None:
    """No token at all: 401 access_denied with a WWW-Authenticate header."""
    await assert_invalid_token(await api.client.get(LIST))


async def test_wrong_token(api: Api) -> None:
    """An unknown token: 401 access_denied."""
    await assert_invalid_token(await api.client.get(LIST, headers=api.auth("not-a-token-xxxxxx")))


async def test_wrong_scheme(api: Api) -> None:
    """A Basic header is not a bearer token."""
    resp = await api.client.get(LIST, headers={"Authorization": f"Basic {CRM}"})
    await assert_invalid_token(resp)


async def test_header_and_query_token(api: Api) -> None:
    """The token works as a Bearer header and as accessRequestToken (with or without Bearer)."""
    assert (await api.client.get(LIST, headers=api.auth())).status == 200
    assert (await api.client.get(LIST, params={"accessRequestToken": CRM})).status == 200
    resp = await api.client.get(LIST, params={"accessRequestToken": f"Bearer {CRM}"})
    assert resp.status == 200


@pytest.mark.parametrize("query", [f"Bearer%20{CRM}", f"Bearer+{CRM}", f"bearer%20{CRM}"])
async def test_bearer_word_in_the_query_token(api: Api, query: str) -> None:
    """`accessRequestToken=Bearer%20<token>` (as VoipNow's auth page writes it) authenticates."""
    resp = await api.client.get(f"{LIST}/?accessRequestToken={query}")
    assert resp.status == 200
    resp = await api.client.get(f"{LIST}?accessRequestToken=Bearer%20not-a-token-xxxxxx")
    await assert_invalid_token(resp)


@pytest.mark.parametrize(
    "query", ["accessRequestToken=", "accessRequestToken=Bearer%20", "accessRequestToken=%20"]
)
async def test_an_empty_query_token_is_a_missing_token(api: Api, query: str) -> None:
    """An empty accessRequestToken is no token (401), never a parameter left out; with a
    Bearer header the header is the token (docs/api.md, "Numbers and empty parameters")."""
    await assert_invalid_token(await api.client.get(f"{LIST}?{query}"))
    resp = await api.client.get(f"{LIST}?{query}", headers=api.auth())
    assert resp.status == 200


async def test_unifiedapi_alias(api: Api) -> None:
    """/unifiedapi/ serves the same routes with the same auth."""
    resp = await api.client.get("/unifiedapi/extensions/@me", headers=api.auth())
    assert resp.status == 200
    body = await resp.json()
    assert body["entry"][0]["links"]["self"].split("/")[3] == "unifiedapi"
    await assert_invalid_token(await api.client.get("/unifiedapi/extensions/@me"))


async def oauth(api: Api, **form: str) -> Any:
    return await api.client.post("/oauth/token.php", data=form)


async def test_client_credentials_token_works_then_expires(api: Api) -> None:
    """POST /oauth/token.php issues a token that works until expires_in has passed."""
    resp = await oauth(
        api,
        grant_type="client_credentials",
        client_id="crm-demo",
        client_secret="crm-demo-secret-0123456789",
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert (await api.client.get(LIST, headers=api.auth(token))).status == 200
    api.clock.now += 3599
    assert (await api.client.get(LIST, headers=api.auth(token))).status == 200
    api.clock.now += 2
    await assert_invalid_token(await api.client.get(LIST, headers=api.auth(token)))


async def test_issued_token_survives_restart(make_api: Any) -> None:
    """A token issued before a restart still works after it (it is stored in SQLite)."""
    first: Api = await make_api()
    resp = await oauth(
        first,
        grant_type="client_credentials",
        client_id="crm-demo",
        client_secret="crm-demo-secret-0123456789",
    )
    token = (await resp.json())["access_token"]
    second: Api = await make_api()
    assert (await second.client.get(LIST, headers=second.auth(token))).status == 200


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "crm-demo", "client_secret": "nope"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "who", "client_secret": "x"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "password", "client_id": "crm-demo", "client_secret": "x"},
            400,
            "unsupported_grant_type",
        ),
    ],
)
async def test_client_credentials_failures(
    api: Api, form: dict[str, str], status: int, code: str
) -> None:
    """Wrong secret, unknown client and other grants are refused in RFC 6749's shape."""
    resp = await oauth(api, **form)
    assert resp.status == status
    assert (await resp.json())["error"] == code


async def test_client_credentials_basic_auth(api: Api) -> None:
    """Client credentials may come in an HTTP Basic header too."""
    basic = base64.b64encode(b"crm-demo:crm-demo-secret-0123456789").decode()
    resp = await api.client.post(
        "/oauth/token.php",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert resp.status == 200


async def test_token_of_another_user(api: Api) -> None:
    """A user app may not act for another user: 400 user error, not the other user's data."""
    resp = await api.client.get("/uapi/extensions/13", headers=api.auth(CRM))
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "user_invalid"


async def test_organization_app_scope(api: Api) -> None:
    """An organization app names users of its organization, not others, and not @me."""
    ok = await api.client.get("/uapi/extensions/13", headers=api.auth(HELPDESK))
    assert ok.status == 200
    assert [e["extension"] for e in (await ok.json())["entry"]] == [
        "0003*024",
        "0003*025",
        "0003*027",
    ]
    other = await api.client.get("/uapi/extensions/30", headers=api.auth(HELPDESK))
    assert other.status == 400
    me = await api.client.get("/uapi/extensions/@me", headers=api.auth(HELPDESK))
    assert (await me.json())["error"]["code"] == "user_invalid"


async def test_admin_app_scope(api: Api) -> None:
    """The admin app may name any user."""
    resp = await api.client.get("/uapi/extensions/30", headers=api.auth(ADMIN))
    assert (await resp.json())["entry"][0]["extension"] == "0004*300"


async def issue_crm(api: Api) -> str:
    resp = await oauth(
        api,
        grant_type="client_credentials",
        client_id="crm-demo",
        client_secret="crm-demo-secret-0123456789",
    )
    assert resp.status == 200
    return str((await resp.json())["access_token"])


async def stored_tokens(api: Api) -> int:
    return int((await api.services.db.fetchall("SELECT COUNT(*) FROM oauth_tokens"))[0][0])


async def test_max_tokens_revokes_the_oldest_of_the_app(make_api: Any) -> None:
    """With auth.max_tokens 3, a 4th token revokes the 1st (memory and SQLite, across a
    restart); the other three keep working."""
    api: Api = await make_api()
    api.services.tokens.max_tokens = 3
    tokens = []
    for _ in range(4):
        tokens.append(await issue_crm(api))
        api.clock.now += 1
    await assert_invalid_token(await api.client.get(LIST, headers=api.auth(tokens[0])))
    for token in tokens[1:]:
        assert (await api.client.get(LIST, headers=api.auth(token))).status == 200
    assert (api.services.tokens.live("crm"), await stored_tokens(api)) == (3, 3)
    again: Api = await make_api()
    await assert_invalid_token(await again.client.get(LIST, headers=again.auth(tokens[0])))
    assert again.services.tokens.live("crm") == 3


async def test_racing_token_requests_do_not_pass_max_tokens(api: Api) -> None:
    """Ten token requests at once with max_tokens 4: four tokens are left."""
    api.services.tokens.max_tokens = 4
    await asyncio.gather(*(issue_crm(api) for _ in range(10)))
    assert (api.services.tokens.live("crm"), await stored_tokens(api)) == (4, 4)


async def test_expired_tokens_are_purged_while_running(api: Api) -> None:
    """purge(now) drops what expired by then, in memory and in SQLite, and keeps the rest."""
    await issue_crm(api)
    api.clock.now += 1800
    kept = await issue_crm(api)
    api.clock.now += 1801  # the first has expired, the second has not
    assert await api.services.tokens.purge(api.clock.now) == 1
    assert (api.services.tokens.live("crm"), await stored_tokens(api)) == (1, 1)
    assert (await api.client.get(LIST, headers=api.auth(kept))).status == 200


async def test_run_forever_purges_on_its_period(api: Api) -> None:
    """The periodic task purges expired tokens without being asked."""
    await issue_crm(api)
    task = asyncio.create_task(api.services.tokens.run_forever(every=0.01))
    try:
        await asyncio.sleep(0.05)
        assert await stored_tokens(api) == 1  # not expired yet: kept
        api.clock.now += 3601
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while await stored_tokens(api):
            assert loop.time() < deadline, "never purged"
            await asyncio.sleep(0.01)
        assert api.services.tokens.live("crm") == 0
    finally:
        task.cancel()
