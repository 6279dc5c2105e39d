-- 100,000 leads for the demo shop, spread over a year, every status
-- (bench/crm_api.sh, bench/console.sh).
INSERT INTO leads (tenant_id, id, external_id, name, company, email, email_key, phone, source, project_type,
    estimated_value_e4, currency, tags, status, lost_reason, status_changed_at, created_at, updated_at, version)
SELECT '00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'seed-' || g, 'Customer ' || g,
    'Shop ' || (g % 500), 'c' || g || '@example.com', 'c' || g || '@example.com', '+1 555 ' || lpad((g % 10000)::text, 4, '0'),
    (ARRAY['web_form', 'referral', 'showroom', 'phone'])[1 + g % 4], (ARRAY['kitchen', 'bath', 'closet', 'built_in'])[1 + g % 4],
    (g % 50000) * 10000::bigint, 'USD', '["oak"]', (ARRAY['new', 'contacted', 'qualified', 'quoted', 'won', 'lost'])[1 + g % 6],
    CASE WHEN g % 6 = 5 THEN 'price' END, t, t, t, 1
FROM generate_series(1, 100000) AS g, LATERAL (SELECT now() - make_interval(secs => g * 315) AS t) AS at;
ANALYZE;
