-- See the PostgreSQL migration: the pipeline summary per tenant, status and
-- currency, kept by triggers in the same transaction as each change to a
-- lead. A sum past 2^63 turns into a floating-point value here (SQLite has
-- no wider integer); PostgreSQL keeps it exact.

CREATE TABLE lead_pipeline_totals (
    tenant_id  BLOB    NOT NULL REFERENCES tenants (id),
    status     TEXT    NOT NULL,
    currency   TEXT    NOT NULL,  -- '' for leads without an estimated value
    lead_count INTEGER NOT NULL,
    value_e4   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, status, currency)
);

INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
SELECT tenant_id, status, coalesce(currency, ''), count(*), coalesce(sum(estimated_value_e4), 0)
  FROM leads WHERE deleted_at IS NULL GROUP BY 1, 2, 3;

CREATE TRIGGER leads_pipeline_totals_insert AFTER INSERT ON leads
WHEN NEW.deleted_at IS NULL
BEGIN
    INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
    VALUES (NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 1, coalesce(NEW.estimated_value_e4, 0))
    ON CONFLICT (tenant_id, status, currency)
    DO UPDATE SET lead_count = lead_count + excluded.lead_count, value_e4 = value_e4 + excluded.value_e4;
END;

CREATE TRIGGER leads_pipeline_totals_delete AFTER DELETE ON leads
WHEN OLD.deleted_at IS NULL
BEGIN
    INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
    VALUES (OLD.tenant_id, OLD.status, coalesce(OLD.currency, ''), -1, -coalesce(OLD.estimated_value_e4, 0))
    ON CONFLICT (tenant_id, status, currency)
    DO UPDATE SET lead_count = lead_count + excluded.lead_count, value_e4 = value_e4 + excluded.value_e4;
END;

CREATE TRIGGER leads_pipeline_totals_update
AFTER UPDATE OF status, currency, estimated_value_e4, deleted_at ON leads
WHEN OLD.status IS NOT NEW.status
  OR OLD.currency IS NOT NEW.currency
  OR OLD.estimated_value_e4 IS NOT NEW.estimated_value_e4
  OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
BEGIN
    INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
    SELECT OLD.tenant_id, OLD.status, coalesce(OLD.currency, ''), -1, -coalesce(OLD.estimated_value_e4, 0)
     WHERE OLD.deleted_at IS NULL
    ON CONFLICT (tenant_id, status, currency)
    DO UPDATE SET lead_count = lead_count + excluded.lead_count, value_e4 = value_e4 + excluded.value_e4;
    INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
    SELECT NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 1, coalesce(NEW.estimated_value_e4, 0)
     WHERE NEW.deleted_at IS NULL
    ON CONFLICT (tenant_id, status, currency)
    DO UPDATE SET lead_count = lead_count + excluded.lead_count, value_e4 = value_e4 + excluded.value_e4;
END;
