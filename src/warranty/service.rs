//! The warranty's use cases (series' policies: create, list, read, delete a future one; the dry-run check) and the
//! steps other areas compose: the policy in force for a series on a day, and a decision made with it.

use chrono::NaiveDate;
use uuid::Uuid;

use super::model::{AppliedPolicy, CheckRequest, PolicyRow, WarrantyDecision, WarrantyInput, WarrantyPolicy};
use super::{repo, rules};
use crate::audit;
use crate::auth::{Bearer, Principal, Role};
use crate::db::types::Id;
use crate::db::{Conn, Db};
use crate::devices::{self, DeviceFacts, DeviceState};
use crate::error::{AppError, AppResult, FieldError, OrDuplicate};
use crate::http::pagination::PageRequest;
use crate::tickets::rules::local_date;

/// The policy in force for `series` on `day`: the series' own from its latest date not after `day`, else the
/// national rule.
pub fn policy_for(conn: &mut Conn<'_>, series: Id, day: NaiveDate) -> AppResult<AppliedPolicy> {
    Ok(repo::in_force(conn, series, day)?.map_or_else(AppliedPolicy::national, |row| row.applied()))
}

/// Decides `input` under `policy` and records the policy in the decision.
pub fn decide_with(input: &WarrantyInput, policy: AppliedPolicy) -> WarrantyDecision {
    let mut decision = super::decide(input, &policy.terms);
    decision.policy = policy;
    decision
}

/// A policy as read in JSON (the opening's place statement reads the candidates with the store).
#[derive(serde::Deserialize)]
struct Candidate {
    id: uuid::Uuid,
    effective_from: NaiveDate,
    #[serde(flatten)]
    terms: super::model::Policy,
}

/// The policy in force on `day` among `json`'s candidates (`null`, or an array newest first), else the national
/// rule: the same answer as [`policy_for`] when the candidates hold every policy effective up to `day`.
pub fn policy_in(json: &str, day: NaiveDate) -> AppResult<AppliedPolicy> {
    let candidates: Option<Vec<Candidate>> = serde_json::from_str(json).map_err(anyhow::Error::from)?;
    Ok(candidates
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.effective_from <= day)
        .map_or_else(AppliedPolicy::national, |c| AppliedPolicy {
            id: Some(c.id),
            source: super::model::PolicySource::Series,
            effective_from: Some(c.effective_from),
            terms: c.terms,
        }))
}

/// Admins and store staff (who explain decisions to customers) read policies and check warranties.
fn require_counter_role(principal: &Principal) -> AppResult<()> {
    match principal.role {
        Role::Admin | Role::StoreStaff => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Creates a series' policy for an admin, in the transaction the idempotent create opens: the series must exist,
/// and it may hold one policy per date (409 `policy_exists`). Audited.
pub fn create(conn: &mut Conn<'_>, principal: &Principal, row: &PolicyRow) -> AppResult<WarrantyPolicy> {
    principal.require_admin()?;
    if !repo::series_exists(conn, row.series_id)? {
        return Err(AppError::field("series_id", "no such series"));
    }
    let taken = || {
        AppError::conflict(
            "policy_exists",
            format!(
                "the series has a policy effective from {} already (policies are never edited: choose another date)",
                row.effective_from
            ),
        )
    };
    if repo::find_dated(conn, row.series_id, row.effective_from)?.is_some() {
        return Err(taken());
    }
    let row = PolicyRow {
        api_key_id: Some(Id(principal.key_id)),
        ..row.clone()
    };
    repo::insert(conn, &row).or_duplicate(taken)?;
    let out = WarrantyPolicy::from(row);
    audit::record(conn, Some(principal.key_id), "create", "warranty_policy", out.id, &out)?;
    Ok(out)
}

/// One page of policies in creation order, optionally of one series.
pub fn list(
    db: &Db,
    bearer: &Bearer,
    series: Option<Uuid>,
    page: PageRequest,
) -> AppResult<(Vec<WarrantyPolicy>, Option<String>)> {
    bearer.read(db, |conn, principal| {
        require_counter_role(principal)?;
        let rows = repo::list(conn, page, series.map(Id))?;
        let (rows, next) = page.finish(rows, |r| r.id.0);
        Ok((rows.into_iter().map(WarrantyPolicy::from).collect(), next))
    })
}

pub fn get(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<WarrantyPolicy> {
    bearer.read(db, |conn, principal| {
        require_counter_role(principal)?;
        let row = repo::find(conn, Id(id))?.ok_or(AppError::NotFound("warranty policy"))?;
        Ok(row.into())
    })
}

/// The latest local date anywhere on Earth (UTC+14): a policy dated after it is in force at no store yet.
fn latest_today_anywhere() -> NaiveDate {
    (crate::now() + chrono::Duration::hours(14)).date_naive()
}

/// Deletes a policy that is in force nowhere yet (its date is after today in every time zone), for an admin; one
/// in force (or once in force) is kept forever, since decisions record it: 409 `policy_in_force`. Audited.
pub fn delete(db: &Db, bearer: &Bearer, id: Uuid) -> AppResult<()> {
    bearer.write(db, |conn, principal| {
        principal.require_admin()?;
        let row = repo::find(conn, Id(id))?.ok_or(AppError::NotFound("warranty policy"))?;
        if row.effective_from <= latest_today_anywhere() {
            return Err(AppError::conflict(
                "policy_in_force",
                format!(
                    "the policy took effect on {}: decisions may have used it, so it is kept",
                    row.effective_from
                ),
            ));
        }
        repo::delete(conn, row.id)?;
        audit::record(
            conn,
            Some(principal.key_id),
            "delete",
            "warranty_policy",
            id,
            &WarrantyPolicy::from(row),
        )?;
        Ok(())
    })
}

/// The decision a ticket opened now at the store would get for this phone and claim, with nothing written: the
/// device's record and history when Depot knows the IMEI (its plans, credited days, warranty start, and its
/// series' policy on the store's today), else the purchase date and model given.
///
/// Refusals, as an opening's: a store outside the caller's scope or not an active service center, 400 `store_id`;
/// a returned or exchanged phone, 409 `device_not_in_use`; a model or purchase date that contradicts the record,
/// 409 `device_model_mismatch` / `device_purchase_date_mismatch`; an unknown phone without `purchase_date` or
/// `model_id`, 400 naming each; an unknown or deactivated model, 400 `model_id`; a purchase date after today, 400.
pub fn check(db: &Db, bearer: &Bearer, request: &CheckRequest) -> AppResult<WarrantyDecision> {
    bearer.read(db, |conn, principal| check_in(conn, principal, request))
}

/// As [`check`], in the caller's transaction (the console's check reads the loaner outlook in the same one).
pub fn check_in(conn: &mut Conn<'_>, principal: &Principal, request: &CheckRequest) -> AppResult<WarrantyDecision> {
    require_counter_role(principal)?;
    let store = repo::store(conn, Id(request.store_id))?
        .filter(|_| principal.covers_store(request.store_id))
        .ok_or_else(|| AppError::field("store_id", "no such store"))?;
    if !store.active || store.kind != "service_center" {
        return Err(AppError::field(
            "store_id",
            "warranty is decided only at an active service center",
        ));
    }
    let today = local_date(&store.time_zone, crate::now());
    let (model, start, facts) = match devices::repo::by_imei(conn, &request.imei.to_string())? {
        Some(device) => {
            if device.state() != DeviceState::InUse {
                return Err(AppError::conflict(
                    "device_not_in_use",
                    format!(
                        "this phone was {} and is no longer a customer's phone",
                        device.state().as_str()
                    ),
                ));
            }
            if request.model_id.is_some_and(|m| Id(m) != device.model_id) {
                return Err(AppError::conflict(
                    "device_model_mismatch",
                    "model_id differs from the device's record (an admin may correct the record)",
                ));
            }
            if request.purchase_date.is_some_and(|d| d != device.purchase_date) {
                return Err(AppError::conflict(
                    "device_purchase_date_mismatch",
                    format!(
                        "purchase_date differs from the device's record ({}; an admin may correct the record)",
                        device.purchase_date
                    ),
                ));
            }
            let facts = devices::facts_in(conn, &device, None)?;
            (device.model_id, device.warranty_starts_on, facts)
        }
        None => {
            let mut missing = Vec::new();
            if request.purchase_date.is_none() {
                missing.push(FieldError::new(
                    "purchase_date",
                    "required for a phone Depot has no record of",
                ));
            }
            if request.model_id.is_none() {
                missing.push(FieldError::new(
                    "model_id",
                    "required for a phone Depot has no record of",
                ));
            }
            let (Some(purchase_date), Some(model)) = (request.purchase_date, request.model_id) else {
                return Err(AppError::Validation(missing));
            };
            match repo::model_series(conn, Id(model))? {
                None => return Err(AppError::field("model_id", "no such model")),
                Some((_, true, true)) => {}
                Some(_) => return Err(AppError::field("model_id", "the model or its series is deactivated")),
            }
            if purchase_date > today {
                return Err(AppError::field(
                    "purchase_date",
                    format!("is after today ({today}) at the store"),
                ));
            }
            (Id(model), purchase_date, DeviceFacts::none())
        }
    };
    let series = repo::model_series(conn, model)?
        .map(|(series, _, _)| series)
        .ok_or_else(|| anyhow::anyhow!("the device's model {} has no series", model.0))?;
    let policy = policy_for(conn, series, today)?;
    let input = rules::input_for(&request.claim, start, today, &facts);
    Ok(decide_with(&input, policy))
}
