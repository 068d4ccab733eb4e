DROP INDEX CONCURRENTLY IF EXISTS tickets_past_promise_covering;
