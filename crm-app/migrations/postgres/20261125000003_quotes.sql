-- Quotes: a lead's job priced line by line. Quantities and prices are
-- exact decimal strings as sent (sub-cent precision allowed); computed
-- amounts are whole minor units of the quote's currency. A revision is a
-- new row with the same quote_number.

CREATE TABLE quotes (
    tenant_id           uuid        NOT NULL REFERENCES tenants (id),
    id                  uuid        NOT NULL,
    lead_id             uuid        NOT NULL,
    external_id         text,
    quote_number        bigint      NOT NULL,
    revision            integer     NOT NULL,
    supersedes_quote_id uuid,
    title               text        NOT NULL,
    status              text        NOT NULL,
    currency            text        NOT NULL,
    valid_until         date        NOT NULL,
    terms               text,
    notes               text,
    discount_type       text,
    discount_value      text,
    subtotal_minor      bigint      NOT NULL,
    discount_minor      bigint      NOT NULL,
    tax_minor           bigint      NOT NULL,
    total_minor         bigint      NOT NULL,
    sent_at             timestamptz,
    accepted_at         timestamptz,
    rejected_at         timestamptz,
    rejection_reason    text,
    created_by          uuid,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    version             bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, lead_id) REFERENCES leads (tenant_id, id),
    UNIQUE (tenant_id, quote_number, revision)
);
CREATE UNIQUE INDEX quotes_external_id ON quotes (tenant_id, external_id);
CREATE INDEX quotes_by_created ON quotes (tenant_id, created_at, id);
CREATE INDEX quotes_by_lead ON quotes (tenant_id, lead_id, created_at, id);

CREATE TABLE quote_lines (
    tenant_id           uuid    NOT NULL,
    id                  uuid    NOT NULL,
    quote_id            uuid    NOT NULL,
    position            integer NOT NULL,
    section             text,
    kind                text    NOT NULL,
    name                text    NOT NULL,
    description         text,
    sku                 text,
    material            text,
    finish              text,
    width_mm            integer,
    height_mm           integer,
    depth_mm            integer,
    unit                text    NOT NULL,
    quantity            text    NOT NULL,
    unit_price          text    NOT NULL,
    unit_cost           text,
    discount_type       text,
    discount_value      text,
    taxable             boolean NOT NULL,
    tax_rate            text    NOT NULL,
    subtotal_minor      bigint  NOT NULL,
    discount_minor      bigint  NOT NULL,
    quote_discount_minor bigint NOT NULL,
    tax_minor           bigint  NOT NULL,
    total_minor         bigint  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, quote_id) REFERENCES quotes (tenant_id, id)
);
CREATE INDEX quote_lines_by_quote ON quote_lines (tenant_id, quote_id, position);

-- The last quote number of each tenant. Taking the next one updates this
-- row, which stays locked until the transaction ends: numbers are handed
-- out one at a time, and a rolled-back quote gives its number back.
CREATE TABLE quote_counters (
    tenant_id   uuid   PRIMARY KEY REFERENCES tenants (id),
    last_number bigint NOT NULL
);

-- What happened to quotes, for the lead's timeline.
CREATE TABLE quote_events (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    quote_id    uuid        NOT NULL,
    lead_id     uuid        NOT NULL,
    action      text        NOT NULL,
    user_id     uuid,
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX quote_events_by_lead ON quote_events (tenant_id, lead_id, occurred_at, id);

ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quotes USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE quote_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quote_lines USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE quote_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_counters FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quote_counters USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());

ALTER TABLE quote_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quote_events USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
