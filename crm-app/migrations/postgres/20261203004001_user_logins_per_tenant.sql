-- One email may hold an account in several tenants, one per tenant (as
-- users already allows with UNIQUE (tenant_id, email)). With emails unique
-- across the service, adding a user whose address another tenant holds
-- could only fail, and the failure told a tenant's admin that the address
-- is registered elsewhere. Login finds every account of an email here and
-- checks the password against each (docs/tenancy.md).
ALTER TABLE user_logins DROP CONSTRAINT user_logins_pkey;
ALTER TABLE user_logins ADD PRIMARY KEY (email, tenant_id);
