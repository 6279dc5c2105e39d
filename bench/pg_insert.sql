-- pgbench: what the unaudited handler asks of PostgreSQL per request.
\set t random(1, 100)
BEGIN;
SELECT set_config('app.tenant_id', '00000000-0000-0000-0000-' || lpad(:t::text, 12, '0'), true);
INSERT INTO bench_items (id, name) VALUES (gen_random_uuid(), 'Base cabinet 600 mm, two drawers');
COMMIT;
