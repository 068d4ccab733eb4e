DROP TABLE link_idempotency_records;
