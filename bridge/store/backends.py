"""Picks the store backend the config names."""

from __future__ import annotations

from typing import Protocol

from bridge.store.db import Database
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import SqliteDatabase


class Storage(Protocol):
    """The `storage:` config section (bridge.config.StorageConfig; the store does not import
    the config: import-linter's no-cycle contract)."""

    @property
    def path(self) -> str: ...

    @property
    def url(self) -> str: ...


def open_database(storage: Storage) -> Database:
    """PostgreSQL for `storage.url`, else the SQLite file at `storage.path` (not yet opened)."""
    if storage.url:
        return PostgresDatabase(storage.url)
    return SqliteDatabase(storage.path)
