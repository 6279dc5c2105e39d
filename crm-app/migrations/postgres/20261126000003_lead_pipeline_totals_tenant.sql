-- A lead moved to another tenant by a direct update (the service never
-- does it, and row-level security refuses it to the service's role) moves
-- its count and value with it: the trigger also fires on tenant_id, and a
-- move compares and orders whole (tenant, status, currency) keys.

CREATE OR REPLACE FUNCTION leads_pipeline_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_live boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL;
    is_live  boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL;
BEGIN
    IF was_live AND is_live
       AND OLD.tenant_id = NEW.tenant_id
       AND OLD.status = NEW.status
       AND coalesce(OLD.currency, '') = coalesce(NEW.currency, '') THEN
        IF OLD.estimated_value_e4 IS DISTINCT FROM NEW.estimated_value_e4 THEN
            PERFORM lead_pipeline_totals_add(NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 0,
                coalesce(NEW.estimated_value_e4, 0) - coalesce(OLD.estimated_value_e4, 0));
        END IF;
        RETURN NULL;
    END IF;
    IF was_live AND is_live
       AND (NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''))
         < (OLD.tenant_id, OLD.status, coalesce(OLD.currency, '')) THEN
        PERFORM lead_pipeline_totals_add(NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 1,
            coalesce(NEW.estimated_value_e4, 0));
        PERFORM lead_pipeline_totals_add(OLD.tenant_id, OLD.status, coalesce(OLD.currency, ''), -1,
            -coalesce(OLD.estimated_value_e4, 0));
        RETURN NULL;
    END IF;
    IF was_live THEN
        PERFORM lead_pipeline_totals_add(OLD.tenant_id, OLD.status, coalesce(OLD.currency, ''), -1,
            -coalesce(OLD.estimated_value_e4, 0));
    END IF;
    IF is_live THEN
        PERFORM lead_pipeline_totals_add(NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 1,
            coalesce(NEW.estimated_value_e4, 0));
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER leads_pipeline_totals ON leads;
CREATE TRIGGER leads_pipeline_totals
    AFTER INSERT OR DELETE OR UPDATE OF tenant_id, status, currency, estimated_value_e4, deleted_at ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_pipeline_totals();
