"""What a config reload means: the decision only, no I/O (bridge.reload applies it).

A reload takes the new file's live keys (the tenant model, the apps, `webhooks.*` but
`allow_networks`, `auth.*`) over the running config; every other key needs a restart: it is
compared, each changed one is named, and the running value stays.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from bridge.config import Config
from bridge.errors import ConfigError
from bridge.tenants import App

# Top-level keys that apply at once (`limits`: the limiter keeps its buckets and retunes them,
# bridge.reload.Reloader.apply).
LIVE_KEYS = ("organizations", "users", "extensions", "apps", "webhooks", "auth", "limits")
RESTART_WEBHOOK_KEYS = ("allow_networks",)  # the guard is built into the HTTP client's resolver


@dataclass(frozen=True)
class Plan:
    """A valid reload: what to serve from now on, and what the new file changes."""

    config: Config  # the new live keys over the running config's restart-only ones
    restart_needed: tuple[str, ...]  # dotted keys whose change waits for a restart
    apps_revoked: tuple[str, ...]  # removed, or their token or client credentials changed
    extensions_added: tuple[str, ...]
    extensions_removed: tuple[str, ...]


@dataclass
class ConfigState:
    """What /healthz says of the serving config (`config`): when and from what file it was
    loaded, and how the last reload went (None: none yet)."""

    loaded: str = ""  # ISO time the serving config was loaded
    hash: str = ""  # sha256 of the file it was loaded from
    last_reload: str | None = None  # "ok" or "failed"
    problems: list[str] = dataclasses.field(default_factory=list)

    def shown(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "hash": self.hash,
            "last_reload": self.last_reload,
            "problems": list(self.problems),
        }


def decide(running: Config, new: Config) -> Plan:
    """The plan for replacing `running` with `new` (already checked as at start); raises
    ConfigError when the new live keys cannot work with the running restart-only ones."""
    merged = dataclasses.replace(
        running,
        **{key: getattr(new, key) for key in LIVE_KEYS},
    )
    merged = dataclasses.replace(
        merged,
        webhooks=dataclasses.replace(
            new.webhooks, **{k: getattr(running.webhooks, k) for k in RESTART_WEBHOOK_KEYS}
        ),
    )
    _check_nodes(running, new)
    old_ext, new_ext = {e.number for e in running.extensions}, {e.number for e in new.extensions}
    return Plan(
        config=merged,
        restart_needed=restart_keys(running, new),
        apps_revoked=revoked_apps(running.apps, new.apps),
        extensions_added=tuple(sorted(new_ext - old_ext)),
        extensions_removed=tuple(sorted(old_ext - new_ext)),
    )


def _check_nodes(running: Config, new: Config) -> None:
    """An extension may only name a node the bridge is linked to now."""
    names = {n.name for n in running.nodes}
    problems = [
        f"extensions[{i}].node: node {e.node!r} is not running (a new node needs a restart)"
        for i, e in enumerate(new.extensions)
        if e.node and e.node not in names
    ]
    if problems:
        raise ConfigError(problems)


def revoked_apps(old: tuple[App, ...], new: tuple[App, ...]) -> tuple[str, ...]:
    """Apps whose static and issued tokens stop working: removed, or credentials changed."""
    now = {a.name: a for a in new}
    out = []
    for app in old:
        kept = now.get(app.name)
        if kept is None or (kept.token, kept.client_id, kept.client_secret) != (
            app.token,
            app.client_id,
            app.client_secret,
        ):
            out.append(app.name)
    return tuple(out)


def restart_keys(running: Config, new: Config) -> tuple[str, ...]:
    """The dotted keys outside the live ones whose values differ (values are never shown)."""
    old_flat, new_flat = _restart_values(running), _restart_values(new)
    keys = sorted(set(old_flat) | set(new_flat))
    return tuple(k for k in keys if old_flat.get(k, _MISSING) != new_flat.get(k, _MISSING))


_MISSING = object()


def _restart_values(config: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name in LIVE_KEYS or f.name in ("nodes", "ami_list"):
            continue
        _flatten(f.name, getattr(config, f.name), out)
    if config.ami_list:
        _flatten("ami", config.nodes, out)
    else:
        (one,) = config.nodes  # one mapping: its keys are ami.host, ami.secret, ...
        _flatten("ami", one, out)
    for key in RESTART_WEBHOOK_KEYS:
        out[f"webhooks.{key}"] = getattr(config.webhooks, key)
    return out


def _flatten(path: str, value: Any, out: dict[str, Any]) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _flatten(f"{path}.{f.name}", getattr(value, f.name), out)
    elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
        for i, item in enumerate(value):
            _flatten(f"{path}[{i}]", item, out)
    else:
        out[path] = value
