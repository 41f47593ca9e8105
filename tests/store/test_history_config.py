"""history.retention: 90 days by default, seconds or a duration, refused when not positive."""

from __future__ import annotations

from typing import Any

import pytest

from bridge import config as config_mod
from bridge.errors import ConfigError


def parse(history: Any) -> config_mod.Config:
    raw: dict[str, Any] = {"ami": {"secret": "s"}}
    if history is not None:
        raw["history"] = history
    return config_mod.parse(raw, env={})


def test_default_is_ninety_days() -> None:
    """No history section: records are kept 90 days."""
    assert parse(None).history.retention == 90 * 86400.0


@pytest.mark.parametrize(
    ("raw", "seconds"), [(3600, 3600.0), ("30d", 30 * 86400.0), ("2w", 14 * 86400.0)]
)
def test_retention_takes_seconds_or_a_duration(raw: Any, seconds: float) -> None:
    """Like webhooks.retention."""
    assert parse({"retention": raw}).history.retention == seconds


@pytest.mark.parametrize("history", [{"retention": 0}, {"retention": "soon"}, {"keep": 1}, []])
def test_bad_values_are_reported_by_path(history: Any) -> None:
    """Each problem names history.* ."""
    with pytest.raises(ConfigError) as err:
        parse(history)
    assert any(p.startswith("history") for p in err.value.problems)
