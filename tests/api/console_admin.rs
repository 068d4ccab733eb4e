//! The console's admin pages: an admin builds the catalog, the loaner pool (one loaner and a CSV file), parts and
//! their prices, partners, API keys (shown once) and users (who then sign in; disabled, they are signed out and
//! refused; a reset password lets the new one in, not the old) through the forms, each checked through the JSON
//! API; a refused form shows the problem beside its field and changes nothing; one form token acts once; and every
//! admin page and form refuses anyone but an admin.

use depot::auth::Role;
use depot::users::Locale;
use serde_json::{Value, json};

use crate::console::{Browser, Must, PASSWORD, Page, create_user};
use crate::helpers::{TestApp, spawn_app};
use crate::tickets::imei;

/// The hidden `csrf` and `idem` fields of the form with this id.
fn tokens(page: &Page, form_id: &str) -> (String, String) {
    let start = page
        .html
        .find(&format!("id=\"{form_id}\""))
        .unwrap_or_else(|| panic!("no form {form_id} in {}", page.html));
    let form = &page.html[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let hidden = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        form.find(&marker)
            .map(|i| {
                form[i + marker.len()..]
                    .split('"')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    (hidden("csrf"), hidden("idem"))
}

/// Posts the form `form_id` of `page` to `action` with these fields and the form's own tokens.
fn submit(b: &mut Browser, page: &Page, form_id: &str, action: &str, fields: &[(&str, &str)]) -> Page {
    let (csrf, idem) = tokens(page, form_id);
    assert_eq!(csrf.len(), 43, "form {form_id} carries the session's token");
    let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf), ("idem", &idem)];
    all.extend_from_slice(fields);
    b.post(action, &all, &[])
}

/// A browser signed in as a new admin user.
fn admin(app: &TestApp) -> Browser<'_> {
    create_user(app, "root", Role::Admin, &[], Locale::En);
    let mut b = Browser::new(app);
    assert_eq!(b.sign_in("root", PASSWORD, "/console/admin/").status, 303);
    b
}

/// The text of the element with this id (up to its first tag).
fn text_of(page: &Page, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let start = page
        .html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in {}", page.html));
    let rest = &page.html[start..];
    let rest = &rest[rest.find('>').map_or(0, |i| i + 1)..];
    rest.split('<').next().unwrap_or_default().trim().to_owned()
}

fn items(app: &TestApp, path: &str) -> Vec<Value> {
    let res = app.get_admin(path);
    assert_eq!(res.status, 200, "{}", res.text);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

fn with_code<'a>(list: &'a [Value], code: &str) -> Vec<&'a Value> {
    list.iter().filter(|v| v["code"] == code).collect()
}

/// The id at the end of a record page's location (`/console/admin/stores/{id}?saved`).
fn id_in(location: &str) -> String {
    location
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_admin_builds_stores_series_models_and_partners_through_the_forms() {
    let app = spawn_app();
    let mut b = admin(&app);
    let index = b.get("/console/admin/");
    assert_eq!(index.status, 200, "{}", index.html);
    for section in [
        "stores", "series", "models", "loaners", "parts", "partners", "keys", "users",
    ] {
        assert!(
            index.html.contains(&format!("href=\"/console/admin/{section}\"")),
            "{section}"
        );
    }

    let page = b.get("/console/admin/stores");
    assert_eq!(page.status, 200, "{}", page.html);
    let fields = [
        ("code", "sz-futian"),
        ("name", "Futian service center"),
        ("city", "Shenzhen"),
        ("kind", "service_center"),
        ("time_zone", "Asia/Shanghai"),
        ("address", "88 Shennan Road, Futian"),
        ("phone", "0755-8888-0000"),
    ];
    let made = submit(&mut b, &page, "store-form", "/console/admin/stores", &fields);
    assert_eq!(made.status, 303, "{}", made.html);
    assert!(made.location.starts_with("/console/admin/stores/"), "{}", made.location);
    let store_id = made
        .location
        .trim_start_matches("/console/admin/stores/")
        .trim_end_matches("?saved");
    let saved = app.get_admin(&format!("/api/v1/stores/{store_id}"));
    assert_eq!(saved.body["address"], "88 Shennan Road, Futian", "{}", saved.text);
    assert_eq!(saved.body["phone"], "0755-8888-0000", "the work order's contact line");
    // The same form sent again (a double click) creates nothing more and goes to the same place.
    let again = submit(&mut b, &page, "store-form", "/console/admin/stores", &fields);
    assert_eq!(again.status, 303);
    assert_eq!(again.location, made.location);
    // The same form kept open and sent again with other values does nothing, and says so.
    let changed = submit(
        &mut b,
        &page,
        "store-form",
        "/console/admin/stores",
        &[
            ("code", "SZ-OTHER"),
            ("name", "x"),
            ("city", "x"),
            ("kind", "warehouse"),
        ],
    );
    assert_eq!(changed.status, 422, "{}", changed.html);
    assert!(changed.html.contains("already sent"), "{}", changed.html);
    let stores = items(&app, "/api/v1/stores");
    assert_eq!(stores.len(), 1, "{stores:?}");
    assert_eq!(with_code(&stores, "SZ-FUTIAN").len(), 1, "{stores:?}");
    let shown = b.get(&made.location);
    assert_eq!(shown.status, 200);
    assert_eq!(text_of(&shown, "store-code"), "SZ-FUTIAN");
    assert!(shown.html.contains("id=\"saved\""));
    // No such record, or no id at all: the 404 page.
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(b.get(&format!("/console/admin/stores/{unknown}")).status, 404);
    assert_eq!(b.get("/console/admin/stores/not-an-id").status, 404);
    assert_eq!(b.get(&format!("/console/admin/users/{unknown}")).status, 404);

    // A taken code: the problem beside the code field, what was typed kept, nothing created.
    let page = b.get("/console/admin/stores");
    let taken = submit(
        &mut b,
        &page,
        "store-form",
        "/console/admin/stores",
        &[
            ("code", "SZ-FUTIAN"),
            ("name", "Another"),
            ("city", "Shenzhen"),
            ("kind", "service_center"),
        ],
    );
    assert_eq!(taken.status, 422, "{}", taken.html);
    assert!(
        taken.html.contains("<p class=\"field-problem\" id=\"code-problem\">"),
        "{}",
        taken.html
    );
    assert!(
        taken
            .html
            .contains("aria-invalid=\"true\" aria-describedby=\"code-problem\"")
    );
    assert!(taken.html.contains("value=\"Another\""), "what was typed stays");
    assert_eq!(with_code(&items(&app, "/api/v1/stores"), "SZ-FUTIAN").len(), 1);
    assert_eq!(items(&app, "/api/v1/stores").len(), 1);

    // Change it, deactivate it.
    let store_id = id_in(&made.location);
    let edit = b.get(&format!("/console/admin/stores/{store_id}"));
    let saved = submit(
        &mut b,
        &edit,
        "store-form",
        &format!("/console/admin/stores/{store_id}"),
        &[
            ("name", "Futian center"),
            ("city", "Shenzhen"),
            ("time_zone", "Asia/Shanghai"),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.html);
    let off = submit(
        &mut b,
        &edit,
        "active-form",
        &format!("/console/admin/stores/{store_id}/active"),
        &[("active", "false")],
    );
    assert_eq!(off.status, 303, "{}", off.html);
    let store = app.get_admin(&format!("/api/v1/stores/{store_id}"));
    assert_eq!(store.body["name"], "Futian center");
    assert_eq!(store.body["active"], false);

    // A premium series with a deposit, and a model in it: the model list shows the series is premium.
    let page = b.get("/console/admin/series");
    let series = submit(
        &mut b,
        &page,
        "series-form",
        "/console/admin/series",
        &[
            ("code", "mate"),
            ("name", "Mate"),
            ("premium", "on"),
            ("loaner_deposit", "500.00"),
        ],
    );
    assert_eq!(series.status, 303, "{}", series.html);
    let all_series = items(&app, "/api/v1/series");
    let mate = with_code(&all_series, "MATE");
    assert_eq!(mate.len(), 1);
    assert_eq!(mate[0]["premium"], true);
    assert_eq!(mate[0]["loaner_deposit"]["amount"], "500.00");
    let bad_deposit = submit(
        &mut b,
        &page,
        "series-form",
        "/console/admin/series",
        &[("code", "p"), ("name", "P"), ("loaner_deposit", "5,00")],
    );
    assert_eq!(bad_deposit.status, 422);
    assert!(
        bad_deposit.html.contains("id=\"loaner_deposit-problem\""),
        "{}",
        bad_deposit.html
    );
    assert_eq!(items(&app, "/api/v1/series").len(), 1);

    let page = b.get("/console/admin/models");
    let series_id = mate[0]["id"].as_str().must();
    let model = submit(
        &mut b,
        &page,
        "model-form",
        "/console/admin/models",
        &[("code", "mate60pro"), ("name", "Mate 60 Pro"), ("series_id", series_id)],
    );
    assert_eq!(model.status, 303, "{}", model.html);
    let models = items(&app, "/api/v1/models");
    assert_eq!(with_code(&models, "MATE60PRO")[0]["series_id"], series_id);
    let list = b.get("/console/admin/models");
    assert!(list.html.contains("MATE60PRO"));
    assert!(
        list.html.contains("<span class=\"badge\">Premium</span>"),
        "{}",
        list.html
    );
    let no_series = submit(
        &mut b,
        &page,
        "model-form",
        "/console/admin/models",
        &[("code", "x1"), ("name", "X")],
    );
    assert_eq!(no_series.status, 422);
    assert!(no_series.html.contains("id=\"series_id-problem\""));

    // Courier partners.
    let page = b.get("/console/admin/partners");
    let partner = submit(
        &mut b,
        &page,
        "partner-form",
        "/console/admin/partners",
        &[("code", "sf"), ("name", "SF Express")],
    );
    assert_eq!(partner.status, 303, "{}", partner.html);
    let partners = items(&app, "/api/v1/partners");
    assert_eq!(with_code(&partners, "SF").len(), 1);
    let page = b.get("/console/admin/partners");
    assert!(page.html.contains("SF Express"));
    let taken = submit(
        &mut b,
        &page,
        "partner-form",
        "/console/admin/partners",
        &[("code", "SF"), ("name", "Again")],
    );
    assert_eq!(taken.status, 422);
    assert!(taken.html.contains("id=\"code-problem\""));
}

#[test]
fn loaners_are_registered_one_or_from_a_csv_file_then_moved_and_retired() {
    let app = spawn_app();
    let mut b = admin(&app);
    let futian = app.create_store("LN-A", "Shenzhen");
    let nanshan = app.create_store("LN-B", "Shenzhen");
    let series = app.post_admin(
        "/api/v1/series",
        &json!({"code": "LN-MATE", "name": "Mate", "premium": true}),
    );
    let model = app.post_admin(
        "/api/v1/models",
        &json!({"code": "LN-M60", "name": "Mate 60", "series_id": series.id()}),
    );

    let page = b.get("/console/admin/loaners");
    assert_eq!(page.status, 200, "{}", page.html);
    let one = imei();
    let made = submit(
        &mut b,
        &page,
        "loaner-form",
        "/console/admin/loaners",
        &[
            ("imei", &one),
            ("model_id", &model.id()),
            ("store_id", &futian),
            ("grade", "A"),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.html);
    assert_eq!(items(&app, "/api/v1/loaners").len(), 1);
    // Each form a page shows carries a new token; one used already, with other values, is refused.
    let page = b.get("/console/admin/loaners");
    let bad = submit(
        &mut b,
        &page,
        "loaner-form",
        "/console/admin/loaners",
        &[
            ("imei", "123"),
            ("model_id", &model.id()),
            ("store_id", &futian),
            ("grade", "A"),
        ],
    );
    assert_eq!(bad.status, 422);
    assert!(bad.html.contains("id=\"imei-problem\""), "{}", bad.html);

    // A file with a bad third line: nothing registered, the line named in the errors table.
    let (good1, good2) = (imei(), imei());
    let csv = format!("imei,model_code,store_code,grade\n{good1},LN-M60,LN-A,A\n{good2},LN-M60,NOWHERE,B\n");
    let refused = submit(
        &mut b,
        &page,
        "import-form",
        "/console/admin/loaners/import",
        &[("csv", &csv)],
    );
    assert_eq!(refused.status, 422, "{}", refused.html);
    let table = refused.html.split("id=\"import-errors\"").nth(1).must();
    let table = &table[..table.find("</table>").must()];
    assert!(table.contains("line 3"), "{table}");
    assert!(!table.contains("line 2"), "{table}");
    assert!(refused.html.contains(&good1), "the file is kept to correct");
    assert_eq!(items(&app, "/api/v1/loaners").len(), 1, "all lines or none");

    let fixed = csv.replace("NOWHERE", "LN-B");
    let imported = submit(
        &mut b,
        &refused,
        "import-form",
        "/console/admin/loaners/import",
        &[("csv", &fixed)],
    );
    assert_eq!(imported.status, 303, "{}", imported.html);
    assert_eq!(imported.location, "/console/admin/loaners?imported=2");
    assert_eq!(items(&app, "/api/v1/loaners").len(), 3);

    // The filters: by store, and by state.
    let at_b = b.get(&format!("/console/admin/loaners?store={nanshan}"));
    assert!(
        at_b.html.contains(&good2) && !at_b.html.contains(&good1),
        "{}",
        at_b.html
    );
    let retired = b.get("/console/admin/loaners?state=retired");
    assert!(retired.html.contains("id=\"no-loaners\""));

    // Move the first one to the other store, then retire it.
    let loaner = id_in(&made.location);
    let page = b.get(&format!("/console/admin/loaners/{loaner}"));
    assert_eq!(page.status, 200, "{}", page.html);
    let moved = submit(
        &mut b,
        &page,
        "move-form",
        &format!("/console/admin/loaners/{loaner}/move"),
        &[("store_id", &nanshan)],
    );
    assert_eq!(moved.status, 303, "{}", moved.html);
    assert_eq!(
        app.get_admin(&format!("/api/v1/loaners/{loaner}")).body["store_id"],
        nanshan.as_str()
    );
    let no_reason = submit(
        &mut b,
        &page,
        "retire-form",
        &format!("/console/admin/loaners/{loaner}/retire"),
        &[],
    );
    assert_eq!(no_reason.status, 422);
    assert!(no_reason.html.contains("id=\"reason-problem\""));
    let gone = submit(
        &mut b,
        &page,
        "retire-form",
        &format!("/console/admin/loaners/{loaner}/retire"),
        &[("reason", "cracked frame")],
    );
    assert_eq!(gone.status, 303, "{}", gone.html);
    assert_eq!(
        app.get_admin(&format!("/api/v1/loaners/{loaner}")).body["state"],
        "retired"
    );
    let retired = b.get("/console/admin/loaners?state=retired");
    assert!(retired.html.contains(&one));
}

#[test]
fn a_part_is_created_with_a_price_and_its_price_change_joins_the_history() {
    let app = spawn_app();
    let mut b = admin(&app);
    let model = app.create_standard_model("PT");
    let page = b.get("/console/admin/parts");
    assert_eq!(page.status, 200, "{}", page.html);
    let made = submit(
        &mut b,
        &page,
        "part-form",
        "/console/admin/parts",
        &[
            ("sku", "scr-n12"),
            ("name", "Nova 12 screen"),
            ("category", "screen"),
            ("price", "199.00"),
            ("compatible_model_ids", &model),
        ],
    );
    assert_eq!(made.status, 303, "{}", made.html);
    let part = id_in(&made.location);
    assert_eq!(
        app.get_admin(&format!("/api/v1/parts/{part}")).body["price"]["amount"],
        "199.00"
    );
    let page = b.get("/console/admin/parts");
    let taken = submit(
        &mut b,
        &page,
        "part-form",
        "/console/admin/parts",
        &[
            ("sku", "SCR-N12"),
            ("name", "x"),
            ("category", "screen"),
            ("price", "1"),
            ("compatible_model_ids", &model),
        ],
    );
    assert_eq!(taken.status, 422);
    assert!(taken.html.contains("id=\"sku-problem\""), "{}", taken.html);
    let unfit = submit(
        &mut b,
        &page,
        "part-form",
        "/console/admin/parts",
        &[
            ("sku", "BAT-N12"),
            ("name", "x"),
            ("category", "battery"),
            ("price", "-1"),
        ],
    );
    assert_eq!(unfit.status, 422);
    assert!(unfit.html.contains("id=\"price-problem\""), "{}", unfit.html);
    let fits_nothing = submit(
        &mut b,
        &page,
        "part-form",
        "/console/admin/parts",
        &[
            ("sku", "BAT-N12"),
            ("name", "x"),
            ("category", "battery"),
            ("price", "1.00"),
        ],
    );
    assert_eq!(fits_nothing.status, 422);
    assert!(
        fits_nothing.html.contains("id=\"compatible_model_ids-problem\""),
        "{}",
        fits_nothing.html
    );
    assert_eq!(items(&app, "/api/v1/parts").len(), 1);

    let page = b.get(&format!("/console/admin/parts/{part}"));
    assert_eq!(page.status, 200, "{}", page.html);
    let changed = submit(
        &mut b,
        &page,
        "price-form",
        &format!("/console/admin/parts/{part}/prices"),
        &[("price", "219.00")],
    );
    assert_eq!(changed.status, 303, "{}", changed.html);
    let page = b.get(&format!("/console/admin/parts/{part}"));
    assert_eq!(text_of(&page, "part-price"), "219.00");
    let history = page.html.split("id=\"price-history\"").nth(1).must();
    let history = &history[..history.find("</table>").must()];
    assert!(history.contains("199.00") && history.contains("219.00"), "{history}");
    assert!(history.contains("root"), "who changed it: {history}");
    let prices = app.get_admin(&format!("/api/v1/parts/{part}/prices"));
    assert_eq!(prices.body["items"].as_array().map(Vec::len), Some(2));

    // Edit it, then deactivate it.
    let saved = submit(
        &mut b,
        &page,
        "part-form",
        &format!("/console/admin/parts/{part}"),
        &[
            ("name", "Nova 12 OLED screen"),
            ("category", "screen"),
            ("labour_price", "50"),
            ("warranty_months", "6"),
            ("compatible_model_ids", &model),
        ],
    );
    assert_eq!(saved.status, 303, "{}", saved.html);
    let off = submit(
        &mut b,
        &page,
        "active-form",
        &format!("/console/admin/parts/{part}/active"),
        &[("active", "false")],
    );
    assert_eq!(off.status, 303);
    let now = app.get_admin(&format!("/api/v1/parts/{part}"));
    assert_eq!(now.body["name"], "Nova 12 OLED screen");
    assert_eq!(now.body["labour_price"]["amount"], "50.00");
    assert_eq!(now.body["warranty_months"], 6);
    assert_eq!(now.body["active"], false);
}

#[test]
fn a_new_api_key_is_shown_once_and_never_again() {
    let app = spawn_app();
    let mut b = admin(&app);
    let store = app.create_store("KY-A", "Shenzhen");
    let page = b.get("/console/admin/keys");
    assert_eq!(page.status, 200, "{}", page.html);
    let fields = [
        ("label", "front desk KY-A"),
        ("role", "store_staff"),
        ("store_ids", store.as_str()),
    ];
    let shown = submit(&mut b, &page, "key-form", "/console/admin/keys", &fields);
    assert_eq!(shown.status, 200, "{}", shown.html);
    let key = shown
        .html
        .split("id=\"new-key\" value=\"")
        .nth(1)
        .must()
        .split('"')
        .next()
        .must()
        .to_owned();
    assert!(key.starts_with("dpk_"), "{key}");
    assert_eq!(app.get("/api/v1/loaners", Some(&key)).status, 200, "the key works");

    // Sending the form again (a reload) does not show it, nor does the list.
    let reload = submit(&mut b, &page, "key-form", "/console/admin/keys", &fields);
    assert_eq!(reload.status, 303, "{}", reload.html);
    assert!(!reload.html.contains(&key));
    let list = b.get(&reload.location);
    assert_eq!(list.status, 200);
    assert!(list.html.contains("front desk KY-A"));
    assert!(list.html.contains("id=\"key-made\""));
    assert!(!list.html.contains(&key));
    let keys = items(&app, "/api/v1/api-keys");
    assert_eq!(
        keys.iter().filter(|k| k["label"] == "front desk KY-A").count(),
        1,
        "one key for one form"
    );

    // A store staff key without a store is refused beside the list of stores.
    let unscoped = submit(
        &mut b,
        &list,
        "key-form",
        "/console/admin/keys",
        &[("label", "x"), ("role", "store_staff")],
    );
    assert_eq!(unscoped.status, 422);
    assert!(unscoped.html.contains("id=\"store_ids-problem\""), "{}", unscoped.html);

    // Revoked, it stops working.
    let id = keys.iter().find(|k| k["label"] == "front desk KY-A").must()["id"]
        .as_str()
        .must()
        .to_owned();
    let revoked = submit(
        &mut b,
        &list,
        "key-form",
        &format!("/console/admin/keys/{id}/revoke"),
        &[],
    );
    assert_eq!(revoked.status, 303, "{}", revoked.html);
    assert_eq!(app.get("/api/v1/loaners", Some(&key)).status, 401);
}

#[test]
fn a_user_made_by_an_admin_signs_in_and_is_signed_out_by_disabling_and_by_a_password_reset() {
    let app = spawn_app();
    let mut admin_b = admin(&app);
    let store = app.create_store("US-A", "Shenzhen");
    let warehouse = app.post_admin(
        "/api/v1/stores",
        &json!({"code": "US-W", "name": "Warehouse", "city": "Dongguan", "kind": "warehouse"}),
    );
    let page = admin_b.get("/console/admin/users");
    assert_eq!(page.status, 200, "{}", page.html);
    let short = submit(
        &mut admin_b,
        &page,
        "user-form",
        "/console/admin/users",
        &[
            ("username", "li.lei"),
            ("display_name", "Li Lei"),
            ("role", "store_staff"),
            ("store_ids", &store),
            ("locale", "zh-CN"),
            ("password", "short"),
        ],
    );
    assert_eq!(short.status, 422);
    assert!(short.html.contains("id=\"password-problem\""), "{}", short.html);
    assert!(
        !short.html.contains("value=\"short\""),
        "a password is never shown back"
    );

    let fields = [
        ("username", "Li.Lei"),
        ("display_name", "Li Lei"),
        ("role", "store_staff"),
        ("store_ids", store.as_str()),
        ("locale", "zh-CN"),
        ("password", "first password 1"),
    ];
    let made = submit(&mut admin_b, &page, "user-form", "/console/admin/users", &fields);
    assert_eq!(made.status, 303, "{}", made.html);
    let again = submit(&mut admin_b, &page, "user-form", "/console/admin/users", &fields);
    assert_eq!(again.location, made.location, "one user for one form");
    let page = admin_b.get("/console/admin/users");
    let taken = submit(
        &mut admin_b,
        &page,
        "user-form",
        "/console/admin/users",
        &[
            ("username", "li.lei"),
            ("display_name", "Other"),
            ("role", "admin"),
            ("locale", "en"),
            ("password", "another password"),
        ],
    );
    assert_eq!(taken.status, 422);
    assert!(taken.html.contains("id=\"username-problem\""), "{}", taken.html);
    let list = admin_b.get("/console/admin/users");
    assert_eq!(
        list.html.matches("/console/admin/users/").count(),
        2,
        "root and li.lei: {}",
        list.html
    );

    // The new user signs in and works under their role and store.
    let mut user = Browser::new(&app);
    assert_eq!(user.sign_in("li.lei", "first password 1", "/console/").status, 303);
    assert_eq!(user.get("/console/").status, 200);
    assert_eq!(user.json("GET", "/api/v1/loaners", &[], &Value::Null).0, 200);
    assert_eq!(user.get("/console/admin/").status, 403);

    // A new role and scope hold at once, through the user's key: a warehouse user has no loaners.
    let user_id = id_in(&made.location);
    let user_page = admin_b.get(&format!("/console/admin/users/{user_id}"));
    assert_eq!(user_page.status, 200, "{}", user_page.html);
    let changed = submit(
        &mut admin_b,
        &user_page,
        "user-form",
        &format!("/console/admin/users/{user_id}"),
        &[
            ("display_name", "Li Lei (WH)"),
            ("locale", "en"),
            ("role", "warehouse"),
            ("store_ids", &warehouse.id()),
        ],
    );
    assert_eq!(changed.status, 303, "{}", changed.html);
    assert_eq!(user.json("GET", "/api/v1/loaners", &[], &Value::Null).0, 403);
    let home = user.get("/console/");
    assert!(home.html.contains("Li Lei (WH)"), "{}", home.html);

    // Disabled: the open session ends at once, and signing in is refused.
    let disabled = submit(
        &mut admin_b,
        &user_page,
        "disable-form",
        &format!("/console/admin/users/{user_id}/disabled"),
        &[("disabled", "true")],
    );
    assert_eq!(disabled.status, 303, "{}", disabled.html);
    let next = user.get("/console/");
    assert_eq!(next.status, 303);
    assert!(next.location.starts_with("/console/sign-in"), "{}", next.location);
    assert_eq!(user.sign_in("li.lei", "first password 1", "/console/").status, 401);
    let shown = admin_b.get(&format!("/console/admin/users/{user_id}"));
    assert_eq!(text_of(&shown, "user-state"), "Disabled");

    // Enabled again, then a password reset: it ends the session; the old password fails, the new one works.
    let enabled = submit(
        &mut admin_b,
        &shown,
        "disable-form",
        &format!("/console/admin/users/{user_id}/disabled"),
        &[("disabled", "false")],
    );
    assert_eq!(enabled.status, 303);
    assert_eq!(user.sign_in("li.lei", "first password 1", "/console/").status, 303);
    assert_eq!(user.get("/console/").status, 200);
    let page = admin_b.get(&format!("/console/admin/users/{user_id}"));
    let reset = submit(
        &mut admin_b,
        &page,
        "password-form",
        &format!("/console/admin/users/{user_id}/password"),
        &[("password", "second password 2")],
    );
    assert_eq!(reset.status, 303, "{}", reset.html);
    assert_eq!(user.get("/console/").status, 303, "the reset ended the session");
    assert_eq!(user.sign_in("li.lei", "first password 1", "/console/").status, 401);
    assert_eq!(user.sign_in("li.lei", "second password 2", "/console/").status, 303);

    // An admin cannot disable themself.
    let me = admin_b.get("/console/admin/users");
    let before_root = me.html.split("\">root</a>").next().must();
    let root = before_root.rsplit('/').next().must().to_owned();
    let root_page = admin_b.get(&format!("/console/admin/users/{root}"));
    assert!(root_page.html.contains("id=\"myself\""), "{}", root_page.html);
    let refused = submit(
        &mut admin_b,
        &root_page,
        "disable-form",
        &format!("/console/admin/users/{root}/disabled"),
        &[("disabled", "true")],
    );
    assert_eq!(refused.status, 422, "{}", refused.html);
    assert!(refused.html.contains("id=\"user-problem\""));
    assert_eq!(admin_b.get("/console/admin/").status, 200, "still signed in");
}

#[test]
fn anyone_but_an_admin_gets_the_403_page_on_every_admin_page_and_form() {
    let app = spawn_app();
    let store = app.create_store("NA-A", "Shenzhen");
    create_user(&app, "desk", Role::StoreStaff, &[&store], Locale::En);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("desk", PASSWORD, "/console/").status, 303);
    let csrf = b.get("/console/").hidden("csrf");
    let keys_before = items(&app, "/api/v1/api-keys").len();
    assert_eq!(csrf.len(), 43);
    let some = uuid::Uuid::now_v7().to_string();
    let pages = [
        "/console/admin/".to_owned(),
        "/console/admin/stores".to_owned(),
        format!("/console/admin/stores/{store}"),
        "/console/admin/series".to_owned(),
        format!("/console/admin/series/{some}"),
        "/console/admin/models".to_owned(),
        format!("/console/admin/models/{some}"),
        "/console/admin/loaners".to_owned(),
        format!("/console/admin/loaners/{some}"),
        "/console/admin/parts".to_owned(),
        format!("/console/admin/parts/{some}"),
        "/console/admin/partners".to_owned(),
        "/console/admin/keys".to_owned(),
        "/console/admin/users".to_owned(),
        format!("/console/admin/users/{some}"),
    ];
    for path in &pages {
        let page = b.get(path);
        assert_eq!(page.status, 403, "{path}: {}", page.html);
        assert_eq!(text_of(&page, "message-title"), "Admins only", "{path}");
    }
    let forms = [
        (
            "/console/admin/stores".to_owned(),
            vec![("code", "X1"), ("name", "x"), ("city", "x"), ("kind", "warehouse")],
        ),
        (
            format!("/console/admin/stores/{store}"),
            vec![("name", "renamed"), ("city", "x"), ("time_zone", "UTC")],
        ),
        (
            format!("/console/admin/stores/{store}/active"),
            vec![("active", "false")],
        ),
        ("/console/admin/series".to_owned(), vec![("code", "X1"), ("name", "x")]),
        (format!("/console/admin/series/{some}"), vec![("name", "x")]),
        (
            format!("/console/admin/series/{some}/active"),
            vec![("active", "false")],
        ),
        ("/console/admin/models".to_owned(), vec![("code", "X1"), ("name", "x")]),
        (format!("/console/admin/models/{some}"), vec![("name", "x")]),
        (
            format!("/console/admin/models/{some}/active"),
            vec![("active", "false")],
        ),
        ("/console/admin/loaners".to_owned(), vec![("imei", "490154203237518")]),
        (
            "/console/admin/loaners/import".to_owned(),
            vec![("csv", "imei,model_code,store_code,grade\n")],
        ),
        (
            format!("/console/admin/loaners/{some}/move"),
            vec![("store_id", store.as_str())],
        ),
        (format!("/console/admin/loaners/{some}/retire"), vec![("reason", "x")]),
        ("/console/admin/parts".to_owned(), vec![("sku", "X1")]),
        (format!("/console/admin/parts/{some}"), vec![("name", "x")]),
        (format!("/console/admin/parts/{some}/active"), vec![("active", "false")]),
        (format!("/console/admin/parts/{some}/prices"), vec![("price", "1.00")]),
        (
            "/console/admin/partners".to_owned(),
            vec![("code", "X1"), ("name", "x")],
        ),
        (
            "/console/admin/keys".to_owned(),
            vec![("label", "x"), ("role", "admin")],
        ),
        (format!("/console/admin/keys/{some}/revoke"), vec![]),
        (
            "/console/admin/users".to_owned(),
            vec![("username", "evil"), ("role", "admin")],
        ),
        (format!("/console/admin/users/{some}"), vec![("role", "admin")]),
        (
            format!("/console/admin/users/{some}/password"),
            vec![("password", "0123456789ab")],
        ),
        (
            format!("/console/admin/users/{some}/disabled"),
            vec![("disabled", "true")],
        ),
    ];
    for (path, fields) in &forms {
        let mut all = vec![("csrf", csrf.as_str()), ("idem", "one-token")];
        all.extend(fields.iter().copied());
        let page = b.post(path, &all, &[]);
        assert_eq!(page.status, 403, "{path}: {}", page.html);
    }
    let store_now = app.get_admin(&format!("/api/v1/stores/{store}"));
    assert_eq!(store_now.body["active"], true, "nothing changed");
    assert_eq!(store_now.body["name"], "NA-A service center");
    assert_eq!(items(&app, "/api/v1/stores").len(), 1);
    assert_eq!(items(&app, "/api/v1/partners").len(), 0);
    assert_eq!(items(&app, "/api/v1/api-keys").len(), keys_before);

    // Not signed in: sign in first.
    let anonymous = Browser::new(&app).get("/console/admin/stores");
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.location.starts_with("/console/sign-in?next="));
}

#[test]
fn the_admin_pages_speak_the_admins_language() {
    let app = spawn_app();
    create_user(&app, "zhang", Role::Admin, &[], Locale::ZhCn);
    let mut b = Browser::new(&app);
    assert_eq!(b.sign_in("zhang", PASSWORD, "/console/admin/").status, 303);
    let index = b.get("/console/admin/");
    assert_eq!(index.status, 200);
    assert!(index.html.contains("<html lang=\"zh-CN\">"));
    assert!(index.html.contains("产品系列"), "{}", index.html);
    let page = b.get("/console/admin/stores");
    let taken = submit(
        &mut b,
        &page,
        "store-form",
        "/console/admin/stores",
        &[("code", ""), ("name", "x"), ("city", "x"), ("kind", "warehouse")],
    );
    assert_eq!(taken.status, 422);
    assert!(
        taken.html.contains("<label for=\"code\">编码</label>"),
        "{}",
        taken.html
    );
    assert!(taken.html.contains("id=\"code-problem\""));
}
