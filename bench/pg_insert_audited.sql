-- pgbench: what the audited handler asks of PostgreSQL per request: the
-- same, plus the audit entry and its chain link (the statement SqlSink runs).
\set t random(1, 100)
BEGIN;
SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'), true);
INSERT INTO bench_items (id, name) VALUES (gen_random_uuid(), 'Base cabinet 600 mm, two drawers');
WITH head AS (
    INSERT INTO audit_chain_heads AS h (tenant_key, seq, prev_hash, last_hash)
    VALUES ('pgbench-' || :t, 1, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
            sha256('\x00'::bytea || sha256(random()::text::bytea)))
    ON CONFLICT (tenant_key) DO UPDATE
        SET seq = h.seq + 1, prev_hash = h.last_hash, last_hash = sha256(h.last_hash || sha256(random()::text::bytea))
    RETURNING seq, prev_hash, last_hash
)
INSERT INTO audit_logs (tenant_key, seq, id, tenant_id, user_id, occurred_at, action,
    resource_type, resource_id, changes, ip_address, user_agent, request_id, prev_hash, hash)
SELECT 'pgbench-' || :t, head.seq, gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), now(), 'item.create',
    'item', gen_random_uuid()::text, '{"name":"Base cabinet 600 mm, two drawers","notes":"soft-close"}'::jsonb,
    '127.0.0.1', NULL, gen_random_uuid()::text, head.prev_hash, head.last_hash
FROM head;
COMMIT;
