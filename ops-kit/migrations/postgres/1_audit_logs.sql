-- The audit trail of ops-kit. Entries are grouped in one hash chain per
-- tenant (`tenant_key` is the tenant id as text, or '' for entries without
-- a tenant); `seq` numbers the entries of a chain from 1.
CREATE TABLE audit_logs (
    tenant_key    text        NOT NULL,
    seq           bigint      NOT NULL,
    id            uuid        NOT NULL,
    tenant_id     uuid,
    user_id       uuid,
    occurred_at   timestamptz NOT NULL,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text,
    changes       jsonb,
    ip_address    text,
    user_agent    text,
    request_id    text        NOT NULL,
    prev_hash     bytea       NOT NULL,
    hash          bytea       NOT NULL,
    PRIMARY KEY (tenant_key, seq),
    UNIQUE (tenant_key, id)
);

-- The questions people ask: what happened to this resource, and what
-- happened in this tenant lately.
CREATE INDEX audit_logs_by_resource ON audit_logs (tenant_id, resource_type, resource_id, occurred_at DESC);
CREATE INDEX audit_logs_by_time ON audit_logs (tenant_id, occurred_at DESC);

-- The newest link of each chain. Writers lock its row (INSERT … ON
-- CONFLICT DO UPDATE) for the rest of their transaction, so concurrent
-- writers of one tenant take turns and the chain cannot fork.
CREATE TABLE audit_chain_heads (
    tenant_key text  PRIMARY KEY,
    seq        bigint NOT NULL,
    prev_hash  bytea  NOT NULL,
    last_hash  bytea  NOT NULL
);

-- Append-only, whatever the role's grants: updates, deletes and truncation
-- are refused.
CREATE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_logs_append_only
    BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only();

CREATE TRIGGER audit_logs_no_truncate
    BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only();
