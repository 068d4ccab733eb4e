-- The first answer to a write through a tracking link made with an `Idempotency-Key`: a retry with the same key
-- and body replays it. Keyed by the link's ticket (there is no API key behind a link), so keys of different links
-- never meet.
CREATE TABLE link_idempotency_records (
    ticket_id      BLOB NOT NULL REFERENCES tickets (id),
    idem_key       TEXT NOT NULL CHECK (length(idem_key) BETWEEN 1 AND 200),
    request_hash   TEXT NOT NULL,
    status_code    INTEGER NOT NULL,
    response_body  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (ticket_id, idem_key)
);
