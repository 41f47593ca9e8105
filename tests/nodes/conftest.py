"""Fixtures of the several-nodes tests: the demo cluster config over two fake AMI ports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge import config as config_mod
from tests.api.conftest import FakePbx
from tests.conftest import ROOT, Api


@pytest.fixture
def cluster_raw(tmp_path: Path) -> dict[str, Any]:
    """config/demo-cluster.yaml as a plain dict, with storage in a temporary folder."""
    raw = yaml.safe_load((ROOT / "config" / "demo-cluster.yaml").read_text())
    raw["storage"]["path"] = str(tmp_path / "bridge.sqlite3")
    return copy.deepcopy(raw)


@pytest.fixture
async def cluster(make_api: Callable[..., Any], cluster_raw: dict[str, Any]
                  ) -> tuple[Api, FakePbx, FakePbx]:
    """The API over two nodes; each node's fake port records what it is sent."""
    api: Api = await make_api(config_mod.parse(cluster_raw, env={}))
    one, two = FakePbx(), FakePbx()
    api.services.nodes.plug("node1", one)
    api.services.nodes.plug("node2", two)
    return api, one, two
