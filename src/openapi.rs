//! The OpenAPI 3.1 document, generated from the handlers' annotations. `openapi/openapi.json` is this document,
//! checked in; a test fails when they differ.

use serde_json::json;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use crate::http::pagination::{self, DEFAULT_LIMIT, MAX_LIMIT};

use crate::{
    audit, auth, catalog, courier, customers, devices, error, events, health, loaners, loans, money, parts, repairs,
    stock, tickets, tracking, warranty,
};

#[derive(OpenApi)]
#[openapi(
    paths(
        catalog::http::create_store,
        catalog::http::list_stores,
        catalog::http::get_store,
        catalog::http::update_store,
        catalog::http::deactivate_store,
        catalog::http::activate_store,
        catalog::http::create_series,
        catalog::http::list_series,
        catalog::http::get_series,
        catalog::http::update_series,
        catalog::http::deactivate_series,
        catalog::http::activate_series,
        catalog::http::create_model,
        catalog::http::list_models,
        catalog::http::get_model,
        catalog::http::update_model,
        catalog::http::deactivate_model,
        catalog::http::activate_model,
        auth::http::create_api_key,
        auth::http::list_api_keys,
        auth::http::get_api_key,
        auth::http::revoke_api_key,
        audit::http::list_audit_entries,
        loaners::http::register_loaner,
        loaners::http::import_loaners,
        loaners::http::list_loaners,
        loaners::http::get_loaner_availability,
        loaners::http::get_loaner,
        loaners::http::move_loaner,
        loaners::http::retire_loaner,
        loaners::http::inspect_loaner,
        loaners::http::finish_loaner_maintenance,
        tickets::http::open_ticket,
        tickets::http::list_tickets,
        tickets::http::get_ticket,
        tickets::http::update_ticket_findings,
        tickets::http::rate_ticket,
        tickets::http::choose_remedy,
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
        events::http::list_events,
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
        (path = "/api/v1", api = parts::Api),
        (path = "/api/v1", api = stock::Api),
        (path = "/api/v1", api = repairs::Api),
        (path = "/api/v1", api = courier::Api),
        (path = "/api/v1", api = tracking::Api),
        (path = "/api/v1", api = devices::Api),
        (path = "/api/v1", api = customers::Api),
        (path = "/api/v1", api = warranty::Api),
        (path = "/api/v1", api = crate::webhooks::Api),
        (path = "/api/v1", api = crate::files::Api),
        (path = "/api/v1", api = crate::complaints::Api),
        (path = "/api/v1", api = crate::reports::Api),
    ),
    modifiers(&BearerAuth, &EnforcedLimits, &FlowLinks),
    tags(
        (name = "stores", description = "Service centers and warehouses"),
        (name = "series", description = "Product series; premium series get loaners"),
        (name = "models", description = "Product models"),
        (name = "tickets", description = "Repair tickets: warranty decision, status machine, timeline"),
        (name = "devices", description = "Phones by IMEI: the warranty certificate's record, plans, history"),
        (name = "customers", description = "Customers by mobile number: their devices and tickets"),
        (name = "loans", description = "Loaner loans: waitlist, reservation, hand-over, return"),
        (name = "loaners", description = "The loaner pool by store and series"),
        (name = "parts", description = "Spare parts, their prices and price history"),
        (name = "stock", description = "Stock per location: levels, the movement ledger, receipts, transfers, counts"),
        (name = "public", description = "Read-only, unauthenticated: the price list customers see"),
        (name = "courier", description = "Courier partners, pickups both ways, and the partner API"),
        (name = "api_keys", description = "API keys, roles and scopes"),
        (name = "warranty", description = "Series' warranty policies and the warranty check without a ticket"),
        (name = "audit", description = "Who changed what"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks): endpoints, delivery log, redelivery, replay, ping"),
        (name = "complaints", description = "Complaints: owner from first contact, the first reply's 48-hour clock, timeline, goodwill remedies"),
        (name = "reports", description = "Satisfaction and complaints per store and period, in JSON or CSV"),
        (name = "operations", description = "Health and metrics"),
        (name = "events", description = "The event feed: what changed, in order, for pull consumers"),
        (name = "files", description = "Photos and files on tickets and loans: upload, list, download, thumbnails, signed links"),
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
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::users::SESSION_COOKIE,
                "A staff console session (sign in at `/console/`), with its user's role and scope. A write under a \
                 session must send the session's CSRF token in `X-CSRF-Token` or an `Origin` naming this server \
                 (403 otherwise).",
            ))),
        );
        // Every operation that takes a key takes a session instead.
        let bearer = serde_json::json!([{ "bearer": [] }]);
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations_mut(item) {
                let Some(security) = operation.as_mut().and_then(|o| o.security.as_mut()) else {
                    continue;
                };
                if serde_json::to_value(&*security).ok().as_ref() == Some(&bearer) {
                    security.push(SecurityRequirement::new("session", Vec::<String>::new()));
                }
            }
        }
    }
}

/// Writes into the document the limits the server enforces on shapes every operation shares, from the same
/// constants the code checks against: `limit` bounds, each list's cursor pattern, the `Idempotency-Key` format,
/// the tracking token format and the money amount pattern. (Limits of one request type live in its own
/// annotations.)
struct EnforcedLimits;

/// Lists whose cursor carries a text key after the id (see `pagination::encode_keyed_cursor`), with the keys each
/// accepts: stock levels a SKU, the partner's pickups the phase of the last one listed.
const KEYED_CURSOR_LISTS: &[(&str, &str)] = &[
    (crate::stock::LEVELS, pagination::ANY_CURSOR_KEY),
    (crate::courier::COURIER_PICKUPS, "(open|final)"),
];

/// The `Idempotency-Key` header as `IdempotencyKey` accepts it: 1-200 visible ASCII characters.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[!-~]{1,200}$";

/// A tracking token as the tracking endpoint accepts it: 43 base64url characters (256 bits).
pub const TRACKING_TOKEN_PATTERN: &str = "^[A-Za-z0-9_-]{43}$";

impl Modify for EnforcedLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let list = path.strip_prefix("/api/v1").unwrap_or(path);
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if let Some(schema) = parameter_schema(list, &parameter.parameter_in, &parameter.name) {
                        parameter.schema = Some(schema);
                    }
                }
            }
        }
        let money = openapi.components.as_mut().and_then(|c| c.schemas.get_mut("Money"));
        if let Some(RefOr::T(Schema::Object(money))) = money
            && let Some(RefOr::T(Schema::Object(amount))) = money.properties.get_mut("amount")
        {
            amount.pattern = Some(crate::money::amount_pattern());
            amount.max_length = Some(crate::money::MAX_AMOUNT_DIGITS + 3);
        }
    }
}

/// The schema of a parameter every operation of its kind shares, as the server checks it.
fn parameter_schema(list: &str, place: &ParameterIn, name: &str) -> Option<RefOr<Schema>> {
    let schema = match (place, name) {
        (ParameterIn::Query, "limit") => json!({
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": DEFAULT_LIMIT,
        }),
        (ParameterIn::Query, "cursor") => {
            let pattern = match KEYED_CURSOR_LISTS.iter().find(|(keyed, _)| *keyed == list) {
                Some((_, key)) => pagination::keyed_cursor_pattern(list, key),
                None => pagination::cursor_pattern(list),
            };
            json!({"type": "string", "pattern": pattern})
        }
        (ParameterIn::Query, "after") if list == crate::events::FEED => {
            json!({"type": "string", "pattern": pagination::cursor_pattern(list)})
        }
        (ParameterIn::Query, "types") if list == crate::events::FEED => {
            json!({"type": "string", "pattern": crate::events::model::types_pattern()})
        }
        (ParameterIn::Header, "Idempotency-Key") => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        }),
        (ParameterIn::Path, "token") if list.starts_with("/public/tracking/") => json!({
            "type": "string",
            "minLength": 43,
            "maxLength": 43,
            "pattern": TRACKING_TOKEN_PATTERN,
        }),
        _ => return None,
    };
    serde_json::from_value(schema).ok()
}

/// Response links between operations, so that a client (and schemathesis' stateful phase) can follow the real
/// flows: a created record to the operations on it, a ticket to its loan, pickups and tracking view, a pickup to
/// its events and a loan to its hand-over and return.
///
/// Two kinds: every `201` of a `POST /things` links to each operation under `/things/{id}` (the `id` of the
/// answer fills the path parameter), and [`FLOW_LINKS`] adds the links across resources.
struct FlowLinks;

/// (from operationId, status, link name, to operationId, [(parameter, runtime expression)]).
type FlowLink = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// (status, link name, to operationId, [(parameter, runtime expression)]), owned.
type NewLink = (String, String, String, Vec<(String, String)>);

const FLOW_LINKS: &[FlowLink] = &[
    (
        "open_ticket",
        "201",
        "loan",
        "get_loan",
        &[("loan_id", "$response.body#/loan/id")],
    ),
    (
        "open_ticket",
        "201",
        "issue_loan",
        "issue_loan",
        &[("loan_id", "$response.body#/loan/id")],
    ),
    (
        "open_ticket",
        "201",
        "cancel_loan",
        "cancel_loan",
        &[("loan_id", "$response.body#/loan/id")],
    ),
    (
        "open_ticket",
        "201",
        "pickups",
        "list_ticket_pickups",
        &[("ticket_id", "$response.body#/id")],
    ),
    (
        "open_ticket",
        "201",
        "tracking",
        "track_repair",
        &[("token", "$response.body#/tracking_token")],
    ),
    (
        "get_ticket",
        "200",
        "loan",
        "get_loan",
        &[("loan_id", "$response.body#/loan/id")],
    ),
    (
        "get_ticket",
        "200",
        "create_pickup",
        "create_pickup",
        &[("ticket_id", "$response.body#/id")],
    ),
    (
        "create_pickup",
        "201",
        "get_ticket",
        "get_ticket",
        &[("ticket_id", "$response.body#/ticket_id")],
    ),
    (
        "create_pickup",
        "201",
        "accept",
        "accept_pickup",
        &[("pickup_id", "$response.body#/id")],
    ),
    (
        "create_pickup",
        "201",
        "event",
        "post_pickup_event",
        &[("pickup_id", "$response.body#/id")],
    ),
    (
        "create_pickup",
        "201",
        "reschedule",
        "reschedule_pickup",
        &[("pickup_id", "$response.body#/id")],
    ),
    (
        "create_pickup",
        "201",
        "cancel",
        "cancel_pickup",
        &[("pickup_id", "$response.body#/id")],
    ),
    (
        "accept_pickup",
        "200",
        "event",
        "post_pickup_event",
        &[("pickup_id", "$response.body#/id")],
    ),
    (
        "issue_loan",
        "200",
        "return",
        "return_loan",
        &[("loan_id", "$response.body#/id")],
    ),
    (
        "issue_loan",
        "200",
        "extend",
        "extend_loan",
        &[("loan_id", "$response.body#/id")],
    ),
    (
        "issue_loan",
        "200",
        "lost",
        "mark_loan_lost",
        &[("loan_id", "$response.body#/id")],
    ),
    (
        "issue_loan",
        "200",
        "ticket",
        "get_ticket",
        &[("ticket_id", "$response.body#/ticket_id")],
    ),
    (
        "get_loan",
        "200",
        "ticket",
        "get_ticket",
        &[("ticket_id", "$response.body#/ticket_id")],
    ),
    (
        "get_loan",
        "200",
        "loaner",
        "get_loaner",
        &[("loaner_id", "$response.body#/loaner_id")],
    ),
];

fn operations_mut(item: &mut utoipa::openapi::path::PathItem) -> [(&'static str, &mut Option<Operation>); 8] {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
}

impl Modify for FlowLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // operationId -> the path parameters its path has, for the links from creations.
        let mut under: Vec<(String, String, String)> = Vec::new(); // (collection path, parameter, operationId)
        let mut known = std::collections::BTreeSet::new();
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (_, operation) in operations_mut(item) {
                let Some(id) = operation.as_ref().and_then(|o| o.operation_id.clone()) else {
                    continue;
                };
                known.insert(id.clone());
                // `/things/{thing_id}` or `/things/{thing_id}/...`: a record of the collection `/things`.
                if let Some((collection, rest)) = path.split_once("/{")
                    && let Some((parameter, tail)) = rest.split_once('}')
                    && !tail.contains('{')
                {
                    under.push((collection.to_owned(), parameter.to_owned(), id));
                }
            }
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations_mut(item) {
                let Some(operation) = operation.as_mut() else { continue };
                let from = operation.operation_id.clone().unwrap_or_default();
                let mut links: Vec<NewLink> = Vec::new();
                if method == "post" {
                    for (collection, parameter, to) in &under {
                        if collection == path {
                            let parameters = vec![(parameter.clone(), "$response.body#/id".to_owned())];
                            links.push(("201".to_owned(), to.clone(), to.clone(), parameters));
                        }
                    }
                }
                for (source, status, name, to, parameters) in FLOW_LINKS {
                    if *source == from && known.contains(*to) {
                        let parameters = parameters
                            .iter()
                            .map(|(p, e)| ((*p).to_owned(), (*e).to_owned()))
                            .collect();
                        links.push(((*status).to_owned(), (*name).to_owned(), (*to).to_owned(), parameters));
                    }
                }
                for (status, name, to, parameters) in links {
                    let Some(RefOr::T(response)) = operation.responses.responses.get_mut(&status) else {
                        continue;
                    };
                    // utoipa 5 writes `Link::operation_id` as `operation_id` instead of the specification's
                    // `operationId`; the key goes in through the link's (flattened) extensions instead.
                    let key = Extensions::from_iter([("operationId", serde_json::Value::from(to))]);
                    let mut link = LinkBuilder::new().extensions(Some(key));
                    for (parameter, expression) in parameters {
                        link = link.parameter(parameter, expression);
                    }
                    response.links.insert(name, RefOr::T(link.build()));
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::ToSchema;

    use super::*;

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap_or_default()
    }

    /// Every `$ref` names a schema the document defines (a type used only as a query parameter is not collected
    /// by itself; a generated client then drops the whole operation).
    #[test]
    fn every_reference_resolves() {
        fn refs(value: &Value, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(r)) = map.get("$ref") {
                        out.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, out));
                }
                Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        let missing: Vec<&String> = found
            .iter()
            .filter(|r| {
                let name = r.trim_start_matches("#/components/schemas/");
                !r.starts_with("#/components/schemas/") || doc["components"]["schemas"].get(name).is_none()
            })
            .collect();
        assert!(missing.is_empty(), "references to no schema: {missing:?}");
    }

    /// The document's patterns for `list_parts`' `sku` and `q` accept exactly what the handler does (text trimmed
    /// of white space, then its length in characters and no control characters).
    #[test]
    fn part_search_patterns_match_the_checks() {
        let doc = doc();
        let params = doc["paths"]["/api/v1/parts"]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pattern = |name: &str| {
            let text = params
                .iter()
                .find(|p| p["name"] == name)
                .and_then(|p| p["schema"]["pattern"].as_str())
                .unwrap_or_else(|| panic!("no pattern for {name}"))
                .to_owned();
            regex::Regex::new(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        let samples: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "\ta\n",
            "a b",
            "a\u{1}b",
            "\u{1}",
            "\u{1c}a",
            "a\u{7f}",
            "\u{85}a\u{a0}",
            "\u{3000}x\u{2028}",
            "a\u{2028}b",
            "é",
            "\u{a0}",
            "\u{200b}",
            "x\u{9f}",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([63, 64, 65, 99, 100, 101].map(|n| "k".repeat(n)))
        .chain([64, 100].map(|n| format!("  {}\t", "é".repeat(n))))
        .chain([64, 100].map(|n| format!("a{}b", " ".repeat(n - 2))))
        .collect();
        for (name, min, max) in [("sku", 1, 64), ("q", 0, 100)] {
            let re = pattern(name);
            for sample in &samples {
                let mut checks = crate::http::validate::Checks::new();
                checks.text(name, sample, min, max);
                assert_eq!(
                    re.is_match(sample),
                    checks.finish().is_ok(),
                    "{name} = {sample:?}: the document and the check disagree"
                );
            }
        }
    }

    #[test]
    fn every_list_states_its_limit_and_its_own_cursor_pattern() {
        let doc = doc();
        let mut prefixes = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
                let param = |name: &str| parameters.iter().find(|p| p["name"] == name).cloned();
                if let Some(limit) = param("limit") {
                    assert_eq!(limit["schema"]["minimum"], 1, "{method} {path}");
                    assert_eq!(limit["schema"]["maximum"], MAX_LIMIT, "{method} {path}");
                }
                if let Some(cursor) = param("cursor") {
                    let list = path.trim_start_matches("/api/v1").to_owned();
                    let pattern = cursor["schema"]["pattern"].as_str().unwrap_or_default().to_owned();
                    assert!(
                        pattern.starts_with(&format!("^{}", pagination::cursor_prefix(&list))),
                        "{method} {path}: {pattern}"
                    );
                    assert_eq!(
                        prefixes.insert(pagination::cursor_prefix(&list), list),
                        None,
                        "two lists share a cursor prefix"
                    );
                }
            }
        }
        assert!(prefixes.len() >= 13, "lists found: {prefixes:?}");
    }

    #[test]
    fn every_creating_post_documents_the_idempotency_key_format() {
        let doc = doc();
        let mut creating = 0;
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let Some(post) = item.get("post") else { continue };
            if post["responses"].get("201").is_none() {
                continue;
            }
            creating += 1;
            let header = post["parameters"].as_array().and_then(|ps| {
                ps.iter()
                    .find(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            });
            let schema = header.map(|h| h["schema"].clone()).unwrap_or_default();
            assert_eq!(schema["pattern"], IDEMPOTENCY_KEY_PATTERN, "POST {path}");
            assert_eq!(schema["maxLength"], 200, "POST {path}");
        }
        assert!(creating >= 10, "{creating} creating POSTs");
    }

    #[test]
    fn links_name_real_operations_and_their_parameters() {
        let doc = doc();
        let mut operations = std::collections::BTreeMap::new();
        for item in doc["paths"].as_object().into_iter().flatten().map(|(_, item)| item) {
            for operation in item.as_object().into_iter().flatten().map(|(_, op)| op) {
                let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
                let names: Vec<String> = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                operations.insert(id, names);
            }
        }
        let mut count = 0;
        for item in doc["paths"].as_object().into_iter().flatten().map(|(_, item)| item) {
            for operation in item.as_object().into_iter().flatten().map(|(_, op)| op) {
                for response in operation["responses"].as_object().into_iter().flatten().map(|(_, r)| r) {
                    for (name, link) in response["links"].as_object().into_iter().flatten() {
                        count += 1;
                        let to = link["operationId"].as_str().unwrap_or_default();
                        let parameters = operations.get(to);
                        assert!(parameters.is_some(), "link {name} names no operation {to}");
                        for parameter in link["parameters"].as_object().into_iter().flatten().map(|(p, _)| p) {
                            assert!(
                                parameters.is_some_and(|ps| ps.contains(parameter)),
                                "link {name}: {to} has no parameter {parameter}"
                            );
                        }
                    }
                }
            }
        }
        let ticket = &doc["paths"]["/api/v1/tickets"]["post"]["responses"]["201"]["links"];
        assert_eq!(ticket["loan"]["operationId"], "get_loan");
        assert_eq!(ticket["get_ticket"]["parameters"]["ticket_id"], "$response.body#/id");
        let pickup = &doc["paths"]["/api/v1/tickets/{ticket_id}/pickups"]["post"]["responses"]["201"]["links"];
        assert_eq!(pickup["event"]["operationId"], "post_pickup_event");
        assert!(count >= 40, "{count} links");
    }

    /// Every type that derives `ToSchema` in `src`, by the name it takes in the document (`#[schema(as = …)]`, else
    /// its own), with where it is declared. Types a macro declares are found through the macro's invocations.
    fn schema_types_by_name() -> std::collections::BTreeMap<String, Vec<String>> {
        fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    // Comments are blanked (lines kept, for the line numbers): a doc comment may name `ToSchema`.
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let code: Vec<&str> = text
                        .lines()
                        .map(|l| if l.trim_start().starts_with("//") { "" } else { l })
                        .collect();
                    out.push((path.display().to_string(), code.join("\n")));
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let derive = regex::Regex::new(r"derive\([^)]*\bToSchema\b").unwrap_or_else(|e| panic!("{e}"));
        let declared = regex::Regex::new(r"\b(?:struct|enum)\s+(\$?\w+)").unwrap_or_else(|e| panic!("{e}"));
        let renamed = regex::Regex::new(r"#\[schema\([^\]]*\bas\s*=\s*([\w:]+)").unwrap_or_else(|e| panic!("{e}"));
        let macro_start = regex::Regex::new(r"macro_rules!\s*(\w+)").unwrap_or_else(|e| panic!("{e}"));
        let mut names: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut macros = Vec::new();
        for (file, code) in &files {
            for found in derive.find_iter(code) {
                let rest = &code[found.end()..];
                let Some(item) = declared.captures(rest) else { continue };
                let attributes = &rest[..item.get(0).map_or(0, |m| m.start())];
                let line = code[..found.start()].lines().count() + 1;
                let ident = &item[1];
                if ident.starts_with('$') {
                    // Declared by a macro: the last `macro_rules!` before the derive is the one.
                    if let Some(m) = macro_start.captures_iter(&code[..found.start()]).last() {
                        macros.push(m[1].to_owned());
                    }
                    continue;
                }
                // utoipa names `as = a::B` `a.B`.
                let name = renamed
                    .captures(attributes)
                    .map_or(ident.to_owned(), |r| r[1].replace("::", "."));
                names.entry(name).or_default().push(format!("{file}:{line} {ident}"));
            }
        }
        for name in macros {
            let invocation = regex::Regex::new(&format!(r"\b{name}!\s*[(\[{{]\s*(?:#\[[^\]]*\]\s*)*(\w+)\s*\{{"))
                .unwrap_or_else(|e| panic!("{e}"));
            for (file, code) in &files {
                for found in invocation.captures_iter(code) {
                    let line = code[..found.get(0).map_or(0, |m| m.start())].lines().count() + 1;
                    let ident = found[1].to_owned();
                    names
                        .entry(ident.clone())
                        .or_default()
                        .push(format!("{file}:{line} {name}!({ident})"));
                }
            }
        }
        names
    }

    /// No two Rust types take the same schema name: utoipa keeps one of them without a word, and every reference
    /// to the other then describes the wrong shape. (The courier partner's event type once took `EventType`, the
    /// outbox's, so `PostEvent.type` listed `ticket.opened` and the rest.) Within an area this is the one check;
    /// across areas `no_two_areas_give_one_schema_name_different_shapes` checks the built documents too.
    #[test]
    fn no_two_schema_types_share_a_name() {
        let names = schema_types_by_name();
        assert!(names.len() >= 150, "{} schema types found", names.len());
        for known in ["Problem", "Money", "ComplaintCategory", "GoodwillRemedy", "FileBytes"] {
            assert!(names.contains_key(known), "{known} not found");
        }
        let clashes: Vec<_> = names.iter().filter(|(_, types)| types.len() > 1).collect();
        assert!(
            clashes.is_empty(),
            "schema names taken by more than one type: {clashes:#?}"
        );
    }

    /// The document's areas, each as utoipa builds it alone, with the path prefix it is nested under.
    fn areas() -> Vec<(&'static str, &'static str, utoipa::openapi::OpenApi)> {
        vec![
            ("ApiV1", "/api/v1", ApiV1::openapi()),
            ("parts", "/api/v1", parts::Api::openapi()),
            ("stock", "/api/v1", stock::Api::openapi()),
            ("repairs", "/api/v1", repairs::Api::openapi()),
            ("courier", "/api/v1", courier::Api::openapi()),
            ("tracking", "/api/v1", tracking::Api::openapi()),
            ("devices", "/api/v1", devices::Api::openapi()),
            ("customers", "/api/v1", customers::Api::openapi()),
            ("warranty", "/api/v1", warranty::Api::openapi()),
            ("webhooks", "/api/v1", crate::webhooks::Api::openapi()),
            ("files", "/api/v1", crate::files::Api::openapi()),
            ("complaints", "/api/v1", crate::complaints::Api::openapi()),
            ("reports", "/api/v1", crate::reports::Api::openapi()),
        ]
    }

    /// Where two areas both define a schema name, they define the same schema: nesting keeps the last area's
    /// without a word.
    #[test]
    fn no_two_areas_give_one_schema_name_different_shapes() {
        let doc = doc();
        let mut covered = std::collections::BTreeSet::new();
        let mut seen: std::collections::BTreeMap<String, (&str, Value)> = Default::default();
        let mut clashes = Vec::new();
        for (area, prefix, api) in areas() {
            covered.extend(api.paths.paths.keys().map(|p| format!("{prefix}{p}")));
            let schemas = api.components.map(|c| c.schemas).unwrap_or_default();
            for (name, schema) in schemas {
                let schema = serde_json::to_value(schema).unwrap_or_default();
                match seen.get(&name) {
                    Some((first, earlier)) if *earlier != schema => clashes.push(format!("{name}: {first} and {area}")),
                    Some(_) => {}
                    None => {
                        seen.insert(name, (area, schema));
                    }
                }
            }
        }
        // Every area is in the list: each path under /api/v1 comes from one of them.
        let uncovered: Vec<&String> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, _)| path)
            .filter(|path| path.starts_with("/api/v1") && !covered.contains(*path))
            .collect();
        assert!(
            uncovered.is_empty(),
            "paths of an area this test does not list: {uncovered:?}"
        );
        assert!(clashes.is_empty(), "one name, different schemas: {clashes:?}");
    }

    /// A deserializer that only learns an enum's wire names: serde's derive hands them (renames applied) to
    /// `deserialize_enum`, so every variant is seen, not only those the document lists.
    struct WireNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for WireNames<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom("not an enum"))
        }

        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = variants;
            Err(serde::de::Error::custom("names taken"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }

    /// (schema name, Rust type, what serde_json writes for each variant, in declaration order).
    type WireEnum = (String, &'static str, Vec<Value>);

    fn wire_enum<T: ToSchema + serde::de::DeserializeOwned + serde::Serialize>() -> WireEnum {
        let mut names: &'static [&'static str] = &[];
        let _ = T::deserialize(WireNames(&mut names));
        let written = names
            .iter()
            .map(|name| {
                let variant: T = serde_json::from_value(Value::from(*name))
                    .unwrap_or_else(|e| panic!("{}: {name}: {e}", std::any::type_name::<T>()));
                serde_json::to_value(variant).unwrap_or_default()
            })
            .collect();
        (T::name().into_owned(), std::any::type_name::<T>(), written)
    }

    macro_rules! wire_enums {
        ($($t:ty),+ $(,)?) => { vec![$(wire_enum::<$t>()),+] };
    }

    /// Every string enum the document lists is exactly what serde writes, variant by variant: utoipa and serde
    /// read the renames separately (utoipa once missed those given through `wire_enum!`, and documented `Open`
    /// where the server takes `open`).
    #[test]
    fn every_documented_enum_lists_what_serde_writes() {
        use crate::{complaints::model as complaint, files::model as file};
        let enums: Vec<WireEnum> = wire_enums![
            warranty::Certificate,
            warranty::CoveredItem,
            warranty::FaultKind,
            warranty::PolicySource,
            warranty::Remedy,
            warranty::Rule,
            tickets::Channel,
            tickets::TicketStatus,
            tickets::http::OutcomeKind,
            complaint::ComplaintAbout,
            complaint::ComplaintCategory,
            complaint::ComplaintChannel,
            complaint::ComplaintEventKind,
            complaint::ComplaintState,
            complaint::ContactPreference,
            complaint::DueFilter,
            complaint::RemedyKind,
            complaint::ReplyClock,
            money::Currency,
            devices::DeviceState,
            devices::PlanKind,
            courier::Direction,
            courier::EventType,
            courier::PickupStatus,
            events::EventType,
            events::SubjectType,
            file::FileStage,
            file::FileType,
            file::LoanFileStage,
            file::TicketFileStage,
            file::Visibility,
            crate::files::rules::LinkVariant,
            loaners::Grade,
            loaners::InspectionResult,
            loaners::LoanerState,
            loans::LoanState,
            loans::http::ReturnCondition,
            crate::webhooks::model::MessageStatus,
            stock::MovementKind,
            parts::PartCategory,
            repairs::PartLineState,
            tracking::model::QuoteState,
            crate::reports::http::ReportFormat,
            auth::Role,
            catalog::StoreKind,
        ];
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().cloned().unwrap_or_default();
        let listed: std::collections::BTreeSet<&str> = enums.iter().map(|(name, ..)| name.as_str()).collect();
        let unlisted: Vec<&String> = schemas
            .iter()
            .filter(|(name, schema)| schema.get("enum").is_some() && !listed.contains(name.as_str()))
            .map(|(name, _)| name)
            .collect();
        assert!(
            unlisted.is_empty(),
            "string enums this test does not list: {unlisted:?}"
        );
        for (name, rust, written) in &enums {
            assert!(!written.is_empty(), "{rust}: serde named no variant");
            let documented = schemas.get(name).map(|s| s["enum"].clone()).unwrap_or_default();
            assert_eq!(
                documented,
                Value::Array(written.clone()),
                "{rust}, documented as {name}: the document's values (left) are not what serde writes (right)"
            );
        }
    }

    #[test]
    fn money_amounts_state_the_pattern_the_parser_accepts() {
        let doc = doc();
        assert_eq!(
            doc["components"]["schemas"]["Money"]["properties"]["amount"]["pattern"],
            crate::money::amount_pattern()
        );
    }
}
