-- Browser sessions of ops_kit::web::Sessions. The cookie's token is never
-- stored: only its SHA-256 digest (hex), so a copy of this table signs no
-- one in. Sessions are looked up before the tenant is known, so the table
-- has no Row-Level Security; the digest is the only key a request has.
CREATE TABLE browser_sessions (
    id_hash      TEXT   PRIMARY KEY,
    tenant_id    UUID   NOT NULL,
    user_id      UUID   NOT NULL,
    csrf_token   TEXT   NOT NULL,
    -- Unix seconds.
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Sign out everywhere, and a removed user's sessions.
CREATE INDEX browser_sessions_by_user ON browser_sessions (tenant_id, user_id);
