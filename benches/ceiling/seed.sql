-- The fixture of the ceiling replay, as the Rust benchmarks build theirs: 64 service centers, one premium series
-- and model, one admin key, 20 loaners per center (all already reserved, so every opening joins a waitlist, as in
-- the ticket benchmark after its first second), one part in stock at center 1 and 500 open tickets there.
INSERT INTO stores (id, code, name, city, kind, time_zone, active, created_at, updated_at)
SELECT ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'SC' || i, 'Center ' || i, 'City',
       'service_center', 'Asia/Shanghai', true, now(), now()
FROM generate_series(1, 64) AS i;
INSERT INTO product_series (id, code, name, premium, active, created_at, updated_at)
VALUES ('10000000-0000-4000-8000-000000000001', 'P', 'Premium', true, true, now(), now());
INSERT INTO product_models (id, code, name, series_id, active, created_at, updated_at)
VALUES ('20000000-0000-4000-8000-000000000001', 'P1', 'Premium 1', '10000000-0000-4000-8000-000000000001', true,
        now(), now());
INSERT INTO api_keys (id, prefix, key_hash, role, label, created_at)
VALUES ('30000000-0000-4000-8000-000000000001', 'ceiling', 'ceiling', 'admin', 'ceiling replay', now());
INSERT INTO loaners (id, imei, series_id, model_id, store_id, grade, state, idle_since, created_at, updated_at)
SELECT gen_random_uuid(), lpad(i::text, 15, '0'), '10000000-0000-4000-8000-000000000001',
       '20000000-0000-4000-8000-000000000001', ('00000000-0000-4000-8000-' || lpad((1 + i % 64)::text, 12, '0'))::uuid,
       'A', 'reserved', now(), now(), now()
FROM generate_series(1, 1280) AS i;
INSERT INTO parts (id, sku, name, category, warranty_months, active, created_at, updated_at)
VALUES ('40000000-0000-4000-8000-000000000001', 'SCR-P1', 'Screen', 'screen', 3, true, now(), now());
INSERT INTO stock_levels (location_id, part_id, on_hand, reserved, updated_at)
VALUES ('00000000-0000-4000-8000-000000000001', '40000000-0000-4000-8000-000000000001', 100000000, 0, now());
INSERT INTO tickets (id, number, store_id, customer_name, customer_phone, device_imei, model_id, purchase_date,
                     channel, reported_fault, accessories, warranty_decision, status, created_at, updated_at)
SELECT ('50000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'RT-2026-9' || lpad(i::text, 5, '0'),
       '00000000-0000-4000-8000-000000000001', 'Customer', '+8613800000000', '490154203237518',
       '20000000-0000-4000-8000-000000000001', '2026-06-01', 'walk_in', 'screen cracked', '[]', '{}', 'repairing',
       now(), now()
FROM generate_series(1, 500) AS i;
-- Ids as the server makes them (UUID v7): time first, so that new rows go to the right edge of each primary-key
-- index instead of to random pages as gen_random_uuid() would send them.
CREATE SEQUENCE ceiling_ids;
CREATE FUNCTION ceiling_id() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint), 16, '0')
            || lpad(to_hex(nextval('ceiling_ids')), 16, '0'))::uuid
$$;
