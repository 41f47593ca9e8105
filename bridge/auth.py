"""Access tokens: static ones from the config and expiring OAuth ones that survive restarts
(at most `auth.max_tokens` live per app; expired ones purged while running)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog

from bridge.directory import Directory
from bridge.errors import BridgeError
from bridge.store.db import Database
from bridge.tenants import App

log = structlog.get_logger("bridge.auth")
PURGE_EVERY = 60.0  # seconds between purges of expired issued tokens
REVOKED_CHANNEL = "uapi_tokens_revoked"  # NOTIFY: tokens another bridge revoked


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def _digest(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out live tokens.
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Finds the app behind a bearer token; issues client-credentials tokens.

    At most `max_tokens` issued tokens per app are live: a new one revokes that app's oldest.
    Expired ones are dropped by `purge`, which `run_forever` calls every `PURGE_EVERY` s.
    """

    def __init__(
        self,
        directory: Directory,
        db: Database,
        ttl: int,
        clock: Callable[[], float] = time.time,
        max_tokens: int = 100,
    ) -> None:
        self.directory = directory
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self.max_tokens = max_tokens
        self._issued: dict[str, tuple[str, float]] = {}  # digest -> (app name, expires_at)
        self._by_app: dict[str, dict[str, None]] = {}  # app -> its digests, oldest first
        self._issuing = asyncio.Lock()  # one issue at a time: the cap is never passed

    async def load(self) -> None:
        """Reads the unexpired issued tokens into memory and drops the expired ones."""
        now = self.clock()
        await self.db.execute("DELETE FROM oauth_tokens WHERE expires_at <= ?", (now,))
        rows = await self.db.fetchall(
            "SELECT token_hash, app, expires_at FROM oauth_tokens ORDER BY expires_at"
        )
        self._issued, self._by_app = {}, {}
        for digest, app, expires_at in rows:
            if app in self.directory.apps:
                self._remember(digest, app, expires_at)

    def _remember(self, digest: str, app: str, expires_at: float) -> None:
        self._issued[digest] = (app, expires_at)
        self._by_app.setdefault(app, {})[digest] = None

    def _forget(self, digest: str) -> None:
        app, _ = self._issued.pop(digest)
        mine = self._by_app[app]
        del mine[digest]
        if not mine:
            del self._by_app[app]

    def live(self, app: str) -> int:
        """How many issued tokens of `app` are held (expired ones until the next purge)."""
        return len(self._by_app.get(app, ()))

    def app_for(self, token: str) -> App | None:
        """The app a token belongs to, or None for a missing, unknown or expired token."""
        if not token:
            return None
        app = self.directory.app_by_static_token(token)
        if app is not None:
            return app
        entry = self._issued.get(_digest(token))
        if entry is None or entry[1] <= self.clock():
            return None
        return self.directory.apps.get(entry[0])

    async def find_app(self, token: str) -> App | None:
        """`app_for`; on a shared store also a token another bridge issued (then held here).
        Raises StoreUnavailable when that lookup cannot reach the database."""
        app = self.app_for(token)
        if app is not None or not token or not self.db.shared:
            return app
        digest = _digest(token)
        if digest in self._issued:  # known here, and expired
            return None
        rows = await self.db.fetchall(
            "SELECT app, expires_at FROM oauth_tokens WHERE token_hash = ?", (digest,)
        )
        if not rows or rows[0][0] not in self.directory.apps or rows[0][1] <= self.clock():
            return None
        self._remember(digest, rows[0][0], rows[0][1])
        return self.directory.apps[rows[0][0]]

    async def revoked(self, payload: str) -> None:
        """A NOTIFY from the bridge that revoked these tokens (comma-separated digests)."""
        for digest in filter(None, payload.split(",")):
            if digest in self._issued:
                self._forget(digest)

    def check_client(self, client_id: str, client_secret: str) -> App | None:
        """The app with these client credentials, compared in constant time."""
        app = self.directory.app_by_client_id(client_id)
        if app is None or app.client_secret is None:
            return None
        if not hmac.compare_digest(app.client_secret.encode(), client_secret.encode()):
            return None
        return app

    async def issue(self, app: App) -> IssuedToken:
        """A new random token for `app`, stored durably before it is handed out; the app's
        oldest tokens beyond `max_tokens` are revoked in the same transaction."""
        token = secrets.token_urlsafe(32)
        digest = _digest(token)
        async with self._issuing:
            expires_at = self.clock() + self.ttl
            held = list(self._by_app.get(app.name, ()))
            revoked = held[: max(0, len(held) + 1 - self.max_tokens)]
            await self.db.transaction(
                [
                    ("DELETE FROM oauth_tokens WHERE token_hash = ?", [(d,) for d in revoked]),
                    (
                        "INSERT INTO oauth_tokens (token_hash, app, expires_at) VALUES (?, ?, ?)",
                        [(digest, app.name, expires_at)],
                    ),
                ]
            )
            for old in revoked:
                if old in self._issued:  # a purge may have dropped it meanwhile
                    self._forget(old)
            self._remember(digest, app.name, expires_at)
        if revoked and self.db.shared:
            await self.db.notify(REVOKED_CHANNEL, ",".join(revoked))
        if revoked:
            log.info(
                "auth.tokens.revoked", app=app.name, revoked=len(revoked), reason="auth.max_tokens"
            )
        return IssuedToken(token, self.ttl)

    def configure(self, ttl: int, max_tokens: int) -> None:
        """Reload: `auth.token_ttl` for the next tokens issued, `auth.max_tokens` from the next
        issue on (tokens already held are not revoked by a lower cap until then)."""
        self.ttl, self.max_tokens = ttl, max_tokens

    async def revoke_apps(self, apps: Iterable[str]) -> int:
        """Reload: every issued token of these apps (removed, or credentials changed) stops
        working at once; the rows go from the store after, and other bridges are told."""
        names = list(apps)
        digests = [d for app in names for d in self._by_app.get(app, ())]
        self._drop(digests)
        if names:
            await self.db.transaction(
                [("DELETE FROM oauth_tokens WHERE app = ?", [(name,) for name in names])]
            )
            self._drop(digests)  # a shared store's lookup may have held one again meanwhile
        if digests and self.db.shared:
            await self.db.notify(REVOKED_CHANNEL, ",".join(digests))
        if digests:
            log.info("auth.tokens.revoked", apps=names, revoked=len(digests), reason="reload")
        return len(digests)

    def _drop(self, digests: Iterable[str]) -> None:
        for digest in digests:
            if digest in self._issued:
                self._forget(digest)

    async def purge(self, now: float) -> int:
        """Drops the tokens expired at `now` (memory and store); returns how many."""
        await self.db.execute("DELETE FROM oauth_tokens WHERE expires_at <= ?", (now,))
        expired = [d for d, (_, expires_at) in self._issued.items() if expires_at <= now]
        for digest in expired:
            self._forget(digest)
        if expired:
            log.info("auth.tokens.purged", tokens=len(expired))
        return len(expired)

    async def run_forever(self, every: float = PURGE_EVERY) -> None:
        """Purges at once and then every `every` seconds until cancelled (a store error is
        logged and retried at the next turn)."""
        while True:
            try:
                await self.purge(self.clock())
            except BridgeError:
                log.exception("auth.tokens.purge_failed")
            await asyncio.sleep(every)
