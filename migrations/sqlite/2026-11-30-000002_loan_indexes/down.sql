DROP INDEX loans_loaner_hold;
DROP INDEX loans_queue;
CREATE INDEX loans_waitlist ON loans (store_id, series_id, queued_at, id) WHERE state = 'waiting';
