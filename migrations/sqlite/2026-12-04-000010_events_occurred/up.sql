-- A webhook replay reads a time range of events in the order they happened.
CREATE INDEX events_occurred ON events (occurred_at, seq);
