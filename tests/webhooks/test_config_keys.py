"""The webhooks and auth config keys of issue 9: defaults, forms accepted, problems."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bridge import config as config_mod
from bridge.errors import ConfigError


def test_defaults() -> None:
    """50 registrations, 64 KiB of answer, 7 days of retention, 100 tokens per app."""
    cfg = config_mod.parse({"ami": {"secret": "s"}}, env={})
    assert (
        cfg.webhooks.max_registrations,
        cfg.webhooks.max_response_bytes,
        cfg.webhooks.retention,
        cfg.auth.max_tokens,
    ) == (50, 65536, 7 * 86400.0, 100)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        (3600, 3600.0),
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("12h", 43200.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("1.5d", 129600.0),
        ("${KEEP}", 86400.0),
    ],
)
def test_retention_takes_seconds_or_a_duration(raw: Any, seconds: float) -> None:
    """webhooks.retention: a number of seconds or a string with s, m, h, d or w."""
    cfg = config_mod.parse(
        {"ami": {"secret": "s"}, "webhooks": {"retention": raw}}, env={"KEEP": "1d"}
    )
    assert cfg.webhooks.retention == seconds


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("webhooks", "retention", "7 days"),
        ("webhooks", "retention", 0),
        ("webhooks", "retention", "-1d"),
        ("webhooks", "max_registrations", 0),
        ("webhooks", "max_response_bytes", -1),
        ("auth", "max_tokens", 0),
        ("webhooks", "max_registrations", "many"),
    ],
)
def test_bad_values_are_reported_by_path(section: str, key: str, value: Any) -> None:
    """Each bad value is one problem naming its dotted path."""
    with pytest.raises(ConfigError) as info:
        config_mod.parse({"ami": {"secret": "s"}, section: {key: value}}, env={})
    assert [p for p in info.value.problems if p.startswith(f"{section}.{key}:")]


@pytest.mark.parametrize(
    "secret",
    [
        "demo-crm-webhook-secret-0123456789",  # the old raw form: refused, not converted
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_!!!",
    ],
)
def test_an_app_webhook_secret_must_be_a_whsec_secret(
    raw_config: dict[str, Any], secret: str
) -> None:
    """apps[].webhook_secret is refused unless whsec_ + base64 of 24+ bytes."""
    raw_config["apps"][0]["webhook_secret"] = secret
    with pytest.raises(ConfigError) as info:
        config_mod.parse(raw_config, env={})
    assert [p for p in info.value.problems if p.startswith("apps[0].webhook_secret:")]


def test_the_demo_config_secrets_are_whsec(raw_config: dict[str, Any]) -> None:
    """The demo apps' webhook secrets parse (they are in whsec_ form)."""
    cfg = config_mod.parse(raw_config, env={})
    assert all(a.webhook_secret.startswith("whsec_") for a in cfg.apps if a.webhook_secret)


def test_issue_23_keys_have_their_defaults() -> None:
    """rotation_overlap one day, disable_after five days, disable_min_failures 10."""
    cfg = config_mod.parse({"ami": {"secret": "s"}}, env={})
    assert (
        cfg.webhooks.rotation_overlap,
        cfg.webhooks.disable_after,
        cfg.webhooks.disable_min_failures,
    ) == (86400.0, 5 * 86400.0, 10)


def test_issue_23_keys_take_durations_and_0_overlap() -> None:
    """Durations as for retention; an overlap of 0 (the old secret stops at once) is allowed."""
    cfg = config_mod.parse(
        {
            "ami": {"secret": "s"},
            "webhooks": {"rotation_overlap": 0, "disable_after": "2d", "disable_min_failures": 3},
        },
        env={},
    )
    assert (
        cfg.webhooks.rotation_overlap,
        cfg.webhooks.disable_after,
        cfg.webhooks.disable_min_failures,
    ) == (0.0, 2 * 86400.0, 3)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("rotation_overlap", "8d"),
        ("rotation_overlap", -1),
        ("disable_after", 0),
        ("disable_after", "soon"),
        ("disable_min_failures", 0),
        ("disable_min_failures", "x"),
    ],
)
def test_issue_23_bad_values(key: str, value: Any) -> None:
    """Over 7 days of overlap, a zero or unreadable span, no failures: one problem each."""
    with pytest.raises(ConfigError) as info:
        config_mod.parse({"ami": {"secret": "s"}, "webhooks": {key: value}}, env={})
    assert [p for p in info.value.problems if p.startswith(f"webhooks.{key}:")]
