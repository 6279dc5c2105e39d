-- Leads (prospective jobs), their status history, the activities around
-- them, and the stored answers of idempotent requests. Every table is
-- tenant-owned: the primary key leads with tenant_id and Row-Level
-- Security filters by the request's tenant.
--
-- Money is stored as a whole number of ten-thousandths of the currency's
-- unit (`*_e4`), exact on both databases and enough for every ISO 4217
-- minor unit.

CREATE TABLE leads (
    tenant_id            uuid        NOT NULL REFERENCES tenants (id),
    id                   uuid        NOT NULL,
    external_id          text,
    name                 text        NOT NULL,
    company              text,
    email                text,
    email_key            text        CHECK (email_key = lower(email_key)),
    phone                text,
    source               text        NOT NULL,
    project_type         text        NOT NULL,
    estimated_value_e4   bigint      CHECK (estimated_value_e4 >= 0),
    currency             text,
    site_address         text,
    desired_install_date date,
    owner_user_id        uuid,
    tags                 jsonb       NOT NULL DEFAULT '[]',
    notes                text,
    status               text        NOT NULL,
    lost_reason          text,
    status_changed_at    timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    deleted_at           timestamptz,
    version              bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id),
    CHECK ((estimated_value_e4 IS NULL) = (currency IS NULL))
);
-- Upsert matching keys, unique per tenant (deleted leads keep theirs).
CREATE UNIQUE INDEX leads_external_id ON leads (tenant_id, external_id);
CREATE UNIQUE INDEX leads_email_key ON leads (tenant_id, email_key);
-- The list's sort orders; each ends with id so pages are stable.
CREATE INDEX leads_by_created ON leads (tenant_id, created_at, id);
CREATE INDEX leads_by_updated ON leads (tenant_id, updated_at, id);
CREATE INDEX leads_by_name ON leads (tenant_id, name, id);
CREATE INDEX leads_by_status ON leads (tenant_id, status, created_at, id);

CREATE TABLE lead_status_events (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    lead_id     uuid        NOT NULL,
    from_status text,
    to_status   text        NOT NULL,
    lost_reason text,
    note        text,
    user_id     uuid,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
);
CREATE INDEX lead_status_events_by_lead ON lead_status_events (tenant_id, lead_id, occurred_at, id);

CREATE TABLE activities (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    lead_id          uuid        NOT NULL,
    type             text        NOT NULL,
    subject          text        NOT NULL,
    body             text,
    direction        text,
    due_at           timestamptz,
    occurred_at      timestamptz,
    duration_minutes integer,
    completed_at     timestamptz,
    outcome          text,
    assigned_user_id uuid,
    created_by       uuid,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    version          bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX activities_by_created ON activities (tenant_id, created_at, id);
CREATE INDEX activities_by_lead ON activities (tenant_id, lead_id, created_at, id);
CREATE INDEX activities_by_due ON activities (tenant_id, due_at, id);

-- The first answer to each Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id    uuid        NOT NULL,
    key          text        NOT NULL,
    route        text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    body         text        NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON leads USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE lead_status_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_status_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_status_events USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON activities USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
