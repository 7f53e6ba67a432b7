"""The SQLite journal's schema, as the migrations that build it: version N is the first N.

A journal from any earlier release upgrades in order at open; never edit a shipped one.
"""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id),
        hook TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        commit_sha TEXT,
        exit_code INTEGER,
        stdout TEXT NOT NULL DEFAULT '',
        stderr TEXT NOT NULL DEFAULT '',
        truncated INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        duration_s REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX runs_due ON runs(status, next_at);
    CREATE INDEX runs_event ON runs(event_id);
    CREATE TABLE deliveries (
        key TEXT PRIMARY KEY,
        response TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        state TEXT NOT NULL,
        requester TEXT NOT NULL,
        fields TEXT NOT NULL,
        duration_s REAL NOT NULL,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        escalated_at REAL,
        expires_at REAL
    );
    CREATE INDEX requests_state ON requests(state, created_at);
    CREATE TABLE request_history (
        request_id TEXT NOT NULL REFERENCES requests(id),
        event TEXT NOT NULL,
        actor TEXT,
        at REAL NOT NULL,
        message TEXT
    );
    CREATE INDEX request_history_request ON request_history(request_id);
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id),
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        done_at REAL
    );
    CREATE INDEX timers_due ON timers(done_at, due_at);
    """,
    # Deliveries get a namespace per source. Old keys carried it as a prefix, and a hoop
    # webhook and a Standard-Webhooks push shared ``webhook:``; a push created no event,
    # so its recorded answer has an empty event id.
    """
    CREATE TABLE delivery_keys (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    INSERT INTO delivery_keys (source, key, response, created_at)
    SELECT
        CASE
            WHEN key LIKE 'idem:flow:%' THEN 'flow_request'
            WHEN key LIKE 'idem:%' THEN 'session'
            WHEN key LIKE 'webhook:%' AND json_extract(response, '$.event_id') <> ''
                THEN 'hoop_webhook'
            ELSE 'git_webhook'
        END,
        CASE
            WHEN key LIKE 'idem:flow:%' THEN key
            WHEN key LIKE 'idem:%' THEN substr(key, 6)
            WHEN key LIKE 'webhook:%' AND json_extract(response, '$.event_id') <> ''
                THEN substr(key, 9)
            ELSE key
        END,
        response,
        created_at
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE delivery_keys RENAME TO deliveries;
    """,
    """
    ALTER TABLE runs ADD COLUMN peak_memory_bytes INTEGER;
    ALTER TABLE runs ADD COLUMN cpu_s REAL;
    """,
    """
    ALTER TABLE requests ADD COLUMN step_outputs TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE request_history ADD COLUMN transition INTEGER NOT NULL DEFAULT 1;
    """,
    """
    ALTER TABLE runs ADD COLUMN replay_of TEXT REFERENCES runs(id);
    """,
    # The Slack outbox: one row per message about a request. ``due_at`` is set while the
    # message has something new to say (posting it, or updating it in place), NULL once
    # Slack has the request's state ``sent_state``.
    """
    CREATE TABLE slack_messages (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id),
        kind TEXT NOT NULL,
        integration TEXT NOT NULL,
        target TEXT NOT NULL,
        channel TEXT,
        ts TEXT,
        sent_state TEXT,
        due_at REAL,
        attempt INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX slack_messages_due ON slack_messages(due_at);
    CREATE INDEX slack_messages_request ON slack_messages(request_id);
    """,
    # Deliveries keep what they created in columns; runs call their lifecycle ``state``
    # (``outcome`` is the executor's); runs, timers and Slack messages carry a host's lease.
    """
    CREATE TABLE deliveries_by_column (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        event_id TEXT,
        request_id TEXT,
        created_at REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    INSERT INTO deliveries_by_column (source, key, event_id, request_id, created_at)
    SELECT source, key, NULLIF(json_extract(response, '$.event_id'), ''),
        json_extract(response, '$.request_id'), created_at
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_by_column RENAME TO deliveries;
    ALTER TABLE runs RENAME COLUMN status TO state;
    ALTER TABLE runs ADD COLUMN lease_owner TEXT;
    ALTER TABLE runs ADD COLUMN lease_until REAL;
    ALTER TABLE timers ADD COLUMN lease_owner TEXT;
    ALTER TABLE timers ADD COLUMN lease_until REAL;
    ALTER TABLE slack_messages ADD COLUMN lease_owner TEXT;
    ALTER TABLE slack_messages ADD COLUMN lease_until REAL;
    """,
)
