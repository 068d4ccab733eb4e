-- Depot v1 schema (PostgreSQL). Keep in step with migrations/sqlite and src/db/schema.rs.
-- Money is integer minor units (fen); times are timestamptz; ids are UUIDs (v7 from the application).

CREATE TABLE stores (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    city        text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    kind        text NOT NULL CHECK (kind IN ('service_center', 'warehouse')),
    time_zone   text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE product_series (
    id                  uuid PRIMARY KEY,
    code                text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    premium             boolean NOT NULL,
    loaner_deposit_minor bigint CHECK (loaner_deposit_minor >= 0),
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE product_models (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    series_id   uuid NOT NULL REFERENCES product_series (id),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX product_models_series ON product_models (series_id);

CREATE TABLE courier_partners (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    prefix        text NOT NULL UNIQUE,
    key_hash      text NOT NULL UNIQUE,
    role          text NOT NULL CHECK (role IN ('admin', 'store_staff', 'warehouse', 'courier')),
    partner_id    uuid REFERENCES courier_partners (id),
    label         text NOT NULL,
    created_by    uuid REFERENCES api_keys (id),
    created_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    CHECK ((role = 'courier') = (partner_id IS NOT NULL))
);

CREATE TABLE api_key_stores (
    api_key_id  uuid NOT NULL REFERENCES api_keys (id),
    store_id    uuid NOT NULL REFERENCES stores (id),
    PRIMARY KEY (api_key_id, store_id)
);

-- Marks one-time events such as printing the first admin key; the primary key makes them happen once.
CREATE TABLE bootstrap_events (
    name        text PRIMARY KEY,
    happened_at timestamptz NOT NULL
);

CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    at           timestamptz NOT NULL,
    api_key_id   uuid REFERENCES api_keys (id),
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    uuid NOT NULL,
    details      text NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);

CREATE TABLE idempotency_records (
    api_key_id     uuid NOT NULL REFERENCES api_keys (id),
    idem_key       text NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   text NOT NULL,
    status_code    integer NOT NULL,
    response_body  text NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);

CREATE TABLE loaners (
    id              uuid PRIMARY KEY,
    imei            text NOT NULL UNIQUE CHECK (length(imei) = 15),
    series_id       uuid NOT NULL REFERENCES product_series (id),
    model_id        uuid NOT NULL REFERENCES product_models (id),
    store_id        uuid NOT NULL REFERENCES stores (id),
    grade           text NOT NULL CHECK (grade IN ('A', 'B', 'C')),
    state           text NOT NULL CHECK (state IN ('available', 'reserved', 'on_loan', 'inspection', 'maintenance', 'retired')),
    idle_since      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- target of loans' composite foreign key: an open loan pins its loaner's state
    UNIQUE (id, state)
);
CREATE INDEX loaners_pick ON loaners (store_id, series_id, state, grade, idle_since);

CREATE TABLE counters (
    name   text PRIMARY KEY,
    value  bigint NOT NULL
);

CREATE TABLE tickets (
    id                    uuid PRIMARY KEY,
    number                text NOT NULL UNIQUE,
    store_id              uuid NOT NULL REFERENCES stores (id),
    customer_name         text NOT NULL,
    customer_phone        text NOT NULL,
    device_imei           text NOT NULL CHECK (length(device_imei) = 15),
    model_id              uuid NOT NULL REFERENCES product_models (id),
    purchase_date         date NOT NULL,
    channel               text NOT NULL CHECK (channel IN ('walk_in', 'mail_in')),
    reported_fault        text NOT NULL,
    accessories           text NOT NULL,
    finding_liquid        boolean NOT NULL DEFAULT false,
    finding_drop          boolean NOT NULL DEFAULT false,
    finding_crush         boolean NOT NULL DEFAULT false,
    finding_tampering     boolean NOT NULL DEFAULT false,
    finding_cosmetic      text,
    extended_warranty     boolean NOT NULL DEFAULT false,
    screen_plan           boolean NOT NULL DEFAULT false,
    covered_item          text NOT NULL DEFAULT 'handset' CHECK (covered_item IN ('handset', 'battery', 'charger', 'wired_earphones')),
    fault_kind            text NOT NULL DEFAULT 'performance' CHECK (fault_kind IN ('performance', 'screen_damage', 'back_cover_damage', 'other_damage')),
    certificate           text NOT NULL DEFAULT 'valid' CHECK (certificate IN ('valid', 'missing', 'mismatched', 'altered')),
    force_majeure         boolean NOT NULL DEFAULT false,
    prior_overrun_days    integer NOT NULL DEFAULT 0 CHECK (prior_overrun_days >= 0),
    warranty_decision     text,
    status                text NOT NULL CHECK (status IN ('received', 'diagnosing', 'awaiting_approval', 'repairing', 'quality_check', 'ready_for_pickup', 'closed', 'cancelled')),
    promised_at           timestamptz,
    tracking_token_hash   text UNIQUE,
    labour_minor          bigint NOT NULL DEFAULT 0 CHECK (labour_minor >= 0),
    rating                integer CHECK (rating BETWEEN 1 AND 5),
    rating_comment        text,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    closed_at             timestamptz
);
CREATE INDEX tickets_store ON tickets (store_id, id);

CREATE TABLE ticket_events (
    id           uuid PRIMARY KEY,
    ticket_id    uuid NOT NULL REFERENCES tickets (id),
    at           timestamptz NOT NULL,
    api_key_id   uuid REFERENCES api_keys (id),
    kind         text NOT NULL,
    from_status  text,
    to_status    text,
    note         text
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

CREATE TABLE loans (
    id                   uuid PRIMARY KEY,
    ticket_id            uuid NOT NULL REFERENCES tickets (id),
    loaner_id            uuid REFERENCES loaners (id),
    store_id             uuid NOT NULL REFERENCES stores (id),
    series_id            uuid NOT NULL REFERENCES product_series (id),
    state                text NOT NULL CHECK (state IN ('waiting', 'reserved', 'issued', 'returned', 'cancelled', 'expired', 'lost')),
    queued_at            timestamptz NOT NULL,
    reserved_at          timestamptz,
    hold_until           timestamptz,
    issued_at            timestamptz,
    due_at               timestamptz,
    returned_at          timestamptz,
    issued_by            uuid REFERENCES api_keys (id),
    returned_by          uuid REFERENCES api_keys (id),
    deposit_minor        bigint CHECK (deposit_minor >= 0),
    return_condition     text,
    missing_accessories  text,
    damage_charge_minor  bigint CHECK (damage_charge_minor >= 0),
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    -- the state an open loan requires of its loaner; NULL for waiting and closed loans
    loaner_hold          text CHECK (loaner_hold IN ('reserved', 'on_loan')),
    CHECK (loaner_hold IS NOT DISTINCT FROM (CASE state WHEN 'reserved' THEN 'reserved' WHEN 'issued' THEN 'on_loan' END)),
    -- so the database refuses a loaner whose state disagrees with its open loan (checked at commit, so a
    -- transaction may change both in either order)
    FOREIGN KEY (loaner_id, loaner_hold) REFERENCES loaners (id, state) DEFERRABLE INITIALLY DEFERRED,
    -- a waiting loan has no loaner yet; every other state names one
    CHECK ((state = 'waiting') = (loaner_id IS NULL) OR state = 'cancelled')
);
-- At most one open loan per loaner and per ticket.
CREATE UNIQUE INDEX loans_one_open_per_loaner ON loans (loaner_id) WHERE state IN ('reserved', 'issued');
CREATE UNIQUE INDEX loans_one_open_per_ticket ON loans (ticket_id) WHERE state IN ('waiting', 'reserved', 'issued');
CREATE INDEX loans_waitlist ON loans (store_id, series_id, queued_at, id) WHERE state = 'waiting';
-- A ticket's loans are read on every ticket view and opening.
CREATE INDEX loans_ticket ON loans (ticket_id);

CREATE TABLE parts (
    id               uuid PRIMARY KEY,
    sku              text NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name             text NOT NULL,
    category         text NOT NULL,
    labour_minor     bigint CHECK (labour_minor >= 0),
    warranty_months  integer NOT NULL CHECK (warranty_months >= 0),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE part_compatibility (
    id         uuid PRIMARY KEY,
    part_id    uuid NOT NULL REFERENCES parts (id),
    model_id   uuid REFERENCES product_models (id),
    series_id  uuid REFERENCES product_series (id),
    CHECK ((model_id IS NULL) <> (series_id IS NULL))
);
CREATE UNIQUE INDEX part_compatibility_unique ON part_compatibility (part_id, coalesce(model_id, series_id));

CREATE TABLE part_prices (
    id            uuid PRIMARY KEY,
    part_id       uuid NOT NULL REFERENCES parts (id),
    price_minor   bigint NOT NULL CHECK (price_minor >= 0),
    currency      text NOT NULL CHECK (currency = 'CNY'),
    effective_at  timestamptz NOT NULL,
    api_key_id    uuid REFERENCES api_keys (id),
    created_at    timestamptz NOT NULL
);
CREATE INDEX part_prices_in_force ON part_prices (part_id, effective_at);

CREATE TABLE stock_levels (
    location_id    uuid NOT NULL REFERENCES stores (id),
    part_id        uuid NOT NULL REFERENCES parts (id),
    on_hand        bigint NOT NULL DEFAULT 0,
    reserved       bigint NOT NULL DEFAULT 0,
    reorder_point  bigint NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    reorder_qty    bigint NOT NULL DEFAULT 0 CHECK (reorder_qty >= 0),
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (location_id, part_id),
    CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE stock_movements (
    id           uuid PRIMARY KEY,
    location_id  uuid NOT NULL REFERENCES stores (id),
    part_id      uuid NOT NULL REFERENCES parts (id),
    kind         text NOT NULL CHECK (kind IN ('receipt', 'transfer_out', 'transfer_in', 'adjustment', 'reservation', 'release', 'consumption')),
    quantity     bigint NOT NULL CHECK (quantity <> 0),
    reference    text,
    reason       text,
    api_key_id   uuid REFERENCES api_keys (id),
    at           timestamptz NOT NULL
);
CREATE INDEX stock_movements_level ON stock_movements (location_id, part_id, at);
-- A receipt number is counted once per location and part, so a re-sent file changes nothing.
CREATE UNIQUE INDEX stock_movements_receipt_once ON stock_movements (location_id, part_id, reference) WHERE kind = 'receipt';

CREATE TABLE ticket_parts (
    id                 uuid PRIMARY KEY,
    ticket_id          uuid NOT NULL REFERENCES tickets (id),
    part_id            uuid NOT NULL REFERENCES parts (id),
    location_id        uuid NOT NULL REFERENCES stores (id),
    quantity           bigint NOT NULL CHECK (quantity > 0),
    state              text NOT NULL CHECK (state IN ('reserved', 'consumed', 'released')),
    unit_price_minor   bigint CHECK (unit_price_minor >= 0),
    covered            boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX ticket_parts_ticket ON ticket_parts (ticket_id);

CREATE TABLE pickups (
    id               uuid PRIMARY KEY,
    ticket_id        uuid NOT NULL REFERENCES tickets (id),
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    partner_id       uuid REFERENCES courier_partners (id),
    address          text NOT NULL,
    contact_name     text NOT NULL,
    contact_phone    text NOT NULL,
    window_start     timestamptz,
    window_end       timestamptz,
    tracking_number  text,
    status           text NOT NULL CHECK (status IN ('requested', 'assigned', 'picked_up', 'in_transit', 'delivered', 'failed', 'cancelled')),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (window_end IS NULL OR window_start IS NULL OR window_end > window_start)
);
CREATE INDEX pickups_partner ON pickups (partner_id, status);
CREATE UNIQUE INDEX pickups_tracking_per_partner ON pickups (partner_id, tracking_number) WHERE tracking_number IS NOT NULL;
CREATE UNIQUE INDEX pickups_one_open_per_direction ON pickups (ticket_id, direction) WHERE status NOT IN ('delivered', 'failed', 'cancelled');

CREATE TABLE pickup_events (
    id                uuid PRIMARY KEY,
    pickup_id         uuid NOT NULL REFERENCES pickups (id),
    partner_id        uuid NOT NULL REFERENCES courier_partners (id),
    partner_event_id  text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('picked_up', 'in_transit', 'arrived', 'delivered', 'failed_attempt', 'returned_to_sender')),
    happened_at       timestamptz NOT NULL,
    received_at       timestamptz NOT NULL,
    location          text,
    note              text,
    body_hash         text NOT NULL,
    UNIQUE (partner_id, partner_event_id)
);
CREATE INDEX pickup_events_pickup ON pickup_events (pickup_id, happened_at);

-- Ticket numbers: a sequence hands out numbers without locking a counter row for the whole transaction.
CREATE SEQUENCE ticket_number_seq;
