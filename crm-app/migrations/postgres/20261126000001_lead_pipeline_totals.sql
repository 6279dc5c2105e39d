-- The pipeline summary, kept up to date by the database itself: per tenant,
-- status and currency, the number of live leads and the sum of their
-- estimated values. A trigger on leads applies every change in the same
-- transaction as the change, so the summary is read in one index lookup
-- instead of a scan of every live lead, and cannot drift from the leads
-- whichever statement changed them.

CREATE TABLE lead_pipeline_totals (
    tenant_id  uuid    NOT NULL REFERENCES tenants (id),
    status     text    NOT NULL,
    currency   text    NOT NULL,  -- '' for leads without an estimated value
    lead_count bigint  NOT NULL,
    value_e4   numeric NOT NULL,  -- exact: a tenant's sum can pass 2^63
    PRIMARY KEY (tenant_id, status, currency)
);

-- Adds n leads worth v to one (tenant, status, currency) row.
CREATE FUNCTION lead_pipeline_totals_add(t uuid, s text, c text, n bigint, v numeric)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO lead_pipeline_totals AS p (tenant_id, status, currency, lead_count, value_e4)
    VALUES (t, s, c, n, v)
    ON CONFLICT (tenant_id, status, currency)
    DO UPDATE SET lead_count = p.lead_count + EXCLUDED.lead_count,
                  value_e4 = p.value_e4 + EXCLUDED.value_e4
$$;

-- A lead counts while it is not deleted. An update that moves it between
-- two rows touches them in key order, so that two opposite moves in
-- concurrent transactions cannot deadlock; an update that changes none of
-- the counted columns touches nothing (no lock on the shared row).
CREATE FUNCTION leads_pipeline_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_live boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL;
    is_live  boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL;
BEGIN
    IF was_live AND is_live
       AND OLD.status = NEW.status
       AND coalesce(OLD.currency, '') = coalesce(NEW.currency, '') THEN
        IF OLD.estimated_value_e4 IS DISTINCT FROM NEW.estimated_value_e4 THEN
            PERFORM lead_pipeline_totals_add(NEW.tenant_id, NEW.status, coalesce(NEW.currency, ''), 0,
                coalesce(NEW.estimated_value_e4, 0) - coalesce(OLD.estimated_value_e4, 0));
        END IF;
        RETURN NULL;
    END IF;
    IF was_live AND is_live
       AND (NEW.status, coalesce(NEW.currency, '')) < (OLD.status, coalesce(OLD.currency, '')) THEN
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

-- The leads already there. Row-Level Security is lifted from leads for
-- this statement only (the migration runs as the tables' owner, without a
-- tenant); the exclusive lock this takes also holds back writers until the
-- trigger below is in place, so no change falls between the two.
ALTER TABLE leads NO FORCE ROW LEVEL SECURITY;
INSERT INTO lead_pipeline_totals (tenant_id, status, currency, lead_count, value_e4)
SELECT tenant_id, status, coalesce(currency, ''), count(*), coalesce(sum(estimated_value_e4), 0)
  FROM leads WHERE deleted_at IS NULL GROUP BY 1, 2, 3;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;

CREATE TRIGGER leads_pipeline_totals
    AFTER INSERT OR DELETE OR UPDATE OF status, currency, estimated_value_e4, deleted_at ON leads
    FOR EACH ROW EXECUTE FUNCTION leads_pipeline_totals();

ALTER TABLE lead_pipeline_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_pipeline_totals FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_pipeline_totals USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
