-- pgbench: the two inserts of a lead upsert that creates, in one
-- transaction, as the service's role under Row-Level Security: the lead and
-- its audit entry with the chain link (the statement SqlSink runs), for
-- the same single tenant the HTTP benchmark writes to.
BEGIN;
SELECT set_config('app.tenant_id', '00000000-0000-4000-8000-000000000001', true);
INSERT INTO leads (tenant_id, id, external_id, name, phone, source, project_type, estimated_value_e4, currency,
    tags, status, status_changed_at, created_at, updated_at, version)
VALUES ('00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'pgb-' || gen_random_uuid(), 'Bench Customer',
    '+1 555 0100', 'web_form', 'kitchen', 184500000, 'USD', '[]', 'new', now(), now(), now(), 1);
WITH head AS (
    INSERT INTO audit_chain_heads AS h (tenant_key, seq, prev_hash, last_hash)
    VALUES ('00000000-0000-4000-8000-000000000001', 1,
            '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
            sha256('\x00'::bytea || sha256(random()::text::bytea)))
    ON CONFLICT (tenant_key) DO UPDATE
        SET seq = h.seq + 1, prev_hash = h.last_hash, last_hash = sha256(h.last_hash || sha256(random()::text::bytea))
    RETURNING seq, prev_hash, last_hash
)
INSERT INTO audit_logs (tenant_key, seq, id, tenant_id, user_id, occurred_at, action,
    resource_type, resource_id, changes, ip_address, user_agent, request_id, prev_hash, hash)
SELECT '00000000-0000-4000-8000-000000000001', head.seq, gen_random_uuid(), '00000000-0000-4000-8000-000000000001',
    '00000000-0000-4000-8000-000000000002', now(), 'lead.upsert', 'lead', gen_random_uuid()::text,
    '{"externalId":"wrk-1","name":"Bench Customer","source":"web_form","projectType":"kitchen","estimatedValue":"18450.00","currency":"USD","phone":"+1 555 0100"}'::jsonb,
    '127.0.0.1', 'wrk', gen_random_uuid()::text, head.prev_hash, head.last_hash
FROM head;
COMMIT;
