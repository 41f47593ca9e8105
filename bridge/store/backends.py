"""Picks the store backend the config names."""

from __future__ import annotations

from bridge.config import StorageConfig
from bridge.store.db import Database
from bridge.store.postgres import PostgresDatabase
from bridge.store.sqlite import SqliteDatabase


def open_database(storage: StorageConfig) -> Database:
    """PostgreSQL for `storage.url`, else the SQLite file at `storage.path` (not yet opened)."""
    if storage.url:
        return PostgresDatabase(storage.url)
    return SqliteDatabase(storage.path)
