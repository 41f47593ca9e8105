"""Config parsing: defaults, ${VAR} expansion, and every problem reported with its dotted path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import config as config_mod
from bridge.errors import ConfigError

from .conftest import ROOT


def problems(raw: Any, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_mod.parse(raw, env=env or {})
    return info.value.problems


def test_demo_config_parses(config: config_mod.Config) -> None:
    """The shipped demo config is valid and has the sandbox's extensions."""
    [node] = config.nodes
    assert (node.port, node.secret) == (15038, "sandbox-secret")
    assert [e.number for e in config.extensions][:2] == ["0003*210", "0003*026"]
    assert config.extensions[0].short == "210"


def test_example_config_parses_with_env() -> None:
    """bridge.example.yaml is valid once its variables are set."""
    env = {
        "UAPI_AMI_SECRET": "s3",
        "UAPI_CRM_TOKEN": "x" * 20,
        "UAPI_CRM_SECRET": "y" * 20,
        "UAPI_CRM_WEBHOOK_SECRET": "whsec_" + "eg" * 16,
    }
    cfg = config_mod.load(ROOT / "config" / "bridge.example.yaml", env=env)
    assert cfg.nodes[0].secret == "s3"
    assert cfg.apps[0].token == "x" * 20


def test_env_default_and_missing(raw_config: dict[str, Any]) -> None:
    """${VAR:-default} falls back; a missing ${VAR} is reported once, at its path."""
    raw_config["ami"]["secret"] = "${NOPE}"
    assert problems(raw_config) == ["ami.secret: environment variable NOPE is not set"]
    raw_config["ami"]["secret"] = "${NOPE:-fallback}"
    assert config_mod.parse(raw_config, env={}).nodes[0].secret == "fallback"
    assert config_mod.parse(raw_config, env={"NOPE": "given"}).nodes[0].secret == "given"


def test_env_value_converted_to_int(raw_config: dict[str, Any]) -> None:
    """A port taken from the environment becomes an int."""
    raw_config["http"]["port"] = "${PORT}"
    assert config_mod.parse(raw_config, env={"PORT": "9090"}).http.port == 9090


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["http"].update(hots="x"), "http.hots: unknown key"),
        (lambda r: r.update(extra=1), "extra: unknown key"),
        (lambda r: r["http"].update(port=70000), "http.port: must be between 1 and 65535"),
        (lambda r: r["http"].update(port="abc"), "http.port: must be int"),
        (
            lambda r: r["extensions"][1].update(number="0003*210"),
            "extensions[1].number: duplicate extension number '0003*210'",
        ),
        (lambda r: r["extensions"][0].update(user="99"), "extensions[0].user: unknown user '99'"),
        (
            lambda r: r["organizations"][0].update(prefix="03"),
            "organizations[0].prefix: must be 4 digits, got '03'",
        ),
        (
            lambda r: r["extensions"][0].update(channel="PJSIP 210"),
            "extensions[0].channel: must be a dial target like PJSIP/210, got 'PJSIP 210'",
        ),
        (
            lambda r: r["extensions"][0].update(number="0004*210"),
            "extensions[0].number: prefix 0004 is not the prefix of organization '3'",
        ),
        (lambda r: r["extensions"][0].update(type="modem"), "extensions[0].type: must be one of"),
        (lambda r: r.update(faxes={"max_pages": 0}), "faxes.max_pages: must be greater than 0"),
        (lambda r: r.update(faxes={"spool": "relative/fax"}), "faxes.spool: must be an absolute"),
        (lambda r: r.update(faxes={"spool_on_pbx": "/var/fax,x"}), "faxes.spool_on_pbx: must be"),
        (
            lambda r: r["extensions"][0].update(caller_id="John\r\nAction: Hangup <1>"),
            "extensions[0].caller_id: must not contain CR, LF or NUL",
        ),
        (
            lambda r: r["users"][0].update(organization="9"),
            "users[0].organization: unknown organization '9'",
        ),
        (
            lambda r: r["apps"][0].update(organization="3"),
            "apps[0]: must have exactly one of user, organization or admin: true",
        ),
        (lambda r: r["apps"][1].update(token="short"), "apps[1].token: must be at least 16"),
        (
            lambda r: r["apps"][1].update(token="demo-crm-token-0123456789"),
            "apps[1].token: the same token is given to two apps",
        ),
        (
            lambda r: r["webhooks"].update(allow_networks=["10.0.0.0/33"]),
            "webhooks.allow_networks[0]: not a network",
        ),
        (lambda r: r["dialing"].update(public="PJSIP/trunk"), "dialing.public: must contain"),
        (
            lambda r: r["ami"].update(reconnect_max=0.1),
            "ami.reconnect_max: must be at least ami.reconnect_min",
        ),
    ],
)
def test_each_problem_is_reported_by_path(
    raw_config: dict[str, Any], mutate: Any, expected: str
) -> None:
    """Each kind of mistake is named with its dotted path."""
    mutate(raw_config)
    found = problems(raw_config)
    assert any(p.startswith(expected) for p in found), found


def test_all_problems_at_once(raw_config: dict[str, Any]) -> None:
    """Several mistakes are all reported in one go, not just the first."""
    raw_config["http"]["hots"] = 1
    raw_config["extensions"][0]["user"] = "99"
    raw_config["organizations"][1]["prefix"] = "x"
    found = problems(raw_config)
    assert len(found) >= 3
    assert {p.split(":")[0] for p in found} >= {
        "http.hots",
        "extensions[0].user",
        "organizations[1].prefix",
    }


def test_caller_id_defaults_to_user_name(raw_config: dict[str, Any]) -> None:
    """An extension without caller_id shows its user's name and short number."""
    del raw_config["extensions"][0]["caller_id"]
    cfg = config_mod.parse(raw_config, env={})
    assert cfg.extensions[0].caller_id == "John Doe <210>"


def test_not_a_mapping() -> None:
    """A YAML list at the top is one clear problem."""
    assert problems([1, 2]) == ["(top level): must be a mapping"]


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    """A missing file and broken YAML are ConfigErrors, not tracebacks."""
    with pytest.raises(ConfigError, match="cannot read"):
        config_mod.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("http: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config_mod.load(bad)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_config_ok() -> None:
    """--check-config on the demo config exits 0 and says OK."""
    result = run_cli("--config", "config/demo.yaml", "--check-config")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_lists_every_problem(tmp_path: Path, raw_config: dict[str, Any]) -> None:
    """--check-config on a broken file exits 1 and prints each problem by path."""
    raw_config["http"]["hots"] = 1
    raw_config["extensions"][0]["user"] = "99"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    result = run_cli("--config", str(path), "--check-config")
    assert result.returncode == 1
    assert "http.hots: unknown key" in result.stderr
    assert "extensions[0].user: unknown user '99'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@db/uapi", "must start with postgresql://"),
        ("postgresql:///uapi", "must name a host"),
        ("postgresql://u@db:5432", "must name a database"),
        ("postgresql://u:p@db:99999/uapi", "not a valid URL"),
    ],
)
def test_a_bad_storage_url_is_reported_without_its_password(
    raw_config: dict[str, Any], url: str, says: str
) -> None:
    """storage.url must be a PostgreSQL URL with a host and a database."""
    del raw_config["storage"]["path"]
    raw_config["storage"]["url"] = url
    [problem] = problems(raw_config)
    assert problem.startswith("storage.url: ")
    assert says in problem
    assert ":p@" not in problem


def test_storage_url_expands_the_password_and_excludes_path(raw_config: dict[str, Any]) -> None:
    """${PGPASSWORD} is expanded; giving path and url together is a problem."""
    del raw_config["storage"]["path"]
    raw_config["storage"]["url"] = "postgresql://uapi:${PGPASSWORD}@db:5432/uapi"
    config = config_mod.parse(raw_config, env={"PGPASSWORD": "s3cret"})
    assert config.storage.url == "postgresql://uapi:s3cret@db:5432/uapi"
    raw_config["storage"]["path"] = "x.sqlite3"
    assert problems(raw_config, {"PGPASSWORD": "s"}) == [
        "storage: give either path (SQLite) or url (PostgreSQL), not both"
    ]


def test_check_config_reports_a_bad_storage_url(tmp_path: Path, raw_config: dict[str, Any]) -> None:
    """--check-config exits 1 on a URL that is not PostgreSQL's."""
    del raw_config["storage"]["path"]
    raw_config["storage"]["url"] = "http://db/uapi"
    path = tmp_path / "pg.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    result = run_cli("--config", str(path), "--check-config")
    assert result.returncode == 1
    assert "storage.url: must start with postgresql://" in result.stderr
