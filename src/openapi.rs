//! The OpenAPI 3.1 document, generated from the handlers' annotations. `openapi/openapi.json` is this document,
//! checked in; a test fails when they differ.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{audit, auth, catalog, courier, error, health, loaners, loans, money, parts, tickets, tracking};

#[derive(OpenApi)]
#[openapi(
    paths(
        catalog::stores::create_store,
        catalog::stores::list_stores,
        catalog::stores::get_store,
        catalog::stores::update_store,
        catalog::stores::deactivate_store,
        catalog::stores::activate_store,
        catalog::series::create_series,
        catalog::series::list_series,
        catalog::series::get_series,
        catalog::series::update_series,
        catalog::series::deactivate_series,
        catalog::series::activate_series,
        catalog::models::create_model,
        catalog::models::list_models,
        catalog::models::get_model,
        catalog::models::update_model,
        catalog::models::deactivate_model,
        catalog::models::activate_model,
        auth::keys::create_api_key,
        auth::keys::list_api_keys,
        auth::keys::get_api_key,
        auth::keys::revoke_api_key,
        audit::list_audit_entries,
        loaners::register_loaner,
        loaners::import_loaners,
        loaners::list_loaners,
        loaners::get_loaner_availability,
        loaners::get_loaner,
        loaners::move_loaner,
        loaners::retire_loaner,
        loaners::inspect_loaner,
        loaners::finish_loaner_maintenance,
        tickets::http::open_ticket,
        tickets::http::list_tickets,
        tickets::http::get_ticket,
        tickets::http::update_ticket_findings,
        tickets::http::rate_ticket,
        tickets::http::start_diagnosis,
        tickets::http::request_approval,
        tickets::http::start_repair,
        tickets::http::start_quality_check,
        tickets::http::mark_ready,
        tickets::http::close_ticket,
        tickets::http::cancel_ticket,
        loans::http::list_loans,
        loans::http::get_loan,
        loans::http::issue_loan,
        loans::http::return_loan,
        loans::http::mark_loan_lost,
        loans::http::cancel_loan,
        loans::http::extend_loan,
    ),
    components(schemas(error::Problem, error::FieldError, money::Money, money::Currency))
)]
struct ApiV1;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Depot",
        description = "Back office of a phone maker's after-sales network: loaner handsets matched by product \
series, spare-parts stock with prices, repair tickets and courier mail-in pickups.\n\n\
Authenticate with `Authorization: Bearer <API key>`. Errors are `application/problem+json` with a stable `code`. \
Lists are paginated with `limit` and an opaque `cursor` (`next_cursor` of the previous page). Creating POSTs honour \
`Idempotency-Key`. Money is `{\"amount\": \"99.00\", \"currency\": \"CNY\"}`."
    ),
    paths(health::live, health::ready, health::metrics),
    nest(
        (path = "/api/v1", api = ApiV1),
        (path = "/api/v1", api = parts::catalog::Api),
        (path = "/api/v1", api = parts::stock::Api),
        (path = "/api/v1", api = parts::repair::Api),
        (path = "/api/v1", api = courier::Api),
        (path = "/api/v1", api = tracking::Api),
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "stores", description = "Service centers and warehouses"),
        (name = "series", description = "Product series; premium series get loaners"),
        (name = "models", description = "Product models"),
        (name = "tickets", description = "Repair tickets: warranty decision, status machine, timeline"),
        (name = "loans", description = "Loaner loans: waitlist, reservation, hand-over, return"),
        (name = "loaners", description = "The loaner pool by store and series"),
        (name = "parts", description = "Spare parts, their prices and price history"),
        (name = "stock", description = "Stock per location: levels, the movement ledger, receipts, transfers, counts"),
        (name = "public", description = "Read-only, unauthenticated: the price list customers see"),
        (name = "courier", description = "Courier partners, pickups both ways, and the partner API"),
        (name = "api_keys", description = "API keys, roles and scopes"),
        (name = "audit", description = "Who changed what"),
        (name = "operations", description = "Health and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("dpk_…")
                    .description(Some(
                        "An API key created by `depot keys create` or `POST /api/v1/api-keys`.",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as checked in: pretty JSON with a trailing newline.
pub fn document_json() -> String {
    let mut text = document().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}
