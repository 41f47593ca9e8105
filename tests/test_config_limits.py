"""The #21 config keys: `limits`, `apps[].limits`, `max_calls`, `ami.originate_rate/queue`;
defaults, partial overrides, and every bad value by its dotted path (also via --check-config)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import config as config_mod
from bridge.config_limits import LimitsConfig
from bridge.domain.buckets import Rate
from tests.conftest import ROOT
from tests.test_config import problems, run_cli


def test_defaults_when_nothing_is_given() -> None:
    """No `limits`, no max_calls: requests 50/100, calls 5/20, Originates 20/s with 200 waiting."""
    cfg = config_mod.parse({"ami": {"secret": "s"}}, env={})
    assert cfg.limits == LimitsConfig(Rate(50.0, 100), Rate(5.0, 20))
    [node] = cfg.nodes
    assert (node.originate_rate, node.originate_queue) == (20.0, 200)


def test_partial_top_level_and_partial_app_override(raw_config: dict[str, Any]) -> None:
    """What a block leaves out comes from the level above (app -> top level -> defaults)."""
    raw_config["limits"] = {"calls": {"rate": 2}}
    raw_config["apps"][0]["limits"] = {"calls": {"burst": 7}, "requests": {"rate": 500}}
    cfg = config_mod.parse(raw_config, env={})
    assert cfg.limits == LimitsConfig(Rate(50.0, 100), Rate(2.0, 20))
    crm = cfg.apps[0]
    assert crm.limits is not None
    assert crm.limits.over(cfg.limits) == LimitsConfig(Rate(500.0, 100), Rate(2.0, 7))
    assert cfg.apps[1].limits is None


def test_max_calls_of_organizations_and_users(raw_config: dict[str, Any]) -> None:
    """max_calls is read per organization and per user (None: no cap)."""
    raw_config["organizations"][0]["max_calls"] = 100
    raw_config["users"][0]["max_calls"] = "4"
    cfg = config_mod.parse(raw_config, env={})
    assert cfg.organizations[0].max_calls == 100
    assert cfg.organizations[1].max_calls is None
    assert cfg.users[0].max_calls == 4


def test_originate_pacing_per_node_of_the_list_form(tmp_path: Path) -> None:
    """Each node of `ami:` as a list has its own originate_rate and originate_queue."""
    raw = yaml.safe_load((ROOT / "config" / "demo-cluster.yaml").read_text())
    raw["ami"][1]["originate_rate"] = 7
    raw["ami"][1]["originate_queue"] = 9
    cfg = config_mod.parse(raw, env={})
    assert (cfg.nodes[1].originate_rate, cfg.nodes[1].originate_queue) == (7.0, 9)
    raw["ami"][1]["originate_rate"] = 0
    assert "ami[1].originate_rate: must be greater than 0" in problems(raw)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c.update(limits={"requests": {"rate": 0}}),
            "limits.requests.rate: must be greater than 0",
        ),
        (
            lambda c: c.update(limits={"calls": {"burst": 0}}),
            "limits.calls.burst: must be greater than 0",
        ),
        (
            lambda c: c.update(limits={"calls": {"rate": -1}}),
            "limits.calls.rate: must be greater than 0",
        ),
        (lambda c: c.update(limits={"calls": {"burst": 1.5}}), "limits.calls.burst: must be int"),
        (
            lambda c: c.update(limits={"calls": {"rate": "fast"}}),
            "limits.calls.rate: must be float",
        ),
        (lambda c: c.update(limits={"call": {"rate": 1}}), "limits.call: unknown key"),
        (
            lambda c: c.update(limits={"calls": {"rate": 1, "per": "s"}}),
            "limits.calls.per: unknown key",
        ),
        (lambda c: c.update(limits=5), "limits: must be a mapping"),
        (
            lambda c: c["apps"][2].update(limits={"requests": {"rate": 0}}),
            "apps[2].limits.requests.rate: must be greater than 0",
        ),
        (
            lambda c: c["apps"][0].update(limits={"calls": {"burst": 0}}),
            "apps[0].limits.calls.burst: must be greater than 0",
        ),
        (
            lambda c: c["apps"][0].update(limits={"calls": []}),
            "apps[0].limits.calls: must be a mapping",
        ),
        (
            lambda c: c["organizations"][0].update(max_calls=0),
            "organizations[0].max_calls: must be at least 1",
        ),
        (lambda c: c["users"][1].update(max_calls="many"), "users[1].max_calls: must be int"),
        (lambda c: c["ami"].update(originate_rate=0), "ami.originate_rate: must be greater than 0"),
        (
            lambda c: c["ami"].update(originate_queue=-5),
            "ami.originate_queue: must be greater than 0",
        ),
    ],
)
def test_each_bad_value_by_its_path(raw_config: dict[str, Any], mutate: Any, expected: str) -> None:
    """Every limit value is checked; 0 is not a valid rate."""
    mutate(raw_config)
    assert expected in problems(raw_config)


def test_check_config_names_the_limit_problems(tmp_path: Path, raw_config: dict[str, Any]) -> None:
    """--check-config prints the limit problems by dotted path and exits 1."""
    raw_config["limits"] = {"calls": {"rate": 0}}
    raw_config["apps"][0]["limits"] = {"requests": {"burst": -1}}
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    result = run_cli("--config", str(path), "--check-config")
    assert result.returncode == 1
    assert "limits.calls.rate: must be greater than 0" in result.stderr
    assert "apps[0].limits.requests.burst: must be greater than 0" in result.stderr
