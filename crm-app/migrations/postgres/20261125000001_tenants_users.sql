-- Tenants, their users, and refresh tokens. Every tenant-owned table leads
-- its primary key with tenant_id and every foreign key between them
-- includes it, so that the schema can be distributed by tenant.

CREATE TABLE tenants (
    id         uuid        PRIMARY KEY,
    name       text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL
);

-- Login happens before the tenant is known: this table maps an email to
-- its tenant and user, and holds nothing else (no hash, no name). It is
-- the one table outside Row-Level Security. Emails are unique across the
-- service and stored lowercased.
CREATE TABLE user_logins (
    email     text PRIMARY KEY CHECK (email = lower(email)),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    user_id   uuid NOT NULL
);

CREATE TABLE users (
    tenant_id     uuid        NOT NULL REFERENCES tenants (id),
    id            uuid        NOT NULL,
    email         text        NOT NULL CHECK (email = lower(email)),
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('admin', 'member')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE refresh_tokens (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL, -- the token's jti
    user_id    uuid        NOT NULL,
    family_id  uuid        NOT NULL, -- every token of one login
    token_hash bytea       NOT NULL, -- SHA-256 of the token; the token itself is never stored
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (tenant_id, family_id);

-- Row-Level Security: a second wall behind the queries' own tenant filters.
-- The tenant comes from a transaction-local setting made by each request's
-- transaction; without it nothing is visible (fail closed). FORCE applies
-- the policies to the tables' owner too; superusers and BYPASSRLS roles
-- still bypass them, so the service must not connect as one.
CREATE FUNCTION app_tenant() RETURNS uuid LANGUAGE sql STABLE AS
$$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_tenant()) WITH CHECK (id = app_tenant());

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
