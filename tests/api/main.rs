//! Integration tests: the real server over HTTP on a fresh database per test (SQLite, or PostgreSQL when
//! `DEPOT_TEST_DATABASE_URL` is set).

mod auth;
mod catalog;
mod courier;
mod flows;
mod helpers;
mod idempotency;
mod invariants;
mod operations;
mod parts_catalog;
mod schema_check;
mod stock;
mod tickets;
