//! Refusals a client acts on by their code: one code per meaning, whichever request met it, and no internals.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};
use crate::tickets::{open, premium};

fn post(app: &TestApp, path: &str, body: &str) -> crate::helpers::Resp {
    app.send(
        "POST",
        path,
        Some(&app.admin_key),
        &[("Content-Type", "application/json")],
        body,
    )
}

#[test]
fn a_loaner_still_with_the_customer_is_one_refusal_everywhere() {
    let app = spawn_app();
    let p = premium(&app, "OUT", 1);
    let ticket = open(&app, &p);
    let id = ticket.id();
    let loan = ticket.body["loan"]["id"].as_str().unwrap_or_default().to_owned();
    let issued = post(&app, &format!("/api/v1/loans/{loan}/issue"), "{}");
    assert_eq!(issued.status, 200, "{}", issued.text);

    let reason = json!({"reason": "customer changed their mind"}).to_string();
    post(&app, &format!("/api/v1/loans/{loan}/cancel"), &reason).problem(409, "loaner_outstanding");
    post(&app, &format!("/api/v1/tickets/{id}/cancel"), "").problem(409, "loaner_outstanding");
    for action in ["start-diagnosis", "start-repair", "start-quality-check", "mark-ready"] {
        let res = post(&app, &format!("/api/v1/tickets/{id}/{action}"), "");
        assert_eq!(res.status, 200, "{action}: {}", res.text);
    }
    post(&app, &format!("/api/v1/tickets/{id}/close"), "").problem(409, "loaner_outstanding");
    let after = app.get_admin(&format!("/api/v1/loans/{loan}"));
    assert_eq!(
        after.body["state"], "issued",
        "a refusal changes nothing: {}",
        after.text
    );
}
