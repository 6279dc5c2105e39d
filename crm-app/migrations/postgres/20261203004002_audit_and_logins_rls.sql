-- Row-Level Security on the last tables without it: the audit trail
-- (created by ops-kit, keyed by tenant_key, the tenant id as text or ''
-- for entries without a tenant) and user_logins. As on the other tables,
-- a transaction without a tenant sees none of their rows.

-- An audit chain is visible to the transaction of its tenant; the chain of
-- entries without a tenant to a transaction that ops-kit's audit::insert
-- marked with app.audit_anonymous while it writes one; every chain to the
-- tables' owner (the migration role), whose verify-audit must read them
-- all. The service's role owns nothing, so none of that applies to it.
CREATE FUNCTION audit_chain_visible(key text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT key = app_tenant()::text
        OR (key = '' AND current_setting('app.audit_anonymous', true) = 'on')
        OR pg_has_role(current_user,
                       (SELECT relowner FROM pg_class WHERE oid = 'audit_logs'::regclass),
                       'USAGE')
$$;

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_logs FORCE ROW LEVEL SECURITY;
CREATE POLICY chain_isolation ON audit_logs
    USING (audit_chain_visible(tenant_key)) WITH CHECK (audit_chain_visible(tenant_key));

ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY chain_isolation ON audit_chain_heads
    USING (audit_chain_visible(tenant_key)) WITH CHECK (audit_chain_visible(tenant_key));

-- Login reads user_logins before any tenant is known. Its transaction
-- names the address it looks up (app.login_email: the address, or its
-- forms one per line) and sees that address's rows only; listing the
-- table is never possible. Everything else is the tenant's own rows.
ALTER TABLE user_logins ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_logins FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON user_logins
    USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
CREATE POLICY login_lookup ON user_logins FOR SELECT
    USING (email = ANY (string_to_array(NULLIF(current_setting('app.login_email', true), ''), E'\n')));
