"""The daemon paces Python's cyclic garbage collector for a long-running bridge (issue 28)."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
import yaml

import bridge.__main__ as entry
from bridge import logs
from bridge.runtime import GC_THRESHOLD


def test_the_daemon_paces_the_collector_before_it_runs(
    raw_config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`uapi-bridge --config` sets the collector's thresholds and freezes what exists at
    start before the bridge runs (the whole daemon, not only a benchmark, runs that way)."""
    seen: dict[str, Any] = {}

    async def run(config: object, *, path: str | None = None) -> None:
        seen.update(threshold=gc.get_threshold(), frozen=gc.get_freeze_count(), path=path)

    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(raw_config))
    monkeypatch.setattr(entry, "run", run)
    monkeypatch.setattr(logs, "configure", lambda *_a, **_k: None)  # global state: not here
    before = gc.get_threshold()
    try:
        assert entry.main(["--config", str(path)]) == 0
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
    assert seen == {"threshold": GC_THRESHOLD, "frozen": seen["frozen"], "path": str(path)}
    assert seen["frozen"] > 0
    assert GC_THRESHOLD[0] > before[0]
