-- See the PostgreSQL migration.

CREATE TABLE lead_imports (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (id),
    id           BLOB    NOT NULL,
    created_by   BLOB    NOT NULL,
    file_name    TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('previewed', 'running', 'done')),
    rows         TEXT    NOT NULL,
    refused      TEXT    NOT NULL DEFAULT '[]',
    ignored      TEXT    NOT NULL DEFAULT '[]',
    total        INTEGER NOT NULL,
    processed    INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL DEFAULT 0,
    updated      INTEGER NOT NULL DEFAULT 0,
    unchanged    INTEGER NOT NULL DEFAULT 0,
    failed       TEXT    NOT NULL DEFAULT '[]',
    created_at   TEXT    NOT NULL,
    heartbeat_at TEXT,
    finished_at  TEXT,
    PRIMARY KEY (tenant_id, id)
);
