//! The steps other areas compose: the policy in force for a series on a day, and a decision made with it.

use chrono::NaiveDate;

use super::model::{AppliedPolicy, WarrantyDecision, WarrantyInput};
use super::repo;
use crate::db::Conn;
use crate::db::types::Id;
use crate::error::AppResult;

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
