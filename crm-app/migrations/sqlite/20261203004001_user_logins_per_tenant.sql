-- One email may hold an account in several tenants, one per tenant (see
-- the PostgreSQL migration). SQLite cannot change a primary key in place.
CREATE TABLE user_logins_per_tenant (
    email     TEXT NOT NULL CHECK (email = lower(email)),
    tenant_id BLOB NOT NULL REFERENCES tenants (id),
    user_id   BLOB NOT NULL,
    PRIMARY KEY (email, tenant_id)
);
INSERT INTO user_logins_per_tenant (email, tenant_id, user_id)
    SELECT email, tenant_id, user_id FROM user_logins;
DROP TABLE user_logins;
ALTER TABLE user_logins_per_tenant RENAME TO user_logins;
