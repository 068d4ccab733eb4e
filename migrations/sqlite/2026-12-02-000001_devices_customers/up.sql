-- Devices and customers: a phone's record by IMEI, its plans, the customer by mobile number, warranty policies per
-- series, and what a ticket carries for them. Keep in step with migrations/postgres and src/db/schema.rs.

CREATE TABLE customers (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    -- Normalised: a mainland mobile number as its 11 digits (no +86), any other as + and its digits.
    phone            TEXT NOT NULL UNIQUE CHECK (length(phone) BETWEEN 5 AND 21),
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    contact_consent  BOOLEAN NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE devices (
    id                  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    imei                TEXT NOT NULL UNIQUE CHECK (length(imei) = 15),
    model_id            BLOB NOT NULL REFERENCES product_models (id),
    purchase_date       TEXT NOT NULL,
    warranty_starts_on  TEXT NOT NULL,
    price_paid_minor    BIGINT CHECK (price_paid_minor >= 0),
    seller              TEXT,
    invoice_number      TEXT,
    state               TEXT NOT NULL DEFAULT 'in_use' CHECK (state IN ('in_use', 'returned', 'exchanged')),
    customer_id         BLOB REFERENCES customers (id),
    replaces_device_id  BLOB REFERENCES devices (id),
    credit_correction_days INTEGER NOT NULL DEFAULT 0 CHECK (credit_correction_days BETWEEN 0 AND 3650),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX devices_customer ON devices (customer_id, id);

CREATE TABLE device_plans (
    id                 BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    device_id          BLOB NOT NULL REFERENCES devices (id),
    kind               TEXT NOT NULL CHECK (kind IN ('extended_warranty', 'screen_plan')),
    sold_on            TEXT NOT NULL,
    price_minor        BIGINT NOT NULL CHECK (price_minor >= 0),
    store_id           BLOB NOT NULL REFERENCES stores (id),
    api_key_id         BLOB,
    used_by_ticket_id  BLOB REFERENCES tickets (id),
    used_at            TEXT,
    created_at         TEXT NOT NULL,
    UNIQUE (device_id, kind)
);

CREATE TABLE warranty_policies (
    id                      BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    series_id               BLOB NOT NULL REFERENCES product_series (id),
    effective_from          TEXT NOT NULL,
    return_days             INTEGER NOT NULL CHECK (return_days >= 0),
    exchange_days           INTEGER NOT NULL CHECK (exchange_days >= return_days),
    handset_months          INTEGER NOT NULL CHECK (handset_months >= 0),
    battery_months          INTEGER NOT NULL CHECK (battery_months >= 0),
    charger_months          INTEGER NOT NULL CHECK (charger_months >= 0),
    wired_earphones_months  INTEGER NOT NULL CHECK (wired_earphones_months >= 0),
    extended_months         INTEGER NOT NULL CHECK (extended_months >= 0),
    screen_plan_months      INTEGER NOT NULL CHECK (screen_plan_months >= 0),
    daily_depreciation_bp   INTEGER NOT NULL CHECK (daily_depreciation_bp BETWEEN 0 AND 10000),
    note                    TEXT,
    api_key_id              BLOB,
    created_at              TEXT NOT NULL,
    UNIQUE (series_id, effective_from)
);

ALTER TABLE tickets ADD COLUMN device_id BLOB REFERENCES devices (id);
ALTER TABLE tickets ADD COLUMN customer_id BLOB REFERENCES customers (id);
ALTER TABLE tickets ADD COLUMN received_at TEXT;
ALTER TABLE tickets ADD COLUMN ready_at TEXT;
ALTER TABLE tickets ADD COLUMN remedy TEXT CHECK (remedy IN ('return', 'exchange', 'free_repair', 'paid_repair'));
ALTER TABLE tickets ADD COLUMN remedy_chosen_at TEXT;
ALTER TABLE tickets ADD COLUMN remedy_chosen_by BLOB;
ALTER TABLE tickets ADD COLUMN outcome TEXT CHECK (outcome IN ('returned', 'exchanged'));
ALTER TABLE tickets ADD COLUMN refund_minor BIGINT CHECK (refund_minor >= 0);
ALTER TABLE tickets ADD COLUMN replacement_device_id BLOB REFERENCES devices (id);

-- Existing tickets get their customers and devices, the newest ticket's data winning.
CREATE TEMP TABLE ticket_phones AS
SELECT id, CASE
           WHEN customer_phone LIKE '+861%' AND length(customer_phone) = 14 THEN substr(customer_phone, 4)
           WHEN customer_phone LIKE '00861%' AND length(customer_phone) = 15 THEN substr(customer_phone, 5)
           WHEN customer_phone LIKE '861%' AND length(customer_phone) = 13 THEN substr(customer_phone, 3)
           ELSE customer_phone
       END AS phone
FROM tickets;

INSERT INTO customers (id, phone, name, contact_consent, created_at, updated_at)
SELECT randomblob(16), p.phone, t.customer_name, 0, t.created_at, t.created_at
FROM ticket_phones p JOIN tickets t ON t.id = p.id
WHERE t.id = (SELECT max(p2.id) FROM ticket_phones p2 WHERE p2.phone = p.phone);

INSERT INTO devices (id, imei, model_id, purchase_date, warranty_starts_on, state, customer_id, created_at, updated_at)
SELECT randomblob(16), t.device_imei, t.model_id, t.purchase_date, t.purchase_date, 'in_use',
       (SELECT c.id FROM customers c WHERE c.phone = p.phone), t.created_at, t.created_at
FROM tickets t JOIN ticket_phones p ON p.id = t.id
WHERE t.id = (SELECT max(t2.id) FROM tickets t2 WHERE t2.device_imei = t.device_imei);

DROP TABLE ticket_phones;

UPDATE tickets SET
    device_id = (SELECT d.id FROM devices d WHERE d.imei = tickets.device_imei),
    -- Each ticket keeps its own customer (the phone it was opened with), whoever holds the phone now.
    customer_id = (SELECT c.id FROM customers c WHERE c.phone = CASE
               WHEN tickets.customer_phone LIKE '+861%' AND length(tickets.customer_phone) = 14 THEN substr(tickets.customer_phone, 4)
               WHEN tickets.customer_phone LIKE '00861%' AND length(tickets.customer_phone) = 15 THEN substr(tickets.customer_phone, 5)
               WHEN tickets.customer_phone LIKE '861%' AND length(tickets.customer_phone) = 13 THEN substr(tickets.customer_phone, 3)
               ELSE tickets.customer_phone
           END),
    received_at = CASE WHEN channel = 'walk_in' THEN created_at END,
    ready_at = (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = tickets.id AND e.to_status = 'ready_for_pickup');
UPDATE tickets SET received_at = (
    SELECT max(p.updated_at) FROM pickups p
    WHERE p.ticket_id = tickets.id AND p.direction = 'inbound' AND p.status = 'delivered')
WHERE channel = 'mail_in';
-- Older data may hold several open tickets for one phone: the newest keeps its device, the others keep only the IMEI.
UPDATE tickets SET device_id = NULL
WHERE status NOT IN ('closed', 'cancelled')
  AND EXISTS (SELECT 1 FROM tickets n WHERE n.device_id = tickets.device_id AND n.status NOT IN ('closed', 'cancelled')
              AND n.id > tickets.id);

-- At most one open ticket per device.
CREATE UNIQUE INDEX tickets_one_open_per_device ON tickets (device_id) WHERE status NOT IN ('closed', 'cancelled');
CREATE INDEX tickets_device ON tickets (device_id, id);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE INDEX tickets_imei ON tickets (device_imei, id);
-- The number prefix is searched as a range (number >= prefix AND number < next), which the unique index serves.
CREATE INDEX tickets_past_promise ON tickets (store_id, id)
    WHERE promised_at IS NOT NULL AND (ready_at > promised_at OR (ready_at IS NULL AND status NOT IN ('closed', 'cancelled')));
