"""Config reload (SIGHUP): the decision (valid or not, live keys vs restart keys) and what each
kind of change does to a running API: apps, extensions, registrations, /healthz, /metrics."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

from bridge import config as config_mod
from bridge.api.stream import HUB
from bridge.auth import TokenStore
from bridge.directory import Directory
from bridge.errors import ConfigError
from bridge.reload import Reloader, file_hash
from bridge.reload_plan import decide
from bridge.store.db import Database
from bridge.store.hooks import Registration
from bridge.webhooks.dispatcher import Dispatcher
from tests.conftest import CRM, HELPDESK, Api, shipped_config
from tests.domain.replay import load, run

CRM_OAUTH = {
    "grant_type": "client_credentials",
    "client_id": "crm-demo",
    "client_secret": "crm-demo-secret-0123456789",
}


def parse(raw: dict[str, Any]) -> config_mod.Config:
    return config_mod.parse(raw, env={})


def edited(raw: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    new = copy.deepcopy(raw)
    change(new)
    return new


def drop_extension(number: str) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw["extensions"] = [e for e in raw["extensions"] if e["number"] != number]

    return change


# -- the decision ---------------------------------------------------------------------------


def test_live_keys_apply_and_need_no_restart(raw_config: dict[str, Any]) -> None:
    """A new extension, app and webhook timeout: all live, nothing to restart."""

    def change(raw: dict[str, Any]) -> None:
        raw["extensions"].append({"number": "0003*211", "user": "13", "channel": "PJSIP/211"})
        raw["apps"].append({"name": "new", "admin": True, "token": "new-app-token-0123456789"})
        raw["webhooks"]["timeout"] = 3
        raw["auth"] = {"token_ttl": 60}

    old, new = parse(raw_config), parse(edited(raw_config, change))
    plan = decide(old, new)
    assert plan.restart_needed == ()
    assert plan.extensions_added == ("0003*211",)
    assert plan.extensions_removed == ()
    assert plan.apps_revoked == ()
    assert plan.config.extensions == new.extensions
    assert plan.config.apps == new.apps
    assert plan.config.webhooks.timeout == 3
    assert plan.config.auth.token_ttl == 60


def test_restart_keys_are_named_and_keep_their_running_values(raw_config: dict[str, Any]) -> None:
    """http, ami, storage, stream and webhooks.allow_networks: named, old values kept; the
    live keys of the same file still apply."""

    def change(raw: dict[str, Any]) -> None:
        raw["http"]["port"] = 9999
        raw["ami"]["host"] = "10.0.0.9"
        raw["ami"]["secret"] = "another-secret"
        raw["storage"]["path"] = "/elsewhere.sqlite3"
        raw["webhooks"]["allow_networks"] = ["10.0.0.0/8"]
        raw["webhooks"]["per_receiver"] = 9
        raw["stream"] = {"heartbeat": 5}
        drop_extension("0003*027")(raw)

    old = parse(raw_config)
    plan = decide(old, parse(edited(raw_config, change)))
    assert plan.restart_needed == (
        "ami.host",
        "ami.secret",
        "http.port",
        "storage.path",
        "stream.heartbeat",
        "webhooks.allow_networks",
    )
    assert (plan.config.http, plan.config.nodes, plan.config.storage, plan.config.stream) == (
        old.http,
        old.nodes,
        old.storage,
        old.stream,
    )
    assert plan.config.webhooks.allow_networks == old.webhooks.allow_networks
    assert plan.config.webhooks.per_receiver == 9
    assert plan.extensions_removed == ("0003*027",)


def test_several_nodes_are_named_by_index(tmp_path: Path) -> None:
    """`ami:` as a list: a changed node address is `ami[1].port`; an extension on a node the
    bridge does not run is a problem (a new node needs a restart)."""
    raw = shipped_config(tmp_path, "demo-cluster.yaml")
    moved = edited(raw, lambda r: r["ami"][1].update(port=1234))
    assert decide(parse(raw), parse(moved)).restart_needed == ("ami[1].port",)

    def new_node(r: dict[str, Any]) -> None:
        r["ami"].append({**r["ami"][1], "name": "node3", "trunks": {}})
        r["extensions"][0]["node"] = "node3"

    with pytest.raises(ConfigError) as err:
        decide(parse(raw), parse(edited(raw, new_node)))
    assert err.value.problems == [
        "extensions[0].node: node 'node3' is not running (a new node needs a restart)"
    ]


def test_apps_revoked_when_removed_or_credentials_change(raw_config: dict[str, Any]) -> None:
    """Removed, new token, new client secret: revoked; empty_as_200 changed: kept."""

    def change(raw: dict[str, Any]) -> None:
        apps = {a["name"]: a for a in raw["apps"]}
        apps["helpdesk"]["token"] = "helpdesk-new-token-0123456789"
        apps["crm"]["client_secret"] = "crm-new-secret-0123456789"
        apps["mcp"]["empty_as_200"] = False
        raw["apps"] = [a for a in raw["apps"] if a["name"] != "admin"]

    plan = decide(parse(raw_config), parse(edited(raw_config, change)))
    assert sorted(plan.apps_revoked) == ["admin", "crm", "helpdesk"]


# -- applying it to a running API -------------------------------------------------------------


class Reloading:
    """The API of the tests, with the file it was loaded from and a Reloader on it."""

    def __init__(self, api: Api, path: Path, raw: dict[str, Any]) -> None:
        self.api, self.path, self.raw = api, path, raw
        svc = api.services
        self.dispatcher = Dispatcher(svc.config.webhooks, svc.registrations, svc.outbox)
        directory = svc.directory
        self.dispatcher.fires = lambda reg: (
            reg.extension in directory.extensions and reg.app in directory.apps
        )
        self.reloader = Reloader(path, svc, self.dispatcher, api.app[HUB])
        self.reloader.started()

    async def reload(
        self, change: Callable[[dict[str, Any]], None] | None = None, text: str | None = None
    ) -> bool:
        """Writes the file (the last good one with `change`, or `text`) and reloads."""
        new = None
        if text is None:
            assert change is not None
            new = edited(self.raw, change)
            text = yaml.safe_dump(new)
        self.path.write_text(text)
        done = await self.reloader.reload()
        if done and new is not None:
            self.raw = new
        return done

    async def status(self, url: str, token: str = CRM) -> int:
        resp = await self.api.client.get(url, headers=self.api.auth(token))
        return resp.status


@pytest.fixture
async def reloading(
    make_api: Callable[..., Any], raw_config: dict[str, Any], tmp_path: Path
) -> Reloading:
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    api: Api = await make_api(config_mod.load(path, env={}))
    return Reloading(api, path, raw_config)


async def test_a_broken_file_changes_nothing(reloading: Reloading) -> None:
    """Two problems: both logged and in /healthz (still 200), the old directory serves, the
    failure is counted; a good reload then clears them."""
    before = reloading.api.services.config_state.shown()

    def broken(raw: dict[str, Any]) -> None:
        raw["extensions"][0]["user"] = "99"
        raw["apps"][0]["token"] = "short"
        drop_extension("0003*024")(raw)

    with capture_logs() as logs:
        assert not await reloading.reload(broken)
    [failed] = [e for e in logs if e["event"] == "config.reload.failed"]
    assert failed["problems"] == [
        "extensions[0].user: unknown user '99'",
        "apps[0].token: must be at least 16 characters",
    ]
    assert await reloading.status("/uapi/phoneCalls/13/024", HELPDESK) == 204  # still known
    assert await reloading.status("/uapi/extensions/@me") == 200  # the old token works
    resp = await reloading.api.client.get("/healthz")
    assert resp.status == 200
    shown = (await resp.json())["config"]
    assert shown == {**before, "last_reload": "failed", "problems": failed["problems"]}
    assert await reloading.reload(drop_extension("0003*024"))
    shown = (await (await reloading.api.client.get("/healthz")).json())["config"]
    assert (shown["last_reload"], shown["problems"]) == ("ok", [])
    assert shown["hash"] == file_hash(reloading.path) != before["hash"]
    metrics = (await (await reloading.api.client.get("/metrics")).text()).splitlines()
    assert 'uapi_config_reloads_total{result="failed"} 1.0' in metrics
    assert 'uapi_config_reloads_total{result="ok"} 1.0' in metrics


async def test_not_yaml_is_a_failed_reload(reloading: Reloading) -> None:
    """A file that is not YAML: failed, one problem naming the file."""
    assert not await reloading.reload(text="extensions: [\n")
    [problem] = reloading.api.services.config_state.problems
    assert "not valid YAML" in problem


async def test_a_removed_app_is_refused_at_once(reloading: Reloading) -> None:
    """The helpdesk app removed: its static token answers 401 on the next request."""
    assert await reloading.status("/uapi/extensions/13", HELPDESK) == 200
    assert await reloading.reload(
        lambda r: r.update(apps=[a for a in r["apps"] if a["name"] != "helpdesk"])
    )
    assert await reloading.status("/uapi/extensions/13", HELPDESK) == 401
    assert await reloading.status("/uapi/extensions/@me") == 200  # another app: untouched


async def test_a_changed_token_refuses_the_old_one_and_issued_ones(reloading: Reloading) -> None:
    """crm's token changed: the old static token and the OAuth token it was issued are
    refused (and gone from the store); the new token and new OAuth tokens work."""
    api = reloading.api
    issued = await (await api.client.post("/oauth/token.php", data=CRM_OAUTH)).json()
    oauth = issued["access_token"]
    assert await reloading.status("/uapi/extensions/@me", oauth) == 200
    new = "crm-new-token-0123456789"
    assert await reloading.reload(lambda r: r["apps"][0].update(token=new))
    assert await reloading.status("/uapi/extensions/@me", CRM) == 401
    assert await reloading.status("/uapi/extensions/@me", oauth) == 401
    assert await api.services.db.fetchall("SELECT app FROM oauth_tokens") == []
    assert await reloading.status("/uapi/extensions/@me", new) == 200
    again = await (await api.client.post("/oauth/token.php", data=CRM_OAUTH)).json()
    assert await reloading.status("/uapi/extensions/@me", again["access_token"]) == 200


async def test_app_settings_apply_without_revoking(reloading: Reloading) -> None:
    """empty_as_200 turned on for crm: its empty List answers 200 now; its OAuth token
    still works (its credentials did not change)."""
    api = reloading.api
    oauth = await (await api.client.post("/oauth/token.php", data=CRM_OAUTH)).json()
    assert await reloading.status("/uapi/phoneCalls/@me/210") == 204
    assert await reloading.reload(lambda r: r["apps"][0].update(empty_as_200=True))
    assert await reloading.status("/uapi/phoneCalls/@me/210") == 200
    assert await reloading.status("/uapi/extensions/@me", oauth["access_token"]) == 200


async def test_a_removed_extension_answers_as_unknown(reloading: Reloading) -> None:
    """0003*026 removed: List and registrations on it answer 400 extension_invalid as for an
    unknown one; put back, it works again."""
    assert await reloading.status("/uapi/phoneCalls/@me/026") == 204
    assert await reloading.reload(drop_extension("0003*026"))
    resp = await reloading.api.client.get("/uapi/phoneCalls/@me/026", headers=reloading.api.auth())
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "extension_invalid"
    assert await reloading.status("/uapi/extensions/@me/026/phoneCallEvents") == 400
    assert await reloading.reload(
        lambda r: r["extensions"].append(
            {"number": "0003*026", "user": "12", "channel": "PJSIP/026"}
        )
    )
    assert await reloading.status("/uapi/phoneCalls/@me/026") == 204


async def test_an_added_extension_is_usable_at_once(reloading: Reloading) -> None:
    """0003*211 added for user 13: listed among its extensions, List answers, a call placed
    from it reaches the PBX, presence shows it."""
    api = reloading.api
    assert await reloading.status("/uapi/phoneCalls/13/211", HELPDESK) == 400
    assert await reloading.reload(
        lambda r: r["extensions"].append(
            {"number": "0003*211", "user": "13", "channel": "PJSIP/211"}
        )
    )
    listed = await (await api.client.get("/uapi/extensions/13", headers=api.auth(HELPDESK))).json()
    assert "0003*211" in [e["extension"] for e in listed["entry"]]
    assert await reloading.status("/uapi/phoneCalls/13/211", HELPDESK) == 204
    assert await reloading.status("/uapi/extensions/13/211/presence", HELPDESK) == 200
    body = {"phoneCallView": [{"source": ["211"], "destination": ["5551234"]}]}
    resp = await api.client.post(
        "/uapi/phoneCalls/13/simple", json=body, headers=api.auth(HELPDESK)
    )
    assert resp.status == 202, await resp.text()
    [originate] = [a for a in api.fake.sent if a.get("Action") == "Originate"]
    assert "UAPI_SOURCES=PJSIP/211" in originate["Variable"]


async def test_registrations_of_a_removed_extension_stay_but_do_not_fire(
    reloading: Reloading,
) -> None:
    """A registration on 0003*210: a call fires it; with 210 removed it stays stored and a
    call fires nothing; 210 back, it fires again. Same for a removed app's registration."""
    regs = reloading.api.services.registrations
    await regs.save(
        Registration(
            "r1",
            "crm",
            "0003*210",
            2,
            1,
            "http://127.0.0.1:9/h",
            "",
            0,
            "2027-01-15T08:00:00Z",
            "whsec_" + "QUFB" * 8,
        )
    )
    _, effects = run(load("two_party"))
    hooks = reloading.dispatcher

    def fired() -> int:
        before = hooks._fired.qsize()
        hooks.sink(effects)
        return hooks._fired.qsize() - before

    assert fired() == 1
    assert await reloading.reload(drop_extension("0003*210"))
    assert "r1" in regs.by_id
    assert fired() == 0
    assert await reloading.reload(
        lambda r: r["extensions"].append(
            {"number": "0003*210", "user": "12", "channel": "PJSIP/210"}
        )
    )
    assert fired() == 1
    assert await reloading.reload(
        lambda r: r.update(apps=[a for a in r["apps"] if a["name"] != "crm"])
    )
    assert fired() == 0


async def test_restart_keys_are_logged_and_the_rest_applies(reloading: Reloading) -> None:
    """http.port changed with a new extension: `config.reload.restart_needed` names the key,
    the extension works, the port the server uses is the running one."""

    def change(raw: dict[str, Any]) -> None:
        raw["http"]["port"] = 1
        raw["extensions"].append({"number": "0003*211", "user": "13", "channel": "PJSIP/211"})

    with capture_logs() as logs:
        assert await reloading.reload(change)
    [needed] = [e for e in logs if e["event"] == "config.reload.restart_needed"]
    assert needed["keys"] == ["http.port"]
    assert reloading.api.services.config.http.port != 1
    assert await reloading.status("/uapi/phoneCalls/13/211", HELPDESK) == 204


def test_the_directory_keeps_owners_of_what_a_reload_removed(raw_config: dict[str, Any]) -> None:
    """User 13 and its extensions removed: the extension is unknown and the user refused,
    but a request that resolved 024 before the reload still finds its owner (no KeyError)."""
    directory = Directory(parse(raw_config))
    ext = directory.extensions["0003*024"]
    helpdesk = directory.apps["helpdesk"]

    def drop_user(raw: dict[str, Any]) -> None:
        raw["users"] = [u for u in raw["users"] if u["id"] != "13"]
        raw["extensions"] = [e for e in raw["extensions"] if e["user"] != "13"]

    directory.load(parse(edited(raw_config, drop_user)))
    assert directory.find_extension("0003*024", None) is None
    with pytest.raises(Exception, match="Unknown user id"):
        directory.resolve_user(helpdesk, "13", "user_invalid")
    assert directory.owner(ext).name == "Jane Roe"
    assert directory.organization_of_user(directory.owner(ext)).id == "3"


async def test_revoking_an_apps_tokens_on_each_store(
    db: Database, config: config_mod.Config
) -> None:
    """revoke_apps on SQLite and PostgreSQL: the app's issued tokens stop working and leave
    the store; another app's stay."""
    tokens = TokenStore(Directory(config), db, 3600)
    crm, helpdesk = tokens.directory.apps["crm"], tokens.directory.apps["helpdesk"]
    mine, theirs = await tokens.issue(crm), await tokens.issue(helpdesk)
    assert await tokens.revoke_apps(["crm"]) == 1
    assert tokens.app_for(mine.access_token) is None
    assert await tokens.find_app(mine.access_token) is None
    assert tokens.app_for(theirs.access_token) == helpdesk
    assert await db.fetchall("SELECT app FROM oauth_tokens") == [("helpdesk",)]


async def test_limits_apply_at_once_keeping_the_buckets(reloading: Reloading) -> None:
    """#21: crm's limits lowered by a reload apply to the next request, its bucket kept (what
    it used stays used, at most the new burst left); `limits` needs no restart."""
    api = reloading.api
    for _ in range(3):
        assert await reloading.status("/uapi/phoneCalls/@me/210") == 204
    with capture_logs() as logs:
        assert await reloading.reload(
            lambda r: r["apps"][0].update(limits={"requests": {"rate": 0.001, "burst": 4}})
        )
    assert not [e for e in logs if e["event"] == "config.reload.restart_needed"]
    for _ in range(4):
        assert await reloading.status("/uapi/phoneCalls/@me/210") == 204
    resp = await api.client.get("/uapi/phoneCalls/@me/210", headers=api.auth())
    assert resp.status == 429
    assert resp.headers["RateLimit-Policy"].startswith('"requests";q=4;')
    assert await reloading.status("/uapi/phoneCalls/@owner/210", HELPDESK) == 204  # untouched
    assert await reloading.reload(lambda r: r["limits"].update(calls={"rate": 1, "burst": 2}))
    assert api.services.limiter.policy("helpdesk").calls.burst == 2
    assert await reloading.status("/uapi/phoneCalls/@me/210") == 429  # crm's override stays


async def test_max_calls_applies_at_once(reloading: Reloading) -> None:
    """#21: organization 3 given max_calls 1 by a reload: its second live call is 409."""
    api = reloading.api
    body = {"phoneCallView": [{"source": ["210"], "destination": ["5551234"]}]}

    async def place() -> int:
        resp = await api.client.post("/uapi/phoneCalls/@me/simple", json=body, headers=api.auth())
        return resp.status

    assert await place() == 202
    assert await reloading.reload(lambda r: r["organizations"][0].update(max_calls=1))
    assert await place() == 409
