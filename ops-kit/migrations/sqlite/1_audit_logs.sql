-- The audit trail of ops-kit; see the PostgreSQL migration for the design.
-- Ids are 16-byte blobs, timestamps RFC 3339 text, `changes` JSON text.
CREATE TABLE audit_logs (
    tenant_key    TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    id            BLOB    NOT NULL,
    tenant_id     BLOB,
    user_id       BLOB,
    occurred_at   TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    resource_type TEXT    NOT NULL,
    resource_id   TEXT,
    changes       TEXT,
    ip_address    TEXT,
    user_agent    TEXT,
    request_id    TEXT    NOT NULL,
    prev_hash     BLOB    NOT NULL,
    hash          BLOB    NOT NULL,
    PRIMARY KEY (tenant_key, seq),
    UNIQUE (tenant_key, id)
);

CREATE INDEX audit_logs_by_resource ON audit_logs (tenant_id, resource_type, resource_id, occurred_at DESC);
CREATE INDEX audit_logs_by_time ON audit_logs (tenant_id, occurred_at DESC);

CREATE TABLE audit_chain_heads (
    tenant_key TEXT    PRIMARY KEY,
    seq        INTEGER NOT NULL,
    prev_hash  BLOB    NOT NULL,
    last_hash  BLOB    NOT NULL
);

CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE is not allowed');
END;
