-- The waitlist index covers every loan state, not only 'waiting': a prepared statement then keeps one generic
-- plan for "waiting loans of this store and series" (the state is a parameter), instead of planning each call
-- anew to use a partial index. It also serves "open loans of this store and series".
DROP INDEX loans_waitlist;
CREATE INDEX loans_queue ON loans (store_id, series_id, state, queued_at, id);
