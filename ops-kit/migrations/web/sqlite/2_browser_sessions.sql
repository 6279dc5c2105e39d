-- Browser sessions of ops_kit::web::Sessions; see the PostgreSQL migration.
-- Ids are 16-byte blobs, times Unix seconds.
CREATE TABLE browser_sessions (
    id_hash      TEXT    PRIMARY KEY,
    tenant_id    BLOB    NOT NULL,
    user_id      BLOB    NOT NULL,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX browser_sessions_by_user ON browser_sessions (tenant_id, user_id);
