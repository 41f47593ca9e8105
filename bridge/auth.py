"""Access tokens: static ones from the config and expiring OAuth ones that survive restarts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import App
from bridge.directory import Directory
from bridge.store.db import Database


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


def _digest(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out live tokens.
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Finds the app behind a bearer token; issues client-credentials tokens."""

    def __init__(
        self,
        directory: Directory,
        db: Database,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.db = db
        self.ttl = ttl
        self.clock = clock
        self._issued: dict[str, tuple[str, float]] = {}  # digest -> (app name, expires_at)

    async def load(self) -> None:
        """Reads the unexpired issued tokens into memory and drops the expired ones."""
        now = self.clock()
        await self.db.execute("DELETE FROM oauth_tokens WHERE expires_at <= ?", (now,))
        rows = await self.db.fetchall("SELECT token_hash, app, expires_at FROM oauth_tokens")
        self._issued = {h: (app, exp) for h, app, exp in rows if app in self.directory.apps}

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

    def check_client(self, client_id: str, client_secret: str) -> App | None:
        """The app with these client credentials, compared in constant time."""
        app = self.directory.app_by_client_id(client_id)
        if app is None or app.client_secret is None:
            return None
        if not hmac.compare_digest(app.client_secret.encode(), client_secret.encode()):
            return None
        return app

    async def issue(self, app: App) -> IssuedToken:
        """A new random token for `app`, stored durably before it is handed out."""
        token = secrets.token_urlsafe(32)
        expires_at = self.clock() + self.ttl
        digest = _digest(token)
        await self.db.execute(
            "INSERT INTO oauth_tokens (token_hash, app, expires_at) VALUES (?, ?, ?)",
            (digest, app.name, expires_at),
        )
        self._issued[digest] = (app.name, expires_at)
        return IssuedToken(token, self.ttl)
