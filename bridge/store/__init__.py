"""Storage behind one interface (db.py): SQLite (off the event loop) or PostgreSQL (storage.url,
shared by several bridges); migrations, placed calls, webhooks, idempotency, call history,
retention."""
