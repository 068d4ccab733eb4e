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
