CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
DROP INDEX webhook_messages_endpoint_due;
