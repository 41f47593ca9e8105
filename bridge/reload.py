"""SIGHUP: re-reads the `--config` file and applies what can change while running.

The file is checked as at start; with any problem nothing changes (`config.reload.failed`).
Otherwise bridge.reload_plan decides, and `Reloader.apply` hands the new config to each live
piece through its own method, in one synchronous step (no request sees half a directory):
the directory (extensions, users, organizations, apps: read by auth, the use cases, the
routes, the call trackers), the token store, the webhook dispatcher, the live hub's `@self`
streams. Keys that need a restart are named in `config.reload.restart_needed`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bridge import config as config_mod
from bridge.api.context import Services
from bridge.config import Config
from bridge.domain.views import iso
from bridge.errors import ConfigError
from bridge.live.hub import Hub
from bridge.reload_plan import Plan, decide
from bridge.webhooks.dispatcher import Dispatcher

log = structlog.get_logger("bridge.config")


def file_hash(path: str | Path) -> str:
    """sha256 of the file (empty when it cannot be read)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


@dataclass
class Reloader:
    """Owns the serving config of one bridge and replaces it on `reload`."""

    path: str | Path
    services: Services
    webhooks: Dispatcher
    hub: Hub
    clock: Callable[[], float] = time.time
    on_applied: list[Callable[[Config], None]] = field(default_factory=list)

    def started(self) -> None:
        """Records the config the bridge started with (for /healthz)."""
        state = self.services.config_state
        state.loaded, state.hash = iso(self.clock()), file_hash(self.path)

    async def reload(self) -> bool:
        """Reads and applies the file; False (and nothing changed) when it has problems."""
        running = self.services.config
        try:  # reading and checking a large file takes seconds: off the event loop
            digest, plan = await asyncio.to_thread(self._plan, running)
        except ConfigError as exc:
            return self._failed(exc.problems)
        if self.services.config is not running:
            return self._failed(["another reload applied meanwhile; send SIGHUP again"])
        revoked = self.apply(plan)
        await self.services.tokens.revoke_apps(plan.apps_revoked)
        state = self.services.config_state
        state.loaded, state.hash = iso(self.clock()), digest
        state.last_reload, state.problems = "ok", []
        self.services.metrics.config_reloads.labels("ok").inc()
        if plan.restart_needed:
            log.warning("config.reload.restart_needed", keys=list(plan.restart_needed))
        log.info(
            "config.reload.ok",
            extensions_added=list(plan.extensions_added),
            extensions_removed=list(plan.extensions_removed),
            apps_revoked=list(plan.apps_revoked),
            streams_rescoped=revoked,
        )
        return True

    def _plan(self, running: Config) -> tuple[str, Plan]:
        """In a worker thread: the file's hash, and the plan for it (ConfigError: problems)."""
        digest = file_hash(self.path)
        return digest, decide(running, config_mod.load(self.path))

    def apply(self, plan: Plan) -> int:
        """Every live piece takes the plan's config at once; returns the streams rescoped."""
        svc, cfg = self.services, plan.config
        svc.directory.load(cfg)
        svc.config = cfg
        svc.tokens.configure(cfg.auth.token_ttl, cfg.auth.max_tokens)
        self.webhooks.apply(cfg.webhooks)
        svc.limiter.apply(cfg)  # limits and apps[].limits (#21): buckets kept, re-tuned
        for hook in self.on_applied:
            hook(cfg)
        return self.hub.rescope()

    def _failed(self, problems: list[str]) -> bool:
        state = self.services.config_state
        state.last_reload, state.problems = "failed", list(problems)
        self.services.metrics.config_reloads.labels("failed").inc()
        log.error("config.reload.failed", path=str(self.path), problems=problems)
        return False
