"""The schema of both backends, as numbered steps: one place for every table.

Each tuple moves its backend's schema one version up per entry (SQLite: PRAGMA user_version;
PostgreSQL: the `schema_version` table). Append only: never edit a step that has shipped, since a
database already past it will not run it again. A new store module adds its tables as one new step
at the end of BOTH tuples (same tables, each in its backend's types: REAL -> DOUBLE PRECISION,
BLOB -> BYTEA); `tests/store/test_migrations.py` checks that both backends end with the same
tables and columns.

Why this scheme and not a migration tool (yoyo, alembic): the steps run inside the bridge at
start, in the same transaction as the version bump, with no files to ship beside the wheel and no
second tracking table for the existing SQLite databases (which already count in user_version).
"""

from __future__ import annotations

SQLITE: tuple[str, ...] = (
    """
    CREATE TABLE oauth_tokens (
        token_hash TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
    """,
    """
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        user_id TEXT NOT NULL,
        app TEXT NOT NULL,
        nonce TEXT,
        published TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX calls_nonce ON calls (app, nonce) WHERE nonce IS NOT NULL;
    """,
    # What the request asked for (sources, destinations, caller ids, allowPublicTransfer), so
    # a call still up after a restart is shown as before.
    """
    ALTER TABLE calls ADD COLUMN plan TEXT NOT NULL DEFAULT '{}';
    """,
    # PhoneCallEvents: registrations, the durable outbox of deliveries, the attempt log.
    """
    CREATE TABLE phone_call_events (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        extension TEXT NOT NULL,
        type INTEGER NOT NULL,
        method INTEGER NOT NULL,
        url TEXT NOT NULL,
        note TEXT NOT NULL,
        status INTEGER NOT NULL,
        modified TEXT NOT NULL
    );
    CREATE INDEX phone_call_events_extension ON phone_call_events (extension, type);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        dedup TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_status INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_at);
    CREATE TABLE deliveries (
        delivery_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        status INTEGER,
        duration_ms REAL NOT NULL,
        error TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX deliveries_event ON deliveries (event_id, at);
    """,
    # Every registration signs with its own Standard Webhooks secret (`whsec_<base64>`);
    # retention purges by age.
    """
    ALTER TABLE phone_call_events ADD COLUMN secret TEXT NOT NULL DEFAULT '';
    UPDATE phone_call_events SET secret = 'whsec_' || random_base64(24) WHERE secret = '';
    CREATE INDEX deliveries_at ON deliveries (at);
    CREATE INDEX calls_created ON calls (created_at);
    """,
    # A nonce names a call only while it is live (the same nonce may place a new call once
    # that one ended), so it is no longer unique; the answers given to Idempotency-Key
    # requests are kept (24 hours) so that a retry gets the same answer after a restart.
    """
    DROP INDEX calls_nonce;
    CREATE INDEX calls_app_nonce ON calls (app, nonce) WHERE nonce IS NOT NULL;
    CREATE TABLE idempotency_keys (
        app TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (app, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    """,
    # Leases (owner, lease_until) are PostgreSQL's, where several bridges share the outbox;
    # the columns exist here too so that both backends hold the same rows.
    """
    ALTER TABLE outbox ADD COLUMN owner TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until REAL;
    """,
    # Call history (CDR, issue 13): one row per call, open (ended NULL) while it is live so
    # that a call gone across a restart is still recorded. `sources`/`destinations` hold the
    # parties as ",a,b," (scope and direction tests without a join). The parties of ended
    # calls, each with the columns a search tests, clustered by (party, role, at): a page or
    # the statistics of one number's calls is one range scan.
    """
    CREATE TABLE call_history (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        published REAL NOT NULL,
        answered REAL,
        at REAL NOT NULL,
        ended REAL,
        saved REAL NOT NULL,
        disposition INTEGER NOT NULL,
        flow INTEGER NOT NULL,
        nonce TEXT,
        sources TEXT NOT NULL,
        destinations TEXT NOT NULL,
        src_ext INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX call_history_at ON call_history (at, ended, disposition, flow, saved, extension,
                                                  src_ext, sources, destinations);
    CREATE INDEX call_history_saved ON call_history (saved);
    CREATE INDEX call_history_ended ON call_history (ended);
    CREATE TABLE call_history_parties (
        party TEXT NOT NULL,
        role TEXT NOT NULL,
        at REAL NOT NULL,
        call_id TEXT NOT NULL,
        extension TEXT NOT NULL,
        saved REAL NOT NULL,
        disposition INTEGER NOT NULL,
        flow INTEGER NOT NULL,
        sources TEXT NOT NULL,
        destinations TEXT NOT NULL,
        src_ext INTEGER NOT NULL,
        PRIMARY KEY (party, role, at, call_id)
    ) WITHOUT ROWID;
    CREATE INDEX call_history_parties_call ON call_history_parties (call_id);
    """,
    # Recordings (issue 25): one row per stopped recording (its id is ARI's stored-recording
    # name), and one per extension it is listed under, clustered by (extension, started): an
    # app's page of one extension's recordings is one range scan.
    """
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL,
        view_id TEXT NOT NULL,
        party TEXT NOT NULL,
        format TEXT NOT NULL,
        started REAL NOT NULL,
        ended REAL NOT NULL,
        node TEXT NOT NULL,
        size INTEGER,
        saved REAL NOT NULL
    );
    CREATE INDEX recordings_call ON recordings (call_id);
    CREATE TABLE recording_extensions (
        extension TEXT NOT NULL,
        started REAL NOT NULL,
        recording_id TEXT NOT NULL,
        PRIMARY KEY (extension, started, recording_id)
    ) WITHOUT ROWID;
    CREATE INDEX recording_extensions_recording ON recording_extensions (recording_id);
    """,
    # Issue 23, webhook recovery: a registration's custom headers (JSON), rate, order flag,
    # the previous secret during a rotation, why and since when it was disabled, and where its
    # health is counted from; an outbox row's app, Sequence and ordering key (app, url, call of
    # an ordered registration; '' when unordered).
    """
    ALTER TABLE phone_call_events ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE phone_call_events ADD COLUMN max_rate REAL NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
    ALTER TABLE phone_call_events ADD COLUMN previous_expires REAL NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE phone_call_events ADD COLUMN health_from REAL NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN app TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN ordering TEXT NOT NULL DEFAULT '';
    CREATE INDEX outbox_call ON outbox (call_id, app);
    CREATE INDEX outbox_ordering ON outbox (ordering, sequence) WHERE ordering <> '';
    CREATE INDEX outbox_event ON outbox (event_id, created_at);
    """,
    # Faxes (issue 25): sent (direction out) and received (in), one row per fax.
    """
    CREATE TABLE faxes (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        direction TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        pages INTEGER,
        error TEXT NOT NULL,
        created REAL NOT NULL,
        finished REAL,
        node TEXT NOT NULL,
        file TEXT NOT NULL
    );
    CREATE INDEX faxes_extension ON faxes (extension, created);
    """,
    # Call history (issue 27): what a record knows (domain.history.knowledge); with several
    # bridges on one store the better-informed record of a call is kept, not the first written.
    """
    ALTER TABLE call_history ADD COLUMN known INTEGER NOT NULL DEFAULT 0;
    """,
)

# PostgreSQL starts at today's schema (no PostgreSQL database predates it). Timestamps are
# epoch seconds in DOUBLE PRECISION (REAL is 4 bytes there); `nonces` holds the claim of each
# (app, nonce) that several bridges race for; a row is its latest call.
POSTGRES: tuple[str, ...] = (
    """
    CREATE TABLE oauth_tokens (
        token_hash TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
    CREATE TABLE calls (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        user_id TEXT NOT NULL,
        app TEXT NOT NULL,
        nonce TEXT,
        published TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        plan TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX calls_app_nonce ON calls (app, nonce) WHERE nonce IS NOT NULL;
    CREATE INDEX calls_created ON calls (created_at);
    CREATE TABLE nonces (
        app TEXT NOT NULL,
        nonce TEXT NOT NULL,
        call_id TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (app, nonce)
    );
    CREATE TABLE phone_call_events (
        id TEXT PRIMARY KEY,
        app TEXT NOT NULL,
        extension TEXT NOT NULL,
        type INTEGER NOT NULL,
        method INTEGER NOT NULL,
        url TEXT NOT NULL,
        note TEXT NOT NULL,
        status INTEGER NOT NULL,
        modified TEXT NOT NULL,
        secret TEXT NOT NULL
    );
    CREATE INDEX phone_call_events_extension ON phone_call_events (extension, type);
    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        dedup TEXT NOT NULL UNIQUE,
        call_id TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        next_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_status INTEGER,
        last_error TEXT,
        owner TEXT,
        lease_until DOUBLE PRECISION
    );
    CREATE INDEX outbox_due ON outbox (state, next_at);
    CREATE TABLE deliveries (
        delivery_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        status INTEGER,
        duration_ms DOUBLE PRECISION NOT NULL,
        error TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX deliveries_event ON deliveries (event_id, at);
    CREATE INDEX deliveries_at ON deliveries (at);
    CREATE TABLE idempotency_keys (
        app TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER NOT NULL,
        content_type TEXT NOT NULL,
        body BYTEA NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (app, key)
    );
    CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
    """,
    # Call history (issue 13), as in SQLite; `instr` as SQLite's (the history search's list
    # test: ",a,b," holds ",a,").
    """
    CREATE TABLE call_history (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        published DOUBLE PRECISION NOT NULL,
        answered DOUBLE PRECISION,
        at DOUBLE PRECISION NOT NULL,
        ended DOUBLE PRECISION,
        saved DOUBLE PRECISION NOT NULL,
        disposition INTEGER NOT NULL,
        flow INTEGER NOT NULL,
        nonce TEXT,
        sources TEXT NOT NULL,
        destinations TEXT NOT NULL,
        src_ext INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX call_history_at ON call_history (at, ended, disposition, flow, saved, extension,
                                                  src_ext, sources, destinations);
    CREATE INDEX call_history_saved ON call_history (saved);
    CREATE INDEX call_history_ended ON call_history (ended);
    CREATE TABLE call_history_parties (
        party TEXT NOT NULL,
        role TEXT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        call_id TEXT NOT NULL,
        extension TEXT NOT NULL,
        saved DOUBLE PRECISION NOT NULL,
        disposition INTEGER NOT NULL,
        flow INTEGER NOT NULL,
        sources TEXT NOT NULL,
        destinations TEXT NOT NULL,
        src_ext INTEGER NOT NULL,
        PRIMARY KEY (party, role, at, call_id)
    );
    CREATE INDEX call_history_parties_call ON call_history_parties (call_id);
    CREATE FUNCTION instr(text, text) RETURNS integer
        LANGUAGE sql IMMUTABLE STRICT AS 'SELECT strpos($1, $2)';
    """,
    # Recordings (issue 25), as in SQLite.
    """
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL,
        view_id TEXT NOT NULL,
        party TEXT NOT NULL,
        format TEXT NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        ended DOUBLE PRECISION NOT NULL,
        node TEXT NOT NULL,
        size BIGINT,
        saved DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX recordings_call ON recordings (call_id);
    CREATE TABLE recording_extensions (
        extension TEXT NOT NULL,
        started DOUBLE PRECISION NOT NULL,
        recording_id TEXT NOT NULL,
        PRIMARY KEY (extension, started, recording_id)
    );
    CREATE INDEX recording_extensions_recording ON recording_extensions (recording_id);
    """,
    # Issue 23, webhook recovery: a registration's custom headers (JSON), rate, order flag,
    # the previous secret during a rotation, why and since when it was disabled, and where its
    # health is counted from; an outbox row's app, Sequence and ordering key (app, url, call of
    # an ordered registration; '' when unordered).
    """
    ALTER TABLE phone_call_events ADD COLUMN headers TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE phone_call_events ADD COLUMN max_rate DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
    ALTER TABLE phone_call_events ADD COLUMN previous_expires DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE phone_call_events ADD COLUMN disabled_reason TEXT NOT NULL DEFAULT '';
    ALTER TABLE phone_call_events ADD COLUMN health_from DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN app TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN ordering TEXT NOT NULL DEFAULT '';
    CREATE INDEX outbox_call ON outbox (call_id, app);
    CREATE INDEX outbox_ordering ON outbox (ordering, sequence) WHERE ordering <> '';
    CREATE INDEX outbox_event ON outbox (event_id, created_at);
    """,
    # Faxes (issue 25), as in SQLite: sent (direction out) and received (in), one row per fax.
    """
    CREATE TABLE faxes (
        id TEXT PRIMARY KEY,
        extension TEXT NOT NULL,
        direction TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        pages INTEGER,
        error TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION,
        node TEXT NOT NULL,
        file TEXT NOT NULL
    );
    CREATE INDEX faxes_extension ON faxes (extension, created);
    """,
    # Call history (issue 27): what a record knows (domain.history.knowledge); with several
    # bridges on one store the better-informed record of a call is kept, not the first written.
    """
    ALTER TABLE call_history ADD COLUMN known INTEGER NOT NULL DEFAULT 0;
    """,
)
