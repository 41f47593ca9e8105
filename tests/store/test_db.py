"""SQLite store: migrations move the schema up once, and refuse a newer schema."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from bridge.store import db as db_iface
from bridge.store import sqlite as db_mod


def test_migrate_creates_schema_and_is_idempotent(tmp_path: Path) -> None:
    """A fresh file gets every migration; running again changes nothing."""
    conn = sqlite3.connect(tmp_path / "a.sqlite3", isolation_level=None)
    assert db_mod.migrate(conn) == len(db_mod.MIGRATIONS)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(db_mod.MIGRATIONS)
    assert db_mod.migrate(conn) == len(db_mod.MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "oauth_tokens" in tables


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer bridge is not touched."""
    conn = sqlite3.connect(tmp_path / "b.sqlite3", isolation_level=None)
    conn.execute("PRAGMA user_version = 999")
    with pytest.raises(db_iface.StoreError, match="newer"):
        db_mod.migrate(conn)


async def test_database_roundtrip_and_folder_creation(tmp_path: Path) -> None:
    """Database creates its folder, writes off the loop and reads back."""
    db = db_mod.SqliteDatabase(tmp_path / "sub" / "dir" / "c.sqlite3")
    await db.open()
    await db.execute("INSERT INTO oauth_tokens VALUES (?, ?, ?)", ("h", "crm", 1.0))
    assert await db.fetchall("SELECT app FROM oauth_tokens") == [("crm",)]
    await db.close()


async def test_execute_each_counts_every_row_in_order_inside_the_session(tmp_path: Path) -> None:
    """SQLite runs a session's rows in one worker-thread hop; each row's count comes back in
    order (a conflict that changes nothing counts 0), and a failed session keeps none."""
    db = db_mod.SqliteDatabase(tmp_path / "e.sqlite3")
    await db.open()
    sql = "INSERT INTO oauth_tokens VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    async with db.session() as session:
        counts = await session.execute_each(
            sql, [("a", "crm", 1.0), ("a", "x", 2.0), ("b", "y", 3.0)]
        )
    assert counts == [1, 0, 1]

    async def failing() -> None:
        async with db.session() as session:
            await session.execute_each(sql, [("c", "z", 4.0)])
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await failing()
    assert await db.fetchall("SELECT token_hash, app FROM oauth_tokens ORDER BY token_hash") == [
        ("a", "crm"),
        ("b", "y"),
    ]
    await db.close()


async def test_unopenable_path(tmp_path: Path) -> None:
    """A path that cannot be a database is a StoreError, not a raw sqlite3 error."""
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(db_iface.StoreError):
        await db_mod.SqliteDatabase(tmp_path / "dir.sqlite3").open()


def test_existing_registrations_get_their_own_secret_when_migrated(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registrations made before secrets existed each get a whsec_ secret of their own,
    which the Standard Webhooks library accepts."""
    step = next(i for i, m in enumerate(db_mod.MIGRATIONS) if "random_base64" in m)
    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    monkeypatch.setattr(db_mod, "MIGRATIONS", db_mod.MIGRATIONS[:step])
    db_mod.migrate(conn)
    conn.executemany(
        "INSERT INTO phone_call_events (id, app, extension, type, method, url, note, status, "
        "modified) VALUES (?, 'crm', '0003*210', 2, 1, 'https://a.example/h', '', 0, 'x')",
        [("one",), ("two",)],
    )
    monkeypatch.undo()
    db_mod.migrate(conn)
    secrets = [r[0] for r in conn.execute("SELECT secret FROM phone_call_events")]
    assert len(set(secrets)) == 2
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret[6:], validate=True)) == 24
        Webhook(secret)  # the reference library takes it as a secret


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    return sorted(rows)


def test_database_of_a_single_sqlite_bridge_at_version_6_moves_up(tmp_path: Path) -> None:
    """A file written by the SQLite-only bridge (user_version 6: migrations 1-6, webhook
    secrets and retention last) keeps its rows and ends with a fresh file's schema."""
    old = sqlite3.connect(tmp_path / "v6.sqlite3", isolation_level=None)
    old.create_function("random_base64", 1, db_mod._random_base64)
    for number, script in enumerate(db_mod.MIGRATIONS[:6]):
        old.executescript(script)
        old.execute(f"PRAGMA user_version = {number + 1}")
    old.execute("INSERT INTO oauth_tokens VALUES ('h', 'crm', 1.0)")
    assert db_mod.migrate(old) == len(db_mod.MIGRATIONS) > 6
    fresh = sqlite3.connect(tmp_path / "fresh.sqlite3", isolation_level=None)
    db_mod.migrate(fresh)
    assert _schema(old) == _schema(fresh)
    assert old.execute("SELECT app FROM oauth_tokens").fetchall() == [("crm",)]
