-- See the PostgreSQL migration; SQLite has no Row-Level Security, so the
-- queries' tenant filters are the only wall. Ids are 16-byte blobs, times
-- RFC 3339 text, dates YYYY-MM-DD.

CREATE TABLE leads (
    tenant_id            BLOB        NOT NULL REFERENCES tenants (id),
    id                   BLOB        NOT NULL,
    external_id          TEXT,
    name                 TEXT        NOT NULL,
    company              TEXT,
    email                TEXT,
    email_key            TEXT        CHECK (email_key = lower(email_key)),
    phone                TEXT,
    source               TEXT        NOT NULL,
    project_type         TEXT        NOT NULL,
    estimated_value_e4   INTEGER      CHECK (estimated_value_e4 >= 0),
    currency             TEXT,
    site_address         TEXT,
    desired_install_date TEXT,
    owner_user_id        BLOB,
    tags                 TEXT        NOT NULL DEFAULT '[]',
    notes                TEXT,
    status               TEXT        NOT NULL,
    lost_reason          TEXT,
    status_changed_at    TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    deleted_at           TEXT,
    version              INTEGER      NOT NULL DEFAULT 1,
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
    tenant_id   BLOB        NOT NULL,
    id          BLOB        NOT NULL,
    lead_id     BLOB        NOT NULL,
    from_status TEXT,
    to_status   TEXT        NOT NULL,
    lost_reason TEXT,
    note        TEXT,
    user_id     BLOB,
    occurred_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id)
);
CREATE INDEX lead_status_events_by_lead ON lead_status_events (tenant_id, lead_id, occurred_at, id);

CREATE TABLE activities (
    tenant_id        BLOB        NOT NULL,
    id               BLOB        NOT NULL,
    lead_id          BLOB        NOT NULL,
    type             TEXT        NOT NULL,
    subject          TEXT        NOT NULL,
    body             TEXT,
    direction        TEXT,
    due_at           TEXT,
    occurred_at      TEXT,
    duration_minutes INTEGER,
    completed_at     TEXT,
    outcome          TEXT,
    assigned_user_id BLOB,
    created_by       BLOB,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT,
    version          INTEGER      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    FOREIGN KEY (tenant_id, assigned_user_id) REFERENCES users (tenant_id, id)
);
CREATE INDEX activities_by_created ON activities (tenant_id, created_at, id);
CREATE INDEX activities_by_lead ON activities (tenant_id, lead_id, created_at, id);
CREATE INDEX activities_by_due ON activities (tenant_id, due_at, id);

-- The first answer to each Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    tenant_id    BLOB        NOT NULL,
    key          TEXT        NOT NULL,
    route        TEXT        NOT NULL,
    request_hash BLOB       NOT NULL,
    status       INTEGER     NOT NULL,
    body         TEXT        NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
