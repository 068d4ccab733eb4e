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

/// Sends `body` to `path` from `n` threads at once and returns the answers.
fn at_once(app: &TestApp, path: &str, body: &serde_json::Value, n: usize) -> Vec<crate::helpers::Resp> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    app.post_admin(path, body)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

#[test]
fn concurrent_creations_with_one_key_answer_one_code_without_internals() {
    let app = spawn_app();
    let p = premium(&app, "DUP", 0);
    let store = app.create_store("DUP-SC", "Shenzhen");
    let cases = [
        (
            "/api/v1/stores",
            json!({"code": "RACE", "name": "Race", "city": "Shenzhen", "kind": "service_center"}),
            "duplicate_code",
        ),
        (
            "/api/v1/series",
            json!({"code": "RACE", "name": "Race", "premium": false}),
            "duplicate_code",
        ),
        (
            "/api/v1/models",
            json!({"code": "RACE", "name": "Race", "series_id": p.series}),
            "duplicate_code",
        ),
        (
            "/api/v1/partners",
            json!({"code": "RACE", "name": "Race Express"}),
            "duplicate_code",
        ),
        (
            "/api/v1/parts",
            json!({"sku": "RACE-1", "name": "Race part", "category": "screen", "compatible_model_ids": [p.model],
                   "price": {"amount": "10.00", "currency": "CNY"}}),
            "duplicate_sku",
        ),
        (
            "/api/v1/loaners",
            json!({"imei": crate::tickets::imei(), "model_id": p.model, "store_id": store, "grade": "A"}),
            "duplicate_imei",
        ),
    ];
    for round in 0..3 {
        for (path, body, code) in &cases {
            let mut body = body.clone();
            if let Some(key) = ["code", "sku"].into_iter().find(|k| body.get(k).is_some()) {
                body[key] = json!(format!("{}-{round}", body[key].as_str().unwrap_or_default()));
            } else {
                body["imei"] = json!(crate::tickets::imei());
            }
            let answers = at_once(&app, path, &body, 8);
            let created = answers.iter().filter(|r| r.status == 201).count();
            assert_eq!(created, 1, "{path}: one creation wins");
            for lost in answers.iter().filter(|r| r.status != 201) {
                lost.problem(409, code);
                let detail = lost.body["detail"].as_str().unwrap_or_default();
                for internal in [
                    "_key",
                    "constraint",
                    "UNIQUE",
                    "unique",
                    "violat",
                    "stores.",
                    "product_",
                    "partners.",
                    "parts.",
                ] {
                    assert!(
                        !detail.contains(internal),
                        "{path}: the detail names internals: {detail}"
                    );
                }
            }
        }
    }
}
