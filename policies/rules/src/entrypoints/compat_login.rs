//! `compat_login/violation` (contract §11).

use serde_json::Value;

use crate::{
    data::PolicyData,
    input_shape::{REQUESTER, Shape},
    requester,
    sessions::{self, Limit},
    tenant_rules,
    value::{eq, get, path},
    violation::Violations,
};

/// What the rules below (requester, tenant and session rules included) read of the input.
pub const INPUT: Shape = Shape::Members(&[
    ("user", Shape::Members(&[("username", Shape::Whole)])),
    ("session_replaced", Shape::Whole),
    ("session_counts", Shape::Members(&[("total", Shape::Whole)])),
    ("login", Shape::Members(&[("type", Shape::Whole)])),
    REQUESTER,
]);

/// Evaluates `compat_login/violation`.
pub fn evaluate(data: &PolicyData, input: Option<&Value>, out: &mut Violations) {
    if let Some(v) = requester::violation(data, input) {
        out.push(v);
    }
    tenant_rules::user_suspended(data, input, out);
    if !sessions::not_replaced(input) {
        return;
    }
    let counts = get(input, "session_counts");
    let sso = eq(path(input, &["login", "type"]), &Value::from("m.login.sso"));
    let limit = if sso {
        sessions::too_many(
            data,
            counts,
            Limit::Soft,
            "user has too many active sessions (soft limit)",
        )
    } else {
        sessions::too_many(
            data,
            counts,
            Limit::Hard,
            "user has too many active sessions (hard limit)",
        )
    };
    if let Some(v) = limit {
        out.push(v);
    }
}
