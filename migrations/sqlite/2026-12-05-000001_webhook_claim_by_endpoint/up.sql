-- The dispatcher claims each endpoint's due messages apart, oldest due first, and stops at what it may take: this
-- index gives it them in that order, so a claim reads a handful of rows whatever the backlog.
CREATE INDEX webhook_messages_endpoint_due ON webhook_messages (endpoint_id, next_attempt_at) WHERE status = 'pending';
