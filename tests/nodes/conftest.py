"""Fixtures of the several-nodes tests: the demo cluster config over two fake AMI ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge import config as config_mod
from tests.api.conftest import FakePbx
from tests.conftest import Api, shipped_config


@pytest.fixture
def cluster_raw(tmp_path: Path) -> dict[str, Any]:
    """config/demo-cluster.yaml as a plain dict, with storage in a temporary folder."""
    return shipped_config(tmp_path, "demo-cluster.yaml")


@pytest.fixture
async def cluster(
    make_api: Callable[..., Any], cluster_raw: dict[str, Any]
) -> tuple[Api, FakePbx, FakePbx]:
    """The API over two nodes; each node's fake port records what it is sent."""
    api: Api = await make_api(config_mod.parse(cluster_raw, env={}))
    one, two = FakePbx(), FakePbx()
    api.services.nodes.plug("node1", one)
    api.services.nodes.plug("node2", two)
    return api, one, two
