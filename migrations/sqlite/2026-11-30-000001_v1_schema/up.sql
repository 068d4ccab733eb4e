-- Depot v1 schema (SQLite). Keep in step with migrations/sqlite and src/db/schema.rs.
-- Money is INTEGER minor units (fen); times are TEXT; ids are 16-byte UUID blobs (v7 from the application).

CREATE TABLE stores (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    code        TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    city        TEXT NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
    kind        TEXT NOT NULL CHECK (kind IN ('service_center', 'warehouse')),
    time_zone   TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE product_series (
    id                  BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    code                TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    premium             BOOLEAN NOT NULL,
    loaner_deposit_minor BIGINT CHECK (loaner_deposit_minor >= 0),
    active              BOOLEAN NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE product_models (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    code        TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    series_id   BLOB NOT NULL REFERENCES product_series (id),
    active      BOOLEAN NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX product_models_series ON product_models (series_id);

CREATE TABLE courier_partners (
    id          BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    code        TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    prefix        TEXT NOT NULL UNIQUE,
    key_hash      TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'store_staff', 'warehouse', 'courier')),
    partner_id    BLOB REFERENCES courier_partners (id),
    label         TEXT NOT NULL,
    created_by    BLOB REFERENCES api_keys (id),
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT,
    CHECK ((role = 'courier') = (partner_id IS NOT NULL))
);

CREATE TABLE api_key_stores (
    api_key_id  BLOB NOT NULL REFERENCES api_keys (id),
    store_id    BLOB NOT NULL REFERENCES stores (id),
    PRIMARY KEY (api_key_id, store_id)
);

-- Marks one-time events such as printing the first admin key; the primary key makes them happen once.
CREATE TABLE bootstrap_events (
    name        TEXT PRIMARY KEY,
    happened_at TEXT NOT NULL
);

CREATE TABLE audit_log (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    at           TEXT NOT NULL,
    api_key_id   BLOB REFERENCES api_keys (id),
    action       TEXT NOT NULL,
    entity_type  TEXT NOT NULL,
    entity_id    BLOB NOT NULL,
    details      TEXT NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity_type, entity_id);

CREATE TABLE idempotency_records (
    api_key_id     BLOB NOT NULL REFERENCES api_keys (id),
    idem_key       TEXT NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   TEXT NOT NULL,
    status_code    INTEGER NOT NULL,
    response_body  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (api_key_id, idem_key)
);

CREATE TABLE loaners (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    imei            TEXT NOT NULL UNIQUE CHECK (length(imei) = 15),
    series_id       BLOB NOT NULL REFERENCES product_series (id),
    model_id        BLOB NOT NULL REFERENCES product_models (id),
    store_id        BLOB NOT NULL REFERENCES stores (id),
    grade           TEXT NOT NULL CHECK (grade IN ('A', 'B', 'C')),
    state           TEXT NOT NULL CHECK (state IN ('available', 'reserved', 'on_loan', 'inspection', 'maintenance', 'retired')),
    idle_since      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    -- target of loans' composite foreign key: an open loan pins its loaner's state
    UNIQUE (id, state)
);
CREATE INDEX loaners_pick ON loaners (store_id, series_id, state, grade, idle_since);

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);

CREATE TABLE tickets (
    id                    BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    number                TEXT NOT NULL UNIQUE,
    store_id              BLOB NOT NULL REFERENCES stores (id),
    customer_name         TEXT NOT NULL,
    customer_phone        TEXT NOT NULL,
    device_imei           TEXT NOT NULL CHECK (length(device_imei) = 15),
    model_id              BLOB NOT NULL REFERENCES product_models (id),
    purchase_date         TEXT NOT NULL,
    channel               TEXT NOT NULL CHECK (channel IN ('walk_in', 'mail_in')),
    reported_fault        TEXT NOT NULL,
    accessories           TEXT NOT NULL,
    finding_liquid        BOOLEAN NOT NULL DEFAULT 0,
    finding_drop          BOOLEAN NOT NULL DEFAULT 0,
    finding_crush         BOOLEAN NOT NULL DEFAULT 0,
    finding_tampering     BOOLEAN NOT NULL DEFAULT 0,
    finding_cosmetic      TEXT,
    extended_warranty     BOOLEAN NOT NULL DEFAULT 0,
    screen_plan           BOOLEAN NOT NULL DEFAULT 0,
    covered_item          TEXT NOT NULL DEFAULT 'handset' CHECK (covered_item IN ('handset', 'battery', 'charger', 'wired_earphones')),
    fault_kind            TEXT NOT NULL DEFAULT 'performance' CHECK (fault_kind IN ('performance', 'screen_damage', 'back_cover_damage', 'other_damage')),
    certificate           TEXT NOT NULL DEFAULT 'valid' CHECK (certificate IN ('valid', 'missing', 'mismatched', 'altered')),
    force_majeure         BOOLEAN NOT NULL DEFAULT 0,
    prior_overrun_days    INTEGER NOT NULL DEFAULT 0 CHECK (prior_overrun_days >= 0),
    warranty_decision     TEXT,
    status                TEXT NOT NULL CHECK (status IN ('received', 'diagnosing', 'awaiting_approval', 'repairing', 'quality_check', 'ready_for_pickup', 'closed', 'cancelled')),
    promised_at           TEXT,
    tracking_token_hash   TEXT UNIQUE,
    labour_minor          BIGINT NOT NULL DEFAULT 0 CHECK (labour_minor >= 0),
    rating                INTEGER CHECK (rating BETWEEN 1 AND 5),
    rating_comment        TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    closed_at             TEXT
);
CREATE INDEX tickets_store ON tickets (store_id, id);

CREATE TABLE ticket_events (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    ticket_id    BLOB NOT NULL REFERENCES tickets (id),
    at           TEXT NOT NULL,
    api_key_id   BLOB REFERENCES api_keys (id),
    kind         TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT,
    note         TEXT
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);

CREATE TABLE loans (
    id                   BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    ticket_id            BLOB NOT NULL REFERENCES tickets (id),
    loaner_id            BLOB REFERENCES loaners (id),
    store_id             BLOB NOT NULL REFERENCES stores (id),
    series_id            BLOB NOT NULL REFERENCES product_series (id),
    state                TEXT NOT NULL CHECK (state IN ('waiting', 'reserved', 'issued', 'returned', 'cancelled', 'expired', 'lost')),
    queued_at            TEXT NOT NULL,
    reserved_at          TEXT,
    hold_until           TEXT,
    issued_at            TEXT,
    due_at               TEXT,
    returned_at          TEXT,
    issued_by            BLOB REFERENCES api_keys (id),
    returned_by          BLOB REFERENCES api_keys (id),
    deposit_minor        BIGINT CHECK (deposit_minor >= 0),
    return_condition     TEXT,
    missing_accessories  TEXT,
    damage_charge_minor  BIGINT CHECK (damage_charge_minor >= 0),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    -- the state an open loan requires of its loaner; NULL for waiting and closed loans
    loaner_hold          TEXT CHECK (loaner_hold IN ('reserved', 'on_loan')),
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
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    sku              TEXT NOT NULL UNIQUE CHECK (length(sku) BETWEEN 1 AND 64),
    name             TEXT NOT NULL,
    category         TEXT NOT NULL,
    labour_minor     BIGINT CHECK (labour_minor >= 0),
    warranty_months  INTEGER NOT NULL CHECK (warranty_months >= 0),
    active           BOOLEAN NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE part_compatibility (
    id         BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    part_id    BLOB NOT NULL REFERENCES parts (id),
    model_id   BLOB REFERENCES product_models (id),
    series_id  BLOB REFERENCES product_series (id),
    CHECK ((model_id IS NULL) <> (series_id IS NULL))
);
CREATE UNIQUE INDEX part_compatibility_unique ON part_compatibility (part_id, coalesce(model_id, series_id));

CREATE TABLE part_prices (
    id            BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    part_id       BLOB NOT NULL REFERENCES parts (id),
    price_minor   BIGINT NOT NULL CHECK (price_minor >= 0),
    currency      TEXT NOT NULL CHECK (currency = 'CNY'),
    effective_at  TEXT NOT NULL,
    api_key_id    BLOB REFERENCES api_keys (id),
    created_at    TEXT NOT NULL
);
CREATE INDEX part_prices_in_force ON part_prices (part_id, effective_at);

CREATE TABLE stock_levels (
    location_id    BLOB NOT NULL REFERENCES stores (id),
    part_id        BLOB NOT NULL REFERENCES parts (id),
    on_hand        BIGINT NOT NULL DEFAULT 0,
    reserved       BIGINT NOT NULL DEFAULT 0,
    reorder_point  BIGINT NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    reorder_qty    BIGINT NOT NULL DEFAULT 0 CHECK (reorder_qty >= 0),
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (location_id, part_id),
    CHECK (reserved >= 0 AND reserved <= on_hand)
);

CREATE TABLE stock_movements (
    id           BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    location_id  BLOB NOT NULL REFERENCES stores (id),
    part_id      BLOB NOT NULL REFERENCES parts (id),
    kind         TEXT NOT NULL CHECK (kind IN ('receipt', 'transfer_out', 'transfer_in', 'adjustment', 'reservation', 'release', 'consumption')),
    quantity     BIGINT NOT NULL CHECK (quantity <> 0),
    reference    TEXT,
    reason       TEXT,
    api_key_id   BLOB REFERENCES api_keys (id),
    at           TEXT NOT NULL
);
CREATE INDEX stock_movements_level ON stock_movements (location_id, part_id, at);
-- A receipt number is counted once per location and part, so a re-sent file changes nothing.
CREATE UNIQUE INDEX stock_movements_receipt_once ON stock_movements (location_id, part_id, reference) WHERE kind = 'receipt';

CREATE TABLE ticket_parts (
    id                 BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    ticket_id          BLOB NOT NULL REFERENCES tickets (id),
    part_id            BLOB NOT NULL REFERENCES parts (id),
    location_id        BLOB NOT NULL REFERENCES stores (id),
    quantity           BIGINT NOT NULL CHECK (quantity > 0),
    state              TEXT NOT NULL CHECK (state IN ('reserved', 'consumed', 'released')),
    unit_price_minor   BIGINT CHECK (unit_price_minor >= 0),
    covered            BOOLEAN NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX ticket_parts_ticket ON ticket_parts (ticket_id);

CREATE TABLE pickups (
    id               BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    ticket_id        BLOB NOT NULL REFERENCES tickets (id),
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    partner_id       BLOB REFERENCES courier_partners (id),
    address          TEXT NOT NULL,
    contact_name     TEXT NOT NULL,
    contact_phone    TEXT NOT NULL,
    window_start     TEXT,
    window_end       TEXT,
    tracking_number  TEXT,
    status           TEXT NOT NULL CHECK (status IN ('requested', 'assigned', 'picked_up', 'in_transit', 'delivered', 'failed', 'cancelled')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK (window_end IS NULL OR window_start IS NULL OR window_end > window_start)
);
CREATE INDEX pickups_partner ON pickups (partner_id, status);
CREATE UNIQUE INDEX pickups_tracking_per_partner ON pickups (partner_id, tracking_number) WHERE tracking_number IS NOT NULL;
CREATE UNIQUE INDEX pickups_one_open_per_direction ON pickups (ticket_id, direction) WHERE status NOT IN ('delivered', 'failed', 'cancelled');

CREATE TABLE pickup_events (
    id                BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    pickup_id         BLOB NOT NULL REFERENCES pickups (id),
    partner_id        BLOB NOT NULL REFERENCES courier_partners (id),
    partner_event_id  TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('picked_up', 'in_transit', 'arrived', 'delivered', 'failed_attempt', 'returned_to_sender')),
    happened_at       TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    location          TEXT,
    note              TEXT,
    body_hash         TEXT NOT NULL,
    UNIQUE (partner_id, partner_event_id)
);
CREATE INDEX pickup_events_pickup ON pickup_events (pickup_id, happened_at);
