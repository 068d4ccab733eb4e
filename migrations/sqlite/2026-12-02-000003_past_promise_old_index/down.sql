-- PostgreSQL only (a covering index for the past-promise list; SQLite's index on (store_id, id) is read in place).
SELECT 1;
