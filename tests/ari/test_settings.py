"""`ami.ari` in the config: optional, per node (single and list form), checked by path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.ari.settings import AriConfig
from bridge.errors import ConfigError

ARI = {"url": "http://127.0.0.1:15088/ari/", "username": "uapi", "password": "${UAPI_ARI_PASSWORD}"}


def test_absent_is_none(raw_config: dict[str, Any]) -> None:
    """Without `ari` a node has none (recordings then answer 501)."""
    assert config_mod.parse(raw_config, env={}).nodes[0].ari is None


def test_single_form(raw_config: dict[str, Any]) -> None:
    """The single `ami:` mapping takes `ari`; the password comes from the environment."""
    raw_config["ami"]["ari"] = dict(ARI)
    ari = config_mod.parse(raw_config, env={"UAPI_ARI_PASSWORD": "pw"}).nodes[0].ari
    assert ari == AriConfig("http://127.0.0.1:15088/ari", "uapi", "pw", 5.0)


def test_list_form_per_node(raw_config: dict[str, Any]) -> None:
    """Each item of the list form has its own `ari` (or none)."""
    one = dict(raw_config["ami"], name="node1", ari=dict(ARI, password="a"))
    two = dict(copy.deepcopy(raw_config["ami"]), name="node2", port=15138)
    raw_config["ami"] = [one, two]
    raw_config["extensions"][-1]["node"] = "node2"
    nodes = config_mod.parse(raw_config, env={}).nodes
    assert nodes[0].ari is not None
    assert nodes[0].ari.password == "a"
    assert nodes[1].ari is None


@pytest.mark.parametrize(
    ("ari", "where"),
    [
        ({**ARI, "url": "ftp://x/ari"}, "ami.ari.url"),
        ({**ARI, "url": "not a url"}, "ami.ari.url"),
        ({**ARI, "username": ""}, "ami.ari.username"),
        ({**ARI, "username": "a:b"}, "ami.ari.username"),
        ({**ARI, "password": ""}, "ami.ari.password"),
        ({**ARI, "password": "a\r\nb"}, "ami.ari.password"),
        ({**ARI, "timeout": 0}, "ami.ari.timeout"),
        ({**ARI, "tls": True}, "ami.ari.tls"),
        ("http://x/ari", "ami.ari"),
    ],
)
def test_problems_by_path(raw_config: dict[str, Any], ari: Any, where: str) -> None:
    """Each bad value is reported at its dotted path."""
    raw_config["ami"]["ari"] = ari
    with pytest.raises(ConfigError) as err:
        config_mod.parse(raw_config, env={"UAPI_ARI_PASSWORD": "pw"})
    assert any(p.startswith(f"{where}:") for p in err.value.problems), err.value.problems
