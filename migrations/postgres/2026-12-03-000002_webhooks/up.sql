-- Signed webhooks: endpoints, the messages the fan-out makes of events for them, and every delivery attempt.

CREATE TABLE webhook_endpoints (
    id UUID PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT,
    -- Comma-separated event type names (`ticket.opened,loan.overdue`).
    event_types TEXT NOT NULL,
    -- Only events of this store, when set.
    store_id UUID REFERENCES stores (id),
    -- The courier partner that owns the endpoint: it receives only events of its own pickups.
    partner_id UUID REFERENCES courier_partners (id),
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    secret TEXT NOT NULL,
    -- The secret before the last rotation, still signing until `previous_secret_expires_at`.
    previous_secret TEXT,
    previous_secret_expires_at TIMESTAMPTZ,
    -- The first failed attempt since the last delivered message: an endpoint failing for too long is disabled.
    failing_since TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (id) WHERE enabled;

CREATE TABLE webhook_messages (
    id UUID PRIMARY KEY,
    endpoint_id UUID NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    -- The event it carries; none for a ping.
    event_id UUID,
    event_type TEXT NOT NULL,
    -- The exact JSON sent (signed as is on every attempt).
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- A dispatcher's lease: while it runs, no other instance takes the message; after it, any may.
    claimed_until TIMESTAMPTZ,
    claim_token UUID,
    last_status_code INTEGER,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    delivered_at TIMESTAMPTZ
);
-- What the dispatcher claims: due pending messages, oldest due first.
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id UUID PRIMARY KEY,
    message_id UUID NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    attempted_at TIMESTAMPTZ NOT NULL,
    status_code INTEGER,
    latency_ms BIGINT NOT NULL,
    response_excerpt TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, id);
