-- The covering index of the previous migration replaces this one.
DROP INDEX CONCURRENTLY IF EXISTS tickets_past_promise;
