//! Session limits (contract §6.6), shared by `authorization_grant` and `compat_login`.

use serde_json::Value;

use crate::{
    data::PolicyData,
    value::{excess_plus_one, get, le, truthy},
    violation::Violation,
};

/// Which of the session limit's fields a rule checks.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// `soft_limit`.
    Soft,
    /// `hard_limit`.
    Hard,
}

/// `limits_on`: `data.session_limit` is present and not `null`.
fn limits_on(data: &PolicyData) -> bool {
    !matches!(data.session_limit(), None | Some(Value::Null))
}

/// `threshold_ok`: no threshold configured, or `T ≤ max_session_threshold`.
fn threshold_ok(data: &PolicyData, total: Option<&Value>) -> bool {
    let limit = data.session_limit();
    if matches!(limit, None | Some(Value::Null | Value::Bool(false))) {
        return true;
    }
    match get(limit, "max_session_threshold") {
        None | Some(Value::Null | Value::Bool(false)) => true,
        threshold => le(total, threshold),
    }
}

/// The `too-many-sessions` violation when the session count reaches `limit`.
pub fn too_many(
    data: &PolicyData,
    counts: Option<&Value>,
    limit: Limit,
    msg: &str,
) -> Option<Violation> {
    let total = get(counts, "total");
    if !limits_on(data) || !threshold_ok(data, total) {
        return None;
    }
    let key = match limit {
        Limit::Soft => "soft_limit",
        Limit::Hard => "hard_limit",
    };
    let bound = get(data.session_limit(), key);
    if !le(bound, total) {
        return None;
    }
    let need_to_remove = excess_plus_one(total, bound)?;
    Some(Violation::coded("too-many-sessions", msg).with("need_to_remove", need_to_remove))
}

/// `input.session_replaced` is falsy.
pub fn not_replaced(input: Option<&Value>) -> bool {
    !truthy(get(input, "session_replaced"))
}
