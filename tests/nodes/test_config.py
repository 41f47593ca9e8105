"""`ami:` as a list of nodes: the cluster demo, and each problem reported by path."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.directory import Directory
from bridge.errors import ConfigError
from tests.conftest import ROOT


def problems(raw: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_mod.parse(raw, env={})
    return info.value.problems


def test_the_cluster_demo_parses(cluster_raw: dict[str, Any]) -> None:
    """Two nodes; extensions without `node` live on the first; trunks and per-node public."""
    cfg = config_mod.parse(cluster_raw, env={})
    assert [n.name for n in cfg.nodes] == ["node1", "node2"]
    assert cfg.ami_list
    assert cfg.nodes[1].port == 15138
    assert cfg.nodes[0].trunks == (("node2", "PJSIP/{short}@node2"),)
    by_number = {e.number: cfg.node_of(e) for e in cfg.extensions}
    assert (by_number["0003*210"], by_number["0003*410"]) == ("node1", "node2")
    directory = Directory(cfg)
    ext = directory.extensions["0003*410"]
    assert directory.dial_target(ext, "node2") == "PJSIP/410"
    assert directory.dial_target(ext, "node1") == "PJSIP/410@node2"
    assert directory.extension_of_endpoint("node1")("PJSIP/410@node2") == "0003*410"
    assert directory.extension_of_endpoint("node1")("PJSIP/410") is None
    assert directory.trunk_endpoints("node2") == {"node1": "PJSIP/node1"}


def test_a_single_mapping_is_one_node_named_default(config: config_mod.Config) -> None:
    assert [n.name for n in config.nodes] == ["default"]
    assert not config.ami_list
    assert config.node_of(config.extensions[0]) == "default"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["ami"][1].update(name="node1"), "ami[1].name: duplicate node name 'node1'"),
        (
            lambda r: r["extensions"][0].update(node="node9"),
            "extensions[0].node: unknown node 'node9'",
        ),
        (
            lambda r: [e.pop("node", None) for e in r["extensions"]],
            "ami[1]: node 'node2' has no extensions",
        ),
        (
            lambda r: r["ami"][0].update(trunks={"node7": "PJSIP/{short}@x"}),
            "ami[0].trunks.node7: unknown node 'node7'",
        ),
        (
            lambda r: r["ami"][0].update(trunks={"node2": "PJSIP/410@node2\r\nAction: Hangup"}),
            "ami[0].trunks.node2: must be a dial string like PJSIP/{short}@node2",
        ),
        (
            lambda r: r["ami"][1].update(dialing={"public": "PJSIP/x@trunk"}),
            "ami[1].dialing.public: must contain {number}",
        ),
        (lambda r: r["ami"][1].update(name="bad name"), "ami[1].name: must be 1-32 letters"),
        (lambda r: r["ami"][1].update(secret=""), "ami[1].secret: must not be empty"),
        (lambda r: r["ami"][1].update(port=0), "ami[1].port: must be between 1 and 65535"),
        (lambda r: r.update(ami=[]), "ami: must name at least one node"),
    ],
)
def test_each_node_problem_is_reported(
    cluster_raw: dict[str, Any], mutate: Any, expected: str
) -> None:
    raw = copy.deepcopy(cluster_raw)
    mutate(raw)
    found = problems(raw)
    assert any(p.startswith(expected) for p in found), found


def test_check_config_lists_the_nodes(tmp_path: Path) -> None:
    """`--check-config` names each node and how many extensions live on it."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "--config",
            str(ROOT / "config" / "demo-cluster.yaml"),
            "--check-config",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "node node1: AMI 127.0.0.1:15038, 10 extensions, trunks to: node2" in out.stdout
    assert "node node2: AMI 127.0.0.1:15138, 4 extensions, trunks to: node1" in out.stdout
