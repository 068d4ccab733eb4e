-- The dispatcher claims each endpoint's due messages apart, oldest due first, and stops at what it may take: this
-- index gives it them in that order, so a claim reads a handful of rows whatever the backlog. Not a partial index
-- (WHERE status = 'pending'): the claim binds the status as a parameter, and neither SQLite nor PostgreSQL's
-- generic plan of a prepared statement can prove that a parameter equals the index's literal.
CREATE INDEX webhook_messages_endpoint_due ON webhook_messages (endpoint_id, status, next_attempt_at);
-- The claim over every endpoint's due messages at once read this one; nothing does now.
DROP INDEX webhook_messages_due;
