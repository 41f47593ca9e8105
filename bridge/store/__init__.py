"""SQLite storage, used off the event loop: migrations, placed calls, webhooks, idempotency."""
