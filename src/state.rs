//! What every request handler can reach: the state shared by the areas, built by `startup::prepare`. It lives here,
//! not in `startup`, so that the areas depend on it and `startup` depends on the areas, never the other way round.

use crate::config::Settings;
use crate::db::Db;
use crate::edge::{BadKeys, FailureLimiter, LinkWrites, RecentKeys, Shutdown};
use crate::telemetry::Metrics;

/// What every request handler can reach.
pub struct AppState {
    pub db: Db,
    pub metrics: Metrics,
    pub settings: Settings,
    /// Failed customer-tracking look-ups per client: a client over the limit is told to wait, but a valid token
    /// is always answered.
    pub failed_lookups: FailureLimiter,
    /// Writes through tracking links, limited per token and per client ([`LinkWrites::admit`]).
    pub link_writes: LinkWrites,
    /// Failed authentications per client: a client over the limit gets 429 before any work.
    pub auth_failures: FailureLimiter,
    /// Failed console sign-ins per client: a client over the limit is told to wait before its next try.
    pub sign_in_failures: FailureLimiter,
    /// Well-formed keys the database did not know, refused again without a look-up.
    pub bad_keys: BadKeys,
    /// Keys accepted recently: a client blocked for failed authentication is still served with one of them.
    pub good_keys: RecentKeys,
    /// Set when the server begins to stop.
    pub shutdown: Shutdown,
    /// The file store and the upload spool.
    pub files: crate::files::Files,
}
