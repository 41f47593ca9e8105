"""A client generated from the served document (openapi-python-client) works against the bridge."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CRM, ROOT, Api

PACKAGE = "uapi_bridge_client"


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    """tmp_path importable for the test, and the generated modules forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]


async def generate(url: str, out: Path) -> None:
    """`openapi-python-client generate --url ...` as docs/api.md shows it."""
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "openapi-python-client"),
        "generate",
        "--url",
        url,
        "--meta",
        "none",
        "--output-path",
        str(out / PACKAGE),
        cwd=out,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, output.decode()
    assert b"will not be generated" not in output, output.decode()


async def test_generated_client_lists_the_extensions(api: Api, on_path: Path) -> None:
    base = str(api.client.make_url("")).rstrip("/")
    await generate(f"{base}/uapi/openapi.json", on_path)
    client_mod: Any = importlib.import_module(PACKAGE)
    list_extensions: Any = importlib.import_module(f"{PACKAGE}.api.extensions.list_extensions")
    get_health: Any = importlib.import_module(f"{PACKAGE}.api.operations.get_health")

    client = client_mod.AuthenticatedClient(base_url=f"{base}/uapi", token=CRM)
    async with client:
        answer = await list_extensions.asyncio_detailed(user_id="@me", client=client)
    assert answer.status_code == 200
    numbers = [e.extension for e in answer.parsed.entry]
    assert numbers == ["0003*026", "0003*210", "0003*212", "0003*250", "0003*260"]
    assert answer.parsed.entry[1].caller_id == "John Doe <210>"

    async with client_mod.Client(base_url=base) as plain:
        health = await get_health.asyncio(client=plain)
    assert health.status.value == "ok"
