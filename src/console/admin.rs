//! The console's admin pages.

use actix_web::web;

/// Registers this part's pages inside the `/console` scope.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
