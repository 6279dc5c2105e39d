-- Tenants, their users, and refresh tokens (see the PostgreSQL migration;
-- SQLite has no Row-Level Security, so the queries' tenant filters are the
-- only wall). Ids are 16-byte blobs, times RFC 3339 text.

CREATE TABLE tenants (
    id         BLOB PRIMARY KEY,
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at TEXT NOT NULL
);

CREATE TABLE user_logins (
    email     TEXT PRIMARY KEY CHECK (email = lower(email)),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    user_id   BLOB NOT NULL
);

CREATE TABLE users (
    tenant_id     BLOB NOT NULL REFERENCES tenants (id),
    id            BLOB NOT NULL,
    email         TEXT NOT NULL CHECK (email = lower(email)),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE refresh_tokens (
    tenant_id  BLOB NOT NULL,
    id         BLOB NOT NULL,
    user_id    BLOB NOT NULL,
    family_id  BLOB NOT NULL,
    token_hash BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (tenant_id, family_id);
