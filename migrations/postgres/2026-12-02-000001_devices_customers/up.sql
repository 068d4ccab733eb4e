-- Devices and customers: a phone's record by IMEI, its plans, the customer by mobile number, warranty policies per
-- series, and what a ticket carries for them (its device and customer, when it was received and ready, the
-- customer's remedy and its outcome).

CREATE TABLE customers (
    id               uuid PRIMARY KEY,
    -- Normalised: a mainland mobile number as its 11 digits (no +86), any other as + and its digits.
    phone            text NOT NULL UNIQUE CHECK (length(phone) BETWEEN 5 AND 21),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    contact_consent  boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE devices (
    id                  uuid PRIMARY KEY,
    imei                text NOT NULL UNIQUE CHECK (length(imei) = 15),
    model_id            uuid NOT NULL REFERENCES product_models (id),
    -- As written on the invoice (the warranty certificate), local to the store that sold it.
    purchase_date       date NOT NULL,
    -- The day its three-guarantees periods start: the purchase date, or the exchange date of a replacement phone.
    warranty_starts_on  date NOT NULL,
    price_paid_minor    bigint CHECK (price_paid_minor >= 0),
    seller              text,
    invoice_number      text,
    state               text NOT NULL DEFAULT 'in_use' CHECK (state IN ('in_use', 'returned', 'exchanged')),
    customer_id         uuid REFERENCES customers (id),
    -- The phone this one replaced in an exchange.
    replaces_device_id  uuid REFERENCES devices (id),
    -- Days an admin credited by hand (with a reason on the audit log), beside those Depot counts from the tickets.
    credit_correction_days integer NOT NULL DEFAULT 0 CHECK (credit_correction_days BETWEEN 0 AND 3650),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX devices_customer ON devices (customer_id, id);

CREATE TABLE device_plans (
    id                 uuid PRIMARY KEY,
    device_id          uuid NOT NULL REFERENCES devices (id),
    kind               text NOT NULL CHECK (kind IN ('extended_warranty', 'screen_plan')),
    sold_on            date NOT NULL,
    price_minor        bigint NOT NULL CHECK (price_minor >= 0),
    store_id           uuid NOT NULL REFERENCES stores (id),
    api_key_id         uuid,
    -- The ticket whose repair used the plan up (a screen plan covers one replacement).
    used_by_ticket_id  uuid REFERENCES tickets (id),
    used_at            timestamptz,
    created_at         timestamptz NOT NULL,
    UNIQUE (device_id, kind)
);

CREATE TABLE warranty_policies (
    id                      uuid PRIMARY KEY,
    series_id               uuid NOT NULL REFERENCES product_series (id),
    effective_from          date NOT NULL,
    return_days             integer NOT NULL CHECK (return_days >= 0),
    exchange_days           integer NOT NULL CHECK (exchange_days >= return_days),
    handset_months          integer NOT NULL CHECK (handset_months >= 0),
    battery_months          integer NOT NULL CHECK (battery_months >= 0),
    charger_months          integer NOT NULL CHECK (charger_months >= 0),
    wired_earphones_months  integer NOT NULL CHECK (wired_earphones_months >= 0),
    extended_months         integer NOT NULL CHECK (extended_months >= 0),
    screen_plan_months      integer NOT NULL CHECK (screen_plan_months >= 0),
    -- Depreciation of a refund per day after the return window, in hundredths of a percent (50 = 0.5 %).
    daily_depreciation_bp   integer NOT NULL CHECK (daily_depreciation_bp BETWEEN 0 AND 10000),
    note                    text,
    api_key_id              uuid,
    created_at              timestamptz NOT NULL,
    UNIQUE (series_id, effective_from)
);

ALTER TABLE tickets
    ADD COLUMN device_id uuid REFERENCES devices (id),
    ADD COLUMN customer_id uuid REFERENCES customers (id),
    -- When the phone reached the network (a walk-in's opening, a mail-in's inbound delivery) and when it was ready
    -- for pickup: the days between are credited to its warranty when the repair was covered.
    ADD COLUMN received_at timestamptz,
    ADD COLUMN ready_at timestamptz,
    -- The customer's choice among the decision's remedies, who recorded it and when.
    ADD COLUMN remedy text CHECK (remedy IN ('return', 'exchange', 'free_repair', 'paid_repair')),
    ADD COLUMN remedy_chosen_at timestamptz,
    ADD COLUMN remedy_chosen_by uuid,
    -- How the ticket ended when it did not end in a repair: the phone returned (with its refund) or exchanged.
    ADD COLUMN outcome text CHECK (outcome IN ('returned', 'exchanged')),
    ADD COLUMN refund_minor bigint CHECK (refund_minor >= 0),
    ADD COLUMN replacement_device_id uuid REFERENCES devices (id);

-- Existing tickets get their customers and devices, the newest ticket's data winning.
INSERT INTO customers (id, phone, name, contact_consent, created_at, updated_at)
SELECT DISTINCT ON (phone) gen_random_uuid(), phone, customer_name, false, created_at, created_at
FROM (
    SELECT CASE
               WHEN customer_phone LIKE '+861%' AND length(customer_phone) = 14 THEN substr(customer_phone, 4)
               WHEN customer_phone LIKE '00861%' AND length(customer_phone) = 15 THEN substr(customer_phone, 5)
               WHEN customer_phone LIKE '861%' AND length(customer_phone) = 13 THEN substr(customer_phone, 3)
               ELSE customer_phone
           END AS phone,
           customer_name, created_at, id
    FROM tickets
) t
ORDER BY phone, id DESC;

INSERT INTO devices (id, imei, model_id, purchase_date, warranty_starts_on, state, customer_id, created_at, updated_at)
SELECT DISTINCT ON (t.device_imei) gen_random_uuid(), t.device_imei, t.model_id, t.purchase_date, t.purchase_date,
       'in_use', c.id, t.created_at, t.created_at
FROM tickets t
LEFT JOIN customers c ON c.phone = CASE
               WHEN t.customer_phone LIKE '+861%' AND length(t.customer_phone) = 14 THEN substr(t.customer_phone, 4)
               WHEN t.customer_phone LIKE '00861%' AND length(t.customer_phone) = 15 THEN substr(t.customer_phone, 5)
               WHEN t.customer_phone LIKE '861%' AND length(t.customer_phone) = 13 THEN substr(t.customer_phone, 3)
               ELSE t.customer_phone
           END
ORDER BY t.device_imei, t.id DESC;

-- Each ticket keeps its own customer (the phone it was opened with), whoever holds the phone now.
UPDATE tickets t SET
    device_id = d.id,
    customer_id = (SELECT c.id FROM customers c WHERE c.phone = CASE
               WHEN t.customer_phone LIKE '+861%' AND length(t.customer_phone) = 14 THEN substr(t.customer_phone, 4)
               WHEN t.customer_phone LIKE '00861%' AND length(t.customer_phone) = 15 THEN substr(t.customer_phone, 5)
               WHEN t.customer_phone LIKE '861%' AND length(t.customer_phone) = 13 THEN substr(t.customer_phone, 3)
               ELSE t.customer_phone
           END),
    received_at = CASE WHEN t.channel = 'walk_in' THEN t.created_at END,
    ready_at = (SELECT max(e.at) FROM ticket_events e WHERE e.ticket_id = t.id AND e.to_status = 'ready_for_pickup')
FROM devices d
WHERE d.imei = t.device_imei;
-- A mail-in ticket was received when its inbound leg was delivered.
UPDATE tickets t SET received_at = p.updated_at
FROM pickups p
WHERE p.ticket_id = t.id AND p.direction = 'inbound' AND p.status = 'delivered' AND t.channel = 'mail_in';
-- Older data may hold several open tickets for one phone: the newest keeps its device, the others keep only the
-- IMEI (still found by it), so that the rule below can hold from now on.
UPDATE tickets t SET device_id = NULL
WHERE t.status NOT IN ('closed', 'cancelled')
  AND EXISTS (SELECT 1 FROM tickets n WHERE n.device_id = t.device_id AND n.status NOT IN ('closed', 'cancelled')
              AND n.id > t.id);

-- At most one open ticket per device.
CREATE UNIQUE INDEX tickets_one_open_per_device ON tickets (device_id) WHERE status NOT IN ('closed', 'cancelled');
-- A device's tickets (its history, the days credited), a customer's, and the search by IMEI and by number prefix.
CREATE INDEX tickets_device ON tickets (device_id, id);
CREATE INDEX tickets_customer ON tickets (customer_id, id);
CREATE INDEX tickets_imei ON tickets (device_imei, id);
CREATE INDEX tickets_number_prefix ON tickets (number text_pattern_ops);
-- A store's tickets past their promise: ready later than promised, or open, not ready, with a promise (the read
-- keeps those whose promise has passed).
CREATE INDEX tickets_past_promise ON tickets (store_id, id)
    WHERE promised_at IS NOT NULL AND (ready_at > promised_at OR (ready_at IS NULL AND status NOT IN ('closed', 'cancelled')));
