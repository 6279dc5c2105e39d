-- See the PostgreSQL migration: a lead moved to another tenant by a direct
-- update moves its count and value with it.

DROP TRIGGER leads_pipeline_totals_update;

CREATE TRIGGER leads_pipeline_totals_update
AFTER UPDATE OF tenant_id, status, currency, estimated_value_e4, deleted_at ON leads
WHEN OLD.tenant_id IS NOT NEW.tenant_id
  OR OLD.status IS NOT NEW.status
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
