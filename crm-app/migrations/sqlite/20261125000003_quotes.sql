-- See the PostgreSQL migration; SQLite has no Row-Level Security, so the
-- queries' tenant filters are the only wall. Ids are 16-byte blobs, times
-- RFC 3339 text, dates YYYY-MM-DD, booleans 0/1.
CREATE TABLE quotes (
    tenant_id           BLOB        NOT NULL REFERENCES tenants (id),
    id                  BLOB        NOT NULL,
    lead_id             BLOB        NOT NULL,
    external_id         TEXT,
    quote_number        INTEGER      NOT NULL,
    revision            INTEGER     NOT NULL,
    supersedes_quote_id BLOB,
    title               TEXT        NOT NULL,
    status              TEXT        NOT NULL,
    currency            TEXT        NOT NULL,
    valid_until         TEXT        NOT NULL,
    terms               TEXT,
    notes               TEXT,
    discount_type       TEXT,
    discount_value      TEXT,
    subtotal_minor      INTEGER      NOT NULL,
    discount_minor      INTEGER      NOT NULL,
    tax_minor           INTEGER      NOT NULL,
    total_minor         INTEGER      NOT NULL,
    sent_at             TEXT,
    accepted_at         TEXT,
    rejected_at         TEXT,
    rejection_reason    TEXT,
    created_by          BLOB,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    version             INTEGER      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    UNIQUE (tenant_id, quote_number, revision)
);
CREATE UNIQUE INDEX quotes_external_id ON quotes (tenant_id, external_id);
CREATE INDEX quotes_by_created ON quotes (tenant_id, created_at, id);
CREATE INDEX quotes_by_lead ON quotes (tenant_id, lead_id, created_at, id);

CREATE TABLE quote_lines (
    tenant_id           BLOB    NOT NULL,
    id                  BLOB    NOT NULL,
    quote_id            BLOB    NOT NULL,
    position            INTEGER NOT NULL,
    section             TEXT,
    kind                TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    description         TEXT,
    sku                 TEXT,
    material            TEXT,
    finish              TEXT,
    width_mm            INTEGER,
    height_mm           INTEGER,
    depth_mm            INTEGER,
    unit                TEXT    NOT NULL,
    quantity            TEXT    NOT NULL,
    unit_price          TEXT    NOT NULL,
    unit_cost           TEXT,
    discount_type       TEXT,
    discount_value      TEXT,
    taxable             INTEGER NOT NULL,
    tax_rate            TEXT    NOT NULL,
    subtotal_minor      INTEGER  NOT NULL,
    discount_minor      INTEGER  NOT NULL,
    quote_discount_minor INTEGER NOT NULL,
    tax_minor           INTEGER  NOT NULL,
    total_minor         INTEGER  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, quote_id) REFERENCES quotes (tenant_id, id)
);
CREATE INDEX quote_lines_by_quote ON quote_lines (tenant_id, quote_id, position);

-- The last quote number of each tenant. Taking the next one updates this
-- row, which stays locked until the transaction ends: numbers are handed
-- out one at a time, and a rolled-back quote gives its number back.
CREATE TABLE quote_counters (
    tenant_id   BLOB   PRIMARY KEY REFERENCES tenants (id),
    last_number INTEGER NOT NULL
);

-- What happened to quotes, for the lead's timeline.
CREATE TABLE quote_events (
    tenant_id   BLOB        NOT NULL,
    id          BLOB        NOT NULL,
    quote_id    BLOB        NOT NULL,
    lead_id     BLOB        NOT NULL,
    action      TEXT        NOT NULL,
    user_id     BLOB,
    occurred_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX quote_events_by_lead ON quote_events (tenant_id, lead_id, occurred_at, id);
