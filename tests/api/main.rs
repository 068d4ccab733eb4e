//! Integration tests: the real server over HTTP on a fresh database per test (SQLite, or PostgreSQL when
//! `DEPOT_TEST_DATABASE_URL` is set).

mod auth;
mod browser;
mod catalog;
mod complaints;
mod conflicts;
mod console;
mod console_admin;
mod contract;
mod courier;
mod data_safety;
mod device_openings;
mod devices;
mod edge;
mod events;
mod files;
mod flows;
mod helpers;
mod idempotency;
mod invariants;
mod openings;
mod operations;
mod outbox;
mod parts_catalog;
mod policies;
mod query_plans;
mod remedies;
mod reminders;
mod round_trips;
mod schema_check;
mod search;
mod stock;
mod tickets;
mod tracking_link;
mod webhook_restart;
mod webhooks;
