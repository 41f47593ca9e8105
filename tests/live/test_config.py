"""The `stream:` config keys: defaults, types, and each bad value reported by its dotted path."""

from __future__ import annotations

from typing import Any

import pytest

from bridge import config as config_mod
from bridge.errors import ConfigError


def test_defaults_and_values(raw_config: dict[str, Any]) -> None:
    """No `stream:` section gives the documented defaults; given values are read."""
    stream = config_mod.parse(raw_config, env={}).stream
    assert (stream.max_clients, stream.buffer, stream.queue, stream.heartbeat) == (
        1000,
        10_000,
        1000,
        15.0,
    )
    raw_config["stream"] = {"max_clients": 5, "buffer": 50, "queue": 7, "heartbeat": 0.5}
    stream = config_mod.parse(raw_config, env={}).stream
    assert (stream.max_clients, stream.buffer, stream.queue, stream.heartbeat) == (5, 50, 7, 0.5)


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"max_clients": 0}, "stream.max_clients: must be greater than 0"),
        ({"queue": -1}, "stream.queue: must be greater than 0"),
        ({"heartbeat": 0}, "stream.heartbeat: must be greater than 0"),
        ({"buffer": "many"}, "stream.buffer"),
        ({"clients": 3}, "stream.clients: unknown key"),
    ],
)
def test_bad_values_are_reported_by_path(
    raw_config: dict[str, Any], section: dict[str, Any], problem: str
) -> None:
    """Each wrong value names its key."""
    raw_config["stream"] = section
    with pytest.raises(ConfigError) as caught:
        config_mod.parse(raw_config, env={})
    assert problem in str(caught.value)
